"""Helpers for the app's tests: load files/app/app.py and the Lambda entry, build ALB events, call the WSGI app, run
the container's server."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from wsgiref.util import setup_testing_defaults

from lab.ecs import read_dockerfile
from tests.support.local_aws import free_port

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "files" / "app"
ENTRY_DIR = ROOT / "files" / "lambda_entry"
# What the app's zip packs beside the app (lambda_zip's extra_files, roles/lambda_function/vars/main.yml), at the zip
# root: the collection's entry, and the EMF emitter it imports as the top-level module ``spillover_metrics``.
APP_EXTRA_FILES = (ENTRY_DIR / "spillover_entry.py", ENTRY_DIR / "spillover_metrics.py")
# Where the tests keep the Lambda zip's vendored requirements (lambda_zip's cache_dir): pip reaches the package index
# only on the first run of a fresh clone.
ZIP_CACHE = ROOT / "build" / "test-cache" / "lambda-zip"
CONTAINER_DIR = ROOT / "files" / "container"
VENV_BIN = Path(sys.executable).parent
TARGET_GROUP_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/app-lambda/6d0ecf831eec9f09"
# The headers of the ALB event example in the ALB documentation (lambda-functions.html).
ALB_HEADERS = {
    "accept": "text/html,application/xhtml+xml",
    "accept-language": "en-US,en;q=0.8",
    "content-type": "text/plain",
    "cookie": "cookies",
    "host": "lambda-846800462-us-east-2.elb.amazonaws.com",
    "user-agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_6)",
    "x-amzn-trace-id": "Root=1-5bdb40ca-556d8b0c50dc66f0511bf520",
    "x-forwarded-for": "72.21.198.66",
    "x-forwarded-port": "443",
    "x-forwarded-proto": "https",
}


def load_lambda_entry_metrics() -> ModuleType:
    """files/lambda_entry/spillover_metrics.py imported once under that name, the top-level one the app's zip gives
    it (where the entry imports it)."""
    path = ENTRY_DIR / "spillover_metrics.py"
    if path.stem not in sys.modules:
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
    return sys.modules[path.stem]


def load_app(name: str = "spillover_app") -> ModuleType:
    """A fresh copy of files/app/app.py as module ``name`` (not ``app``, which other tests may use)."""
    spec = importlib.util.spec_from_file_location(name, APP_DIR / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_entry(name: str = "spillover_entry_under_test") -> ModuleType:
    """A fresh copy of the collection's Lambda entry (files/lambda_entry/spillover_entry.py) as module ``name``.

    Outside Lambda (no LAMBDA_TASK_ROOT) it imports no app until its handler is first called. The EMF emitter it
    imports is importable as in the zip.
    """
    load_lambda_entry_metrics()
    spec = importlib.util.spec_from_file_location(name, ENTRY_DIR / "spillover_entry.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lambda_handler_of(app, interface: str = "wsgi"):
    """The handler the function runs (``spillover_entry.handler``: the adapter, metered) around ``app``, a WSGI or
    ASGI callable."""
    return load_entry().metered_handler(app, interface)


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that the app reads (aws-powertools' test fixture shape)."""

    function_name: str = "app"
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:app"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"


def alb_event(
    path: str,
    method: str = "GET",
    query: dict[str, list[str]] | None = None,
    body: bytes = b"",
    *,
    multi_value: bool,
    base64_body: bool = False,
    headers: dict[str, list[str]] | None = None,
) -> dict:
    """An ALB target-group event as the ALB sends it, with multi-value headers/query strings enabled or not.

    With multi-value off, the ALB keeps the last value of a repeated header or query parameter.
    """
    query = query or {}
    all_headers = {key: [value] for key, value in ALB_HEADERS.items()}
    all_headers.update(headers or {})
    event = {
        "requestContext": {"elb": {"targetGroupArn": TARGET_GROUP_ARN}},
        "httpMethod": method,
        "path": path,
        "isBase64Encoded": base64_body,
        "body": base64.b64encode(body).decode() if base64_body else body.decode(),
    }
    if multi_value:
        event["multiValueQueryStringParameters"] = query
        event["multiValueHeaders"] = all_headers
    else:
        event["queryStringParameters"] = {key: values[-1] for key, values in query.items()}
        event["headers"] = {key: values[-1] for key, values in all_headers.items()}
    return event


def json_post_event(path: str, body: bytes, *, multi_value: bool, base64_body: bool = False) -> dict:
    """The ALB event of a POST of ``body`` as JSON, with the content-type and content-length a client sends."""
    return alb_event(
        path,
        "POST",
        body=body,
        multi_value=multi_value,
        base64_body=base64_body,
        headers={"content-type": ["application/json"], "content-length": [str(len(body))]},
    )


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


def answer_of_lambda(response: dict) -> Answer:
    """The HTTP answer the ALB makes of a Lambda response (``headers`` or ``multiValueHeaders``)."""
    if "multiValueHeaders" in response:
        headers = {key.lower(): ",".join(values) for key, values in response["multiValueHeaders"].items()}
    else:
        headers = {key.lower(): value for key, value in response["headers"].items()}
    body = response.get("body", "")
    data = base64.b64decode(body) if response["isBase64Encoded"] else body.encode()
    return Answer(response["statusCode"], headers, data)


def call_wsgi(app, path: str, method: str = "GET", query: str = "", body: bytes = b"") -> Answer:
    """Call a WSGI app directly, as a WSGI server would."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
    }
    setup_testing_defaults(environ)
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers

    chunks = app(environ, start_response)
    try:
        data = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    headers = {key.lower(): value for key, value in captured["headers"]}
    return Answer(int(captured["status"].split()[0]), headers, data)


def dockerfile_command(dockerfile: Path = CONTAINER_DIR / "Dockerfile") -> list[str]:
    """The image's CMD, the command ECS runs in the container (as the lab reads it)."""
    return read_dockerfile(dockerfile, {}).cmd


class Server:
    """The container entry started as a local process on a loopback port."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str] | None = None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        environment = {
            **os.environ,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "PYTHONUNBUFFERED": "1",
        }
        environment.pop("AWS_LAMBDA_RUNTIME_API", None)
        environment.update(env or {})
        self.process = subprocess.Popen(
            command, cwd=cwd, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def wait_ready(self, timeout: float = 30.0) -> Server:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{self.base}/health", timeout=2).read()
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"server did not start: {self.process.stderr.read()}") from None
                time.sleep(0.1)

    def request(self, path: str, method: str = "GET", body: bytes | None = None, timeout: float = 30) -> Answer:
        request = urllib.request.Request(f"{self.base}{path}", data=body, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return Answer(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
        except urllib.error.HTTPError as error:
            return Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())

    def stop(self, timeout: float = 40) -> tuple[int, str, str]:
        """SIGTERM, as ECS sends on stop; returns (exit code, stdout, stderr)."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            stdout, stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            stdout, stderr = self.process.communicate()
        return self.process.returncode, stdout, stderr


ORDERS_INIT = "import bottle\n\napp = bottle.Bottle()\n"


def python_project(parent: Path) -> Path:
    """``parent/orders``: an installable Python project (``pyproject.toml`` with setuptools, the package ``orders``
    whose ``app`` is a Bottle app), the layout the roles install from one wheel."""
    app = parent / "orders"
    (app / "orders").mkdir(parents=True)
    (app / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=70"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "orders"\nversion = "1.4.0"\ndependencies = ["bottle>=0.13,<0.14"]\n'
    )
    (app / "orders" / "__init__.py").write_text(ORDERS_INIT)
    return app
