"""``python -m lab parity``: the same requests through the lab's Lambda path and its container path, compared.

Before anything is deployed, see what will behave differently on the two runtimes. The app (a ``spillover_app_*``
description, :func:`lab.builder.describe_app`) runs as the roles would deploy it:

* Lambda: the zip the lambda_function role builds (the app, its vendored requirements and the collection's entry) in
  a lab execution environment (:mod:`lab.lambda_runtime`) with the role's timeout, behind the ALB's Lambda target
  (:func:`lab.balancer.lambda_answer`: the event, the 1 MB limits on the request body and the response, the 502s);
* ECS: the container of the image ecr_push builds (:func:`lab.ecs.container_process`), behind the ALB's forward
  (:func:`lab.balancer.forward_answer`, within the ALB's idle timeout).

For each request it says whether status, body and content type agree, and gives each difference its reason. The
requests are those of ``--requests FILE`` (see :func:`read_requests`) or the default set (:func:`default_requests`):
each route the app answers with each of its methods, and the ALB's limits.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from lab import builder
from lab.balancer import MAX_LAMBDA_BODY, AlbAnswer, AlbRequest, forward_answer, lambda_answer
from lab.collection import app_lock, lambda_zip, render_role, role_task_inputs
from lab.ecs import allocate_address, container_process, start_container, stop_container
from lab.lambda_runtime import LambdaRuntime, extract_code
from lab.stack import Container, Function, TargetGroup

ROUTES_SCRIPT = Path(__file__).with_name("parity_routes.py")
# The listener's idle timeout: the alb role leaves the ALB's default.
IDLE_TIMEOUT = 60
HEALTHY_WITHIN = 60.0
# What each value of a path parameter is in the default requests: 1 is a valid int, float and string.
PARAMETER_VALUE = "1"
UUID_VALUE = "00000000-0000-4000-8000-000000000001"
BODY_METHODS = ("POST", "PUT", "PATCH")
PROBE_QUERY = "q=a%2Bb%20c&q=d"
CLIENT_HEADERS = (("Host", "lab-parity.invalid"), ("User-Agent", "lab-parity"), ("Accept", "*/*"))
# Why the ALB answered itself (its access log's error reason), and what to do about it.
ALB_REASONS = {
    "LambdaRequestTooLarge": "{detail} is over the 1 MB an ALB sends to a Lambda function: the ALB answers 413 "
    "itself, while on ECS the app gets the request",
    "LambdaResponseTooLarge": "{detail} is over the 1 MB an ALB takes from a Lambda function: the ALB answers 502, "
    "while ECS sends it; send the path to ECS only (spillover_ecs_only_paths)",
    "LambdaTimeout": "the function ran out of time ({detail}): the ALB answers 502; raise lambda_function_timeout "
    "(900 s at most) or send the path to ECS only (spillover_ecs_only_paths)",
    "LambdaUnhandled": "the function failed ({detail}): the ALB answers 502",
    "LambdaInvalidResponse": "the function's answer is not one the ALB takes ({detail}): the ALB answers 502",
    "LambdaThrottling": "the function was throttled ({detail}): the ALB answers 502",
    "TargetTimeout": "the container sent {detail}: the ALB answers 504",
    "TargetConnectionError": "the container closed the connection ({detail}): the ALB answers 502",
    "TargetResponseInvalid": "the container's answer is not HTTP ({detail}): the ALB answers 502",
}


class ParityError(ValueError):
    """The parity check cannot run as asked; the message says what to fix."""


@dataclass(frozen=True)
class Request:
    name: str
    method: str
    path: str  # with its query string
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def sent(self) -> AlbRequest:
        """The request as the load balancer receives it from a client."""
        headers = [*CLIENT_HEADERS, *self.headers]
        if self.body:
            headers.append(("Content-Length", str(len(self.body))))
        return AlbRequest(self.method, self.path, headers, self.body)


def _content_type(answer: AlbAnswer) -> str:
    return next((value for name, value in answer.headers if name.lower() == "content-type"), "")


@dataclass(frozen=True)
class Comparison:
    request: Request
    on_lambda: AlbAnswer
    on_ecs: AlbAnswer

    @property
    def differences(self) -> list[str]:
        """Which of status, body and content type differ."""
        pairs = {
            "status": (self.on_lambda.status, self.on_ecs.status),
            "body": (self.on_lambda.body, self.on_ecs.body),
            "content type": (_content_type(self.on_lambda), _content_type(self.on_ecs)),
        }
        return [name for name, (on_lambda, on_ecs) in pairs.items() if on_lambda != on_ecs]

    @property
    def reason(self) -> str:
        """Why the answers differ: the ALB's reason on either side, else what the app did differently."""
        if not self.differences:
            return ""
        reasons = [
            f"on {side}: " + ALB_REASONS.get(answer.reason, answer.reason + " ({detail})").format(detail=answer.detail)
            for side, answer in (("Lambda", self.on_lambda), ("ECS", self.on_ecs))
            if answer.reason
        ]
        if reasons:
            return "; ".join(reasons)
        found = []
        if "status" in self.differences:
            found.append(f"the app answered {self.on_lambda.status} on Lambda and {self.on_ecs.status} on ECS")
        if "content type" in self.differences:
            found.append(
                f"the content type is {_content_type(self.on_lambda)!r} on Lambda and {_content_type(self.on_ecs)!r} "
                "on ECS (the Lambda adapter and the container's server set it differently)"
            )
        if self.differences == ["body"]:
            found.append("the app's own answer differs (it may read which runtime it runs on, the time or the request)")
        return "; ".join(found)

    def summary(self) -> dict:
        def side(answer: AlbAnswer) -> dict:
            return {
                "status": answer.status,
                "content_type": _content_type(answer),
                "body_bytes": len(answer.body),
                "alb_reason": answer.reason,
            }

        return {
            "request": self.request.name,
            "method": self.request.method,
            "path": self.request.path,
            "agree": not self.differences,
            "differences": self.differences,
            "reason": self.reason,
            "lambda": side(self.on_lambda),
            "ecs": side(self.on_ecs),
        }


def package_versions(directory: Path | str) -> dict[str, str]:
    """``{canonical name: version}`` of the distributions installed in ``directory`` (their ``*.dist-info``)."""
    found = (item.split("==", 1) for item in lambda_zip.vendored_distributions(str(directory)))
    return {app_lock.canonical_name(name): version for name, version in found}


def version_differences(on_lambda: dict[str, str], on_ecs: dict[str, str]) -> list[str]:
    """The packages both runtimes install at different versions, one line each."""
    return [
        f"{name}: Lambda {on_lambda[name]}, ECS {on_ecs[name]}"
        for name in sorted(set(on_lambda) & set(on_ecs))
        if on_lambda[name] != on_ecs[name]
    ]


@dataclass
class Parity:
    app: builder.App
    comparisons: list[Comparison]
    notes: list[str] = field(default_factory=list)
    # {canonical name: version} that each runtime installs (the zip's, the container's).
    packages: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def package_differences(self) -> list[str]:
        return version_differences(self.packages.get("lambda", {}), self.packages.get("ecs", {}))

    def lines(self) -> list[str]:
        differ = sum(bool(comparison.differences) for comparison in self.comparisons)
        where = os.path.relpath(self.app.src)
        shared = set(self.packages.get("lambda", {})) & set(self.packages.get("ecs", {}))
        lines = [
            f"lab parity: {self.app.callable} ({self.app.interface.upper()}) from "
            f"{self.app.src if where.startswith('..') else where}, "
            f"{len(self.comparisons)} requests: {len(self.comparisons) - differ} agree, {differ} differ",
            *(f"  note: {note}" for note in self.notes),
            f"  packages: {len(shared)} on both runtimes, {len(self.package_differences)} at different versions",
            *(f"  DIFFER  package {line}" for line in self.package_differences),
        ]
        width = max((len(comparison.request.name) for comparison in self.comparisons), default=10)
        for comparison in self.comparisons:
            on_lambda, on_ecs = comparison.on_lambda, comparison.on_ecs
            if not comparison.differences:
                lines.append(
                    f"  agree   {comparison.request.name:{width}}  {on_lambda.status} {_content_type(on_lambda)}"
                )
                continue
            lines.append(
                f"  DIFFER  {comparison.request.name:{width}}  Lambda {on_lambda.status} {_content_type(on_lambda)},"
                f" ECS {on_ecs.status} {_content_type(on_ecs)} ({', '.join(comparison.differences)})"
            )
            lines.append(f"          why: {comparison.reason}")
        return lines


# -- the requests ----------------------------------------------------------------------------------------------
def read_requests(path: Path) -> list[Request]:
    """The requests of a JSON file: a list of objects with ``path`` (with its query string) and optionally
    ``method`` (GET), ``headers`` (an object), ``body`` (text) or ``body_bytes`` (a body of that many bytes) and
    ``name``."""
    try:
        items = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ParityError(f"--requests {path}: cannot be read as JSON ({error})") from error
    if not isinstance(items, list) or not items:
        raise ParityError(f'--requests {path}: must be a JSON list of requests, such as [{{"path": "/health"}}]')
    requests = []
    for number, item in enumerate(items, 1):
        where = f"--requests {path}: request {number}"
        known = {"name", "method", "path", "headers", "body", "body_bytes"}
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not item["path"].startswith("/"):
            raise ParityError(f'{where}: needs a path starting with / (an object such as {{"path": "/health"}})')
        if set(item) - known:
            raise ParityError(f"{where}: unknown keys {', '.join(sorted(set(item) - known))} (known: {sorted(known)})")
        if "body" in item and "body_bytes" in item:
            raise ParityError(f"{where}: give body or body_bytes, not both")
        headers = item.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(value, str) for value in headers.values()):
            raise ParityError(f"{where}: headers must be an object of strings")
        size = item.get("body_bytes", 0)
        if not isinstance(size, int) or size < 0:
            raise ParityError(f"{where}: body_bytes must be a whole number of bytes")
        body = str(item["body"]).encode() if "body" in item else b"x" * size
        method = str(item.get("method", "GET")).upper()
        requests.append(
            Request(item.get("name") or f"{method} {item['path']}", method, item["path"], tuple(headers.items()), body)
        )
    return requests


def concrete_path(template: str) -> str:
    """A path of a route template (Flask ``<int:id>``, Bottle ``<id:int>``, Starlette ``{id:int}``), each
    parameter ``1`` (a UUID for a uuid parameter)."""

    def value(text: str) -> str:
        return UUID_VALUE if "uuid" in text else PARAMETER_VALUE

    return re.sub(r"<[^>]*>|\{[^}]*\}", lambda match: value(match[0]), template)


def default_requests(routes: list[tuple[str, str]], health_path: str) -> list[Request]:
    """Each route with each of its methods (a JSON ``{}`` body for POST, PUT and PATCH), then the ALB's limits:

    * a request body over 1 MB, to the first route that takes a POST (else the health path);
    * a repeated, URL-encoded query string (the ALB passes it to Lambda undecoded), to the first GET route without
      path parameters besides ``/`` and the health path (else the health path).

    Without routes (an app of a framework :mod:`lab.parity_routes` does not read): the health path and ``/``.
    """
    routes = routes or [("GET", health_path), ("GET", "/")]
    json_body = (("Content-Type", "application/json"),)
    requests = [
        Request(
            f"{method} {template}",
            method,
            concrete_path(template),
            *((json_body, b"{}") if method in BODY_METHODS else ()),
        )
        for method, template in routes
    ]
    post = next((concrete_path(template) for method, template in routes if method == "POST"), health_path)
    big = b"x" * (MAX_LAMBDA_BODY + 1)
    requests.append(
        Request(
            f"POST {post} with a body over 1 MB", "POST", post, (("Content-Type", "application/octet-stream"),), big
        )
    )
    plain = [
        template
        for method, template in routes
        if method == "GET" and template not in ("/", health_path) and concrete_path(template) == template
    ]
    probe = (plain or [health_path])[0]
    requests.append(Request(f"GET {probe}?{PROBE_QUERY}", "GET", f"{probe}?{PROBE_QUERY}"))
    return requests


def app_routes(code_dir: Path, environment: dict[str, str], timeout: float = 60) -> tuple[list[tuple[str, str]], str]:
    """``(routes, framework)`` of the app in the unpacked zip ``code_dir`` (:mod:`lab.parity_routes`)."""
    with tempfile.TemporaryDirectory(prefix="lab-parity-") as scratch:
        result = Path(scratch) / "routes.json"
        completed = subprocess.run(
            [sys.executable, "-S", str(ROUTES_SCRIPT), str(code_dir), str(result)],
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", **environment},
            cwd=code_dir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if completed.returncode != 0 or not result.exists():
            raise ParityError(f"the app's routes could not be read: {(completed.stderr or completed.stdout)[-2000:]}")
        found = json.loads(result.read_text())
    return [(method, path) for method, path, _ in found], (found[0][2] if found else "")


# -- the two paths ---------------------------------------------------------------------------------------------
def _lambda_target_group() -> TargetGroup:
    """The lambda_function role's target group as the ALB uses it: multi-value headers as the role sets them."""
    attributes = role_task_inputs(
        "lambda_function", "target_group.yml", "spillover.lambda_ecs.elb_target_group_attributes", ("attributes",)
    )["attributes"]
    return TargetGroup(
        arn="arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/parity-lambda/0123456789abcdef",
        name="parity-lambda",
        target_type="lambda",
        port=None,
        health_check_enabled=False,
        health_check_path="/",
        health_check_interval=35,
        health_check_timeout=30,
        healthy_threshold=5,
        unhealthy_threshold=2,
        success_codes="200",
        deregistration_delay=0,
        multi_value_headers=str(attributes.get("lambda.multi_value_headers.enabled")).lower() == "true",
    )


def _lambda_function(app: builder.App, code: bytes) -> Function:
    """The function the lambda_function role creates for ``app``: its handler, environment, runtime and timeout."""
    role = render_role("lambda_function", ["lambda_function_runtime", "lambda_function_timeout"])
    settings = builder.app_function(app)
    return Function(
        name="parity-app",
        arn="arn:aws:lambda:us-east-1:123456789012:function:parity-app",
        handler=settings["handler"],
        runtime=role["lambda_function_runtime"],
        timeout=int(role["lambda_function_timeout"]),
        environment=settings["environment"],
        reserved_concurrency=2,  # the two answers of one request at a time at most
        code_sha256=lambda_zip.digest(code)["code_sha256"],
    )


def _wait_healthy(target: str, health_path: str, process: subprocess.Popen, log: Path) -> None:
    host, port = target.rsplit(":", 1)
    deadline = time.monotonic() + HEALTHY_WITHIN
    while True:
        try:
            connection = http.client.HTTPConnection(host, int(port), timeout=2)
            connection.request("GET", health_path)
            status = connection.getresponse().status
            connection.close()
            if status == 200:
                return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise ParityError(
                f"the container did not answer GET {health_path} with 200 within {HEALTHY_WITHIN:g} s: "
                f"{log.read_text(errors='replace')[-2000:]}"
            )
        time.sleep(0.2)


def run_parity(
    app: builder.App, work_dir: Path, requests: list[Request] | None = None, cache_dir: Path = builder.ZIP_CACHE
) -> Parity:
    """Send ``requests`` (None: :func:`default_requests` of the app's routes) through both paths; every process it
    starts is stopped before it returns. The zip, the code and both runtimes' logs stay in ``work_dir``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    lock = builder.lock_app(app)
    code = builder.app_zip(app, cache_dir, lock)
    zip_path = work_dir / "app.zip"
    zip_path.write_bytes(code)
    function = _lambda_function(app, code)
    code_dir = extract_code(zip_path, function, work_dir / "code")
    notes = [f"the app's lock: {lock['lock']}"]
    if requests is None:
        routes, framework = app_routes(code_dir, function.environment)
        if routes:
            notes.append(f"{len(routes)} routes read from the app ({framework})")
        else:
            notes.append("no routes read from the app (not Flask, Starlette/FastAPI or Bottle): pass --requests FILE")
        requests = default_requests(routes, app.health_path)
    # The task definition of the ecs_service role sets PORT to the container port.
    task = Container("app", app.port, {"PORT": str(app.port)}, [], [])
    container = container_process(app, task, cache_dir, lock)
    # An app's own Dockerfile runs with the lab's environment: its packages are not the image's to compare.
    installed = container.environment.get("PYTHONPATH")
    packages = {"lambda": package_versions(code_dir), "ecs": package_versions(installed) if installed else {}}
    config = _lambda_target_group()
    with ExitStack() as cleanup:
        runtime = LambdaRuntime(function, code_dir, work_dir / "lambda.log")
        cleanup.callback(runtime.close)
        ip, port = allocate_address(app.port, random.Random())
        process = start_container(container, ip, port, work_dir / "container.log")
        cleanup.callback(stop_container, process, 10)
        target = f"{ip}:{port}"
        _wait_healthy(target, app.health_path, process, work_dir / "container.log")
        comparisons = []
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="lab-parity") as pool:
            for request in requests:
                sent = request.sent()
                on_lambda = pool.submit(lambda_answer, runtime, config, sent)
                on_ecs = pool.submit(forward_answer, target, sent, IDLE_TIMEOUT)
                comparisons.append(Comparison(request, on_lambda.result(), on_ecs.result()))
    return Parity(app, comparisons, notes, packages)


def write_report(parity: Parity, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    app = parity.app
    document = {
        "app": {"src": str(app.src), "callable": app.callable, "interface": app.interface},
        "notes": parity.notes,
        "packages": parity.packages,
        "package_differences": parity.package_differences,
        "requests": [comparison.summary() for comparison in parity.comparisons],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


def main(app: builder.App, requests_file: Path | None, output: Path) -> int:
    """``python -m lab parity``: print the comparison of each request and write it as JSON under ``output``."""
    directory = output / f"{time.strftime('%Y%m%d-%H%M%S')}-parity"
    try:
        requests = read_requests(requests_file) if requests_file else None
        result = run_parity(app, directory, requests)
    except (ParityError, app_lock.AppLockError, lambda_zip.LambdaZipError) as error:
        # The app's lock or zip refused its directory or requirements: the same words as the deploy's.
        print(f"lab parity: {error}", file=sys.stderr)
        return 2
    print("\n".join(result.lines()))
    write_report(result, directory / "parity.json")
    print(f"\nreport: {directory / 'parity.json'}  logs: {directory / 'lambda.log'}, {directory / 'container.log'}")
    return 0
