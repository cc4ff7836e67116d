"""Run a deployed Lambda function's code locally: execution environments up to its reserved concurrency.

Each environment is a separate Python process (:mod:`lab.lambda_worker`) that imports the handler once,
so the first invocation in it pays a real cold start. An invocation beyond the concurrency limit is
throttled at once, as Lambda does for synchronous calls; an invocation that overruns the function's
timeout kills its environment, as Lambda does.

An environment's Python path is a Lambda runtime's: the function's code first, then the runtime's own packages (the
AWS SDK, :func:`runtime_packages`) and the standard library; not this interpreter's site-packages, so that code that
imports what its zip lacks fails here as it does on AWS.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lab.aws import Aws
from lab.collection import ROOT, lambda_zip
from lab.metrics import MetricsPublisher
from lab.stack import Function

WORKER = Path(__file__).with_name("lambda_worker.py")
COLD_START_TIMEOUT = 30.0
UNRESERVED_LIMIT = 50  # a function without reserved concurrency: bounded here to keep the machine usable
# What a Lambda Python runtime holds beside the standard library (with what it requires): the AWS SDK.
RUNTIME_DISTRIBUTIONS = ("boto3",)
# Where the zips that were uploaded are built: the lab's fixture stacks' (python -m lab --deploy fixture), and the
# default of the lambda_function and scaler roles (lambda_function_build_dir, scaler_build_dir), one directory per
# collection in it.
BUILD_DIRS = (ROOT / "build" / "lambda", Path("~/.cache/spillover.lambda_ecs/lambda").expanduser())


class CodeNotFound(Exception):
    """The code deployed to a function is not readable here."""


@dataclass
class Invocation:
    outcome: str  # ok, throttled, error, timeout
    payload: object = None
    error: str = ""
    duration_ms: float = 0.0
    cold_start: bool = False


def extract_code(zip_path: Path, function: Function, destination: Path) -> Path:
    """Unpack the function's zip after checking it is the code deployed (same ``CodeSha256``)."""
    return unpack_code(zip_path.read_bytes(), function, destination, str(zip_path))


def unpack_code(data: bytes, function: Function, destination: Path, source: str) -> Path:
    """Unpack the zip ``data`` (from ``source``) into ``destination`` after checking it is the code deployed to
    ``function`` (same ``CodeSha256``)."""
    if function.code_sha256 and lambda_zip.digest(data)["code_sha256"] != function.code_sha256:
        raise RuntimeError(
            f"{source} is not the code deployed to {function.name} (CodeSha256 differs): "
            "re-deploy the stack (playbooks/site.yml) so the lab runs what is deployed"
        )
    destination.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(destination)
    return destination


def runtime_packages(destination: Path, roots: tuple[str, ...] = RUNTIME_DISTRIBUTIONS) -> Path:
    """``destination`` holding (as links into this interpreter's site-packages) the distributions ``roots`` and
    those they require: the packages a Lambda Python runtime puts on the path after the function's code (the AWS
    SDK, in /var/runtime), at this interpreter's versions."""
    destination.mkdir(parents=True, exist_ok=True)
    pending, seen = list(roots), set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:  # required on other Pythons or platforms only
            continue
        for requirement in distribution.requires or []:
            if "extra ==" not in requirement.partition(";")[2]:
                pending.append(re.match(r"[A-Za-z0-9._-]+", requirement)[0])
        for top in {file.parts[0] for file in distribution.files or [] if file.parts[0] not in ("..", "__pycache__")}:
            link = destination / top
            if not link.exists():
                link.symlink_to(distribution.locate_file(top))
    return destination


def deployed_zip(aws: Aws, function: Function, build_dirs: tuple[Path, ...] = BUILD_DIRS) -> tuple[bytes, str]:
    """``(zip, where it came from)``: the code deployed to ``function``.

    First what GetFunction's ``Code.Location`` serves (on AWS a presigned URL of the code); where that URL cannot be
    read (the local AWS names an S3 address that nothing serves), the zip of the function's ``CodeSha256`` that the
    roles built on this machine before uploading it: ``<function>.zip`` in one of ``build_dirs`` or in a directory of
    one (the lambda_function and scaler roles' default build directory is one such directory per collection).
    """
    location = aws.client("lambda").get_function(FunctionName=function.name).get("Code", {}).get("Location")
    tried = []
    if location:
        try:
            with urllib.request.urlopen(location, timeout=30) as answer:
                data = answer.read()
            if lambda_zip.digest(data)["code_sha256"] == function.code_sha256:
                return data, location
            tried.append(f"{location} (another CodeSha256)")
        except (OSError, ValueError) as error:
            tried.append(f"{location} ({error})")
    for directory in build_dirs:
        for candidate in [directory / f"{function.name}.zip", *sorted(directory.glob(f"*/{function.name}.zip"))]:
            if candidate.is_file():
                data = candidate.read_bytes()
                if lambda_zip.digest(data)["code_sha256"] == function.code_sha256:
                    return data, str(candidate)
                tried.append(f"{candidate} (another CodeSha256)")
    searched = ", ".join(str(directory) for directory in build_dirs)
    raise CodeNotFound(
        f"the code deployed to {function.name} (CodeSha256 {function.code_sha256}) is not readable: not from "
        f"GetFunction's Code.Location, nor among the zips the roles built in {searched}"
        + (f" (tried {'; '.join(tried)})" if tried else "")
        + ": re-deploy the stack from this machine (playbooks/site.yml, the roles' default build directories)"
    )


def deployed_code(aws: Aws, function: Function, destination: Path, build_dirs: tuple[Path, ...] = BUILD_DIRS) -> Path:
    """Unpack the code deployed to ``function`` (:func:`deployed_zip`) into ``destination``."""
    data, source = deployed_zip(aws, function, build_dirs)
    return unpack_code(data, function, destination, source)


class _Environment:
    """One worker process and the pipe its replies come back on."""


class ScriptProcess:
    """A Python script in a process (and session) of its own that reads JSON lines on stdin and replies with JSON
    lines on a pipe, the file descriptor given as its last argument: whatever else it prints goes to ``log``."""

    def __init__(self, argv: list[str], log, environment: dict[str, str], cwd: Path | None = None) -> None:
        read_fd, write_fd = os.pipe()
        self._buffer = b""
        self._read_fd = read_fd
        self.process = subprocess.Popen(
            [*argv, str(write_fd)],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=cwd,
            pass_fds=(write_fd,),
            start_new_session=True,
        )
        os.close(write_fd)

    def read_line(self, timeout: float) -> dict | None:
        """The next reply, None when none came within ``timeout`` seconds or the script ended."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            readable, _, _ = select.select([self._read_fd], [], [], remaining)
            if not readable:
                return None
            chunk = os.read(self._read_fd, 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def ask(self, message: dict, timeout: float) -> dict | None:
        """Send ``message``; its reply, None as :meth:`read_line`."""
        try:
            self.process.stdin.write((json.dumps(message) + "\n").encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        return self.read_line(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        os.close(self._read_fd)


class _Environment(ScriptProcess):
    """One worker process (:mod:`lab.lambda_worker`), its handler imported."""

    def __init__(self, runtime: LambdaRuntime) -> None:
        # -S: none of this interpreter's site-packages; the worker puts the code first, PYTHONPATH the runtime's.
        command = [sys.executable, "-S", str(WORKER), str(runtime.code_dir), runtime.function.handler]
        super().__init__(command, runtime.log, runtime.environment)
        ready = self.read_line(COLD_START_TIMEOUT)
        if ready is None or not ready.get("ready"):
            self.kill()
            raise RuntimeError(f"execution environment of {runtime.function.name} did not start")
        self.init_ms = float(ready["init_ms"])

    def invoke(self, event: dict, timeout: float) -> dict | None:
        return self.ask({"event": event, "timeout": timeout, "request_id": str(uuid.uuid4())}, timeout)


class LambdaRuntime:
    """Invoke ``function`` synchronously, in environments up to its reserved concurrency."""

    def __init__(
        self,
        function: Function,
        code_dir: Path,
        log_path: Path,
        extra_environment: dict[str, str] | None = None,
        metrics: MetricsPublisher | None = None,
    ) -> None:
        self.function = function
        self.code_dir = code_dir
        self.limit = function.reserved_concurrency if function.reserved_concurrency is not None else UNRESERVED_LIMIT
        self.log = open(log_path, "ab")  # noqa: SIM115 (closed by close())
        self._runtime_dir = Path(tempfile.mkdtemp(prefix="lab-lambda-runtime-"))
        self.environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            # As in Lambda, where PYTHONPATH is /var/runtime (LAMBDA_RUNTIME_DIR); the function may set its own.
            "PYTHONPATH": str(runtime_packages(self._runtime_dir)),
            **function.environment,
            **(extra_environment or {}),
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            # /var/task in Lambda: the collection's entry imports the app at init (the cold start) when it is set.
            "LAMBDA_TASK_ROOT": str(code_dir),
            "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
            "LAMBDA_RUNTIME_DIR": str(self._runtime_dir),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime or 'python3.12'}",
            "LAB_FUNCTION_ARN": function.arn,
        }
        self.metrics = metrics
        self._lock = threading.Lock()
        self._idle: list[_Environment] = []
        self._all: list[_Environment] = []
        self._in_flight = 0
        self.peak_in_flight = 0
        self.cold_starts = 0
        self._closed = False

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _publish(self, metric: str, value: float, unit: str = "Count") -> None:
        if self.metrics:
            self.metrics.add("AWS/Lambda", metric, {"FunctionName": self.function.name}, value, unit)

    def invoke(self, event: dict) -> Invocation:
        with self._lock:
            if self._closed or self._in_flight >= self.limit:
                throttled = True
            else:
                throttled = False
                self._in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
                concurrency = self._in_flight
                environment = self._idle.pop() if self._idle else None
        if throttled:
            self._publish("Throttles", 1)
            return Invocation("throttled", error="Rate Exceeded.")
        self._publish("ConcurrentExecutions", concurrency)
        self._publish("Invocations", 1)
        cold = environment is None
        try:
            if environment is None:
                environment = _Environment(self)
                with self._lock:
                    self._all.append(environment)
                    self.cold_starts += 1
            reply = environment.invoke(event, float(self.function.timeout))
            if reply is None:  # timed out or died: the environment is gone, as in Lambda
                self._discard(environment)
                environment = None
                self._publish("Errors", 1)
                return Invocation("timeout", error="Task timed out", cold_start=cold)
            self._publish("Duration", reply["duration_ms"], "Milliseconds")
            if "error" in reply:
                self._publish("Errors", 1)
                error = f"{reply['error']}: {reply['message']}" if reply.get("message") else reply["error"]
                return Invocation("error", error=error, duration_ms=reply["duration_ms"], cold_start=cold)
            return Invocation("ok", payload=reply["result"], duration_ms=reply["duration_ms"], cold_start=cold)
        except RuntimeError as error:
            self._publish("Errors", 1)
            return Invocation("error", error=str(error), cold_start=cold)
        finally:
            with self._lock:
                self._in_flight -= 1
                if environment is not None and not self._closed:
                    self._idle.append(environment)

    def sample_concurrency(self) -> None:
        """Publish the concurrency now (a second with only long invocations still has a maximum)."""
        if self._in_flight:
            self._publish("ConcurrentExecutions", self._in_flight)

    def _discard(self, environment: _Environment) -> None:
        environment.kill()
        with self._lock:
            if environment in self._all:
                self._all.remove(environment)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            environments, self._all, self._idle = list(self._all), [], []
        for environment in environments:
            environment.kill()
        self.log.close()
        shutil.rmtree(self._runtime_dir, ignore_errors=True)
