"""``python -m lab parity``: the same requests through the lab's Lambda path and its container path, compared.

Before anything is deployed, see what will behave differently on the two runtimes. The app (a ``spillover_app_*``
description, :func:`lab.builder.describe_app`) runs as the roles would deploy it:

* Lambda: the zip the lambda_function role builds (the app, its vendored requirements and the collection's entry) in
  a lab execution environment (:mod:`lab.lambda_runtime`: the zip and the runtime's own packages on its path, nothing
  of this machine's) with the role's timeout, behind the ALB's Lambda target (:func:`lab.balancer.lambda_answer`: the
  event, the 1 MB limits on the request body and the response, the 502s);
* ECS: the container of the image ecr_push builds (:func:`lab.ecs.container_process`), behind the ALB's forward
  (:func:`lab.balancer.forward_answer`, within the ALB's idle timeout).

Both get the request as the ALB sends it (:func:`lab.balancer.alb_headers`), and so does the app itself, called
in a process of its own with no server or adapter between (:mod:`lab.parity_reference`): the reference that says,
of each difference, which side answers as the app does. Each runs from a copy in a temporary directory (the zip
unpacked, the app's directory copied), its working directory there: nothing is written into the app's directory.

For each request it says whether status, headers (:func:`compared_headers`) and body agree, and gives each
difference its reason. What the app itself answers differently when asked the same request again (a nonce, random
bytes, the time) is not a difference of the runtimes: the line says it varies instead. The requests are those of
``--requests FILE`` (see :func:`read_requests`) or the default set (:func:`default_requests`): each route the app
answers with each of its methods, and the ALB's limits. A container that dies ends the comparison with one line that
says so, with its last log lines.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

from lab import builder
from lab.balancer import (
    HOP_BY_HOP,
    MAX_LAMBDA_BODY,
    AlbAnswer,
    AlbRequest,
    alb_headers,
    forward_answer,
    lambda_answer,
)
from lab.collection import app_lock, lambda_zip, render_role, role_task_inputs
from lab.ecs import allocate_address, container_process, start_container, stop_container
from lab.lambda_runtime import LambdaRuntime, ScriptProcess, extract_code, runtime_packages
from lab.stack import Container, Function, TargetGroup

REFERENCE_SCRIPT = Path(__file__).with_name("parity_reference.py")
# The load balancer's idle timeout: the alb role's default (alb_idle_timeout), read from the role.
IDLE_TIMEOUT = int(render_role("alb", ["alb_idle_timeout"])["alb_idle_timeout"])
HEALTHY_WITHIN = 60.0
# How many more times the app itself is asked a request the two sides answer differently.
AGAIN = 2
# What each value of a path parameter is in the default requests: 1 is a valid int, float and string.
PARAMETER_VALUE = "1"
UUID_VALUE = "00000000-0000-4000-8000-000000000001"
BODY_METHODS = ("POST", "PUT", "PATCH")
PROBE_QUERY = "q=a%2Bb%20c&q=d"
CLIENT_HEADERS = (("Host", "lab-parity.invalid"), ("User-Agent", "lab-parity"), ("Accept", "*/*"))
# Response headers that are not the app's answer: the connection's (hop by hop), the framing (the bodies are
# compared) and those a server or the ALB sets on its own.
IGNORED_HEADERS = frozenset(HOP_BY_HOP | {"content-length", "date", "server"})
# How many of the container's last log lines say why it died.
LOG_LINES = 15
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


def compared_headers(headers: list[tuple[str, str]], volatile: frozenset[str] = frozenset()) -> dict[str, list[str]]:
    """``{lower-case name: [values in order]}`` of the headers that are the app's answer: not
    :data:`IGNORED_HEADERS`, nor ``volatile`` (lower-case names the user says change from one answer to the next)."""
    found: dict[str, list[str]] = {}
    for name, value in headers:
        if name.lower() not in IGNORED_HEADERS | volatile:
            found.setdefault(name.lower(), []).append(value)
    return found


def _shown(value: object) -> str:
    if isinstance(value, list):
        text = ", ".join(value) if value else "absent"
    elif isinstance(value, bytes):
        text = f"{len(value):,} bytes"
    else:
        text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Comparison:
    request: Request
    on_lambda: AlbAnswer
    on_ecs: AlbAnswer
    # The app's own answer (:mod:`lab.parity_reference`); None when the app itself could not be asked.
    reference: AlbAnswer | None = None
    volatile: frozenset[str] = frozenset()
    # The app's own answers to the same request asked again (only when the two sides differ): what changes between
    # them changes from call to call (a nonce, random bytes, the time), on either runtime alike.
    again: tuple[AlbAnswer, ...] = ()

    def _aspects(self, answer: AlbAnswer) -> dict[str, object]:
        headers = compared_headers(answer.headers, self.volatile)
        return {"status": answer.status, "body": answer.body, **{f"header {name}": v for name, v in headers.items()}}

    def _unequal(self) -> list[str]:
        on_lambda, on_ecs = self._aspects(self.on_lambda), self._aspects(self.on_ecs)
        names = ["status", "body", *sorted((set(on_lambda) | set(on_ecs)) - {"status", "body"})]
        return [name for name in names if on_lambda.get(name, []) != on_ecs.get(name, [])]

    @property
    def varies(self) -> list[str]:
        """What differs between the sides and between the app's own answers to the same request: not a difference of
        the runtimes (a digest nonce, random bytes, the time)."""
        if self.reference is None or self.reference.reason or not self.again:
            return []
        answers = [self._aspects(self.reference), *(self._aspects(answer) for answer in self.again if answer)]
        return [name for name in self._unequal() if any(a.get(name, []) != answers[0].get(name, []) for a in answers)]

    @property
    def differences(self) -> list[str]:
        """What differs: ``status``, ``body``, then ``header <name>`` of each header (lower case) by name; not what
        the app itself answers differently from one call to the next (:attr:`varies`)."""
        varies = set(self.varies)
        return [name for name in self._unequal() if name not in varies]

    @property
    def matches(self) -> dict[str, str]:
        """Of each difference, which side answers as the app itself does: ``lambda``, ``ecs`` or ``neither``
        (``unknown`` without the app's own answer)."""
        if self.reference is None:
            return dict.fromkeys(self.differences, "unknown")
        on_lambda, on_ecs = self._aspects(self.on_lambda), self._aspects(self.on_ecs)
        own = self._aspects(self.reference)
        found = {}
        for name in self.differences:
            if on_lambda.get(name, []) == own.get(name, []):
                found[name] = "lambda"
            elif on_ecs.get(name, []) == own.get(name, []):
                found[name] = "ecs"
            else:
                found[name] = "neither"
        return found

    def _verdict(self, name: str) -> str:
        match = self.matches[name]
        if match == "unknown":
            return ""
        if match != "neither":
            return f": {'Lambda' if match == 'lambda' else 'ECS'} answers as the app itself does"
        if self.reference.reason:
            return f": neither answers as the app itself does (it raised {self.reference.detail})"
        own = self._aspects(self.reference).get(name, [])
        if name == "body":
            return (
                ": neither answers as the app itself does (it may read which runtime it runs on, the time or the "
                "request)"
            )
        return f": neither answers as the app itself does ({_shown(own)})"

    @property
    def reason(self) -> str:
        """Why the answers differ: the ALB's reason on either side, else what the app did differently; and of
        each, which side answers as the app itself does."""
        differences = self.differences
        if not differences:
            return ""
        alb = [
            f"on {side}: " + ALB_REASONS.get(answer.reason, answer.reason + " ({detail})").format(detail=answer.detail)
            for side, answer in (("Lambda", self.on_lambda), ("ECS", self.on_ecs))
            if answer.reason
        ]
        if alb:
            sides = set(self.matches.values())
            if len(sides) == 1 and sides <= {"lambda", "ecs"}:
                alb.append(f"{'Lambda' if sides == {'lambda'} else 'ECS'} answers as the app itself does")
            return "; ".join(alb)
        on_lambda, on_ecs = self._aspects(self.on_lambda), self._aspects(self.on_ecs)
        found = []
        for name in differences:
            if name == "body":
                what = f"the body differs ({_shown(self.on_lambda.body)} on Lambda, {_shown(self.on_ecs.body)} on ECS)"
            elif name == "status":
                what = f"the app answered {self.on_lambda.status} on Lambda and {self.on_ecs.status} on ECS"
            else:
                what = (
                    f"{name} is {_shown(on_lambda.get(name, []))!r} on Lambda and {_shown(on_ecs.get(name, []))!r} "
                    "on ECS"
                )
            found.append(what + self._verdict(name))
        return "; ".join(found)

    def summary(self) -> dict:
        def side(answer: AlbAnswer | None, why: str = "alb_reason") -> dict | None:
            if answer is None:
                return None
            return {
                "status": answer.status,
                "content_type": _content_type(answer),
                "headers": compared_headers(answer.headers, self.volatile),
                "body_bytes": len(answer.body),
                why: answer.detail if why == "raised" else answer.reason,
            }

        return {
            "request": self.request.name,
            "method": self.request.method,
            "path": self.request.path,
            "agree": not self.differences,
            "differences": self.differences,
            "varies": self.varies,
            "matches": self.matches,
            "reason": self.reason,
            "lambda": side(self.on_lambda),
            "ecs": side(self.on_ecs),
            "app": side(self.reference, "raised"),
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


@dataclass(frozen=True)
class ContainerDeath:
    """The container's process ended: how (its exit status), during which request (None: before it answered its
    health check), and its last log lines."""

    status: int
    request: str | None
    log_lines: list[str]

    def line(self) -> str:
        if self.status >= 0:
            how = f"exited ({self.status})"
        else:
            number = -self.status
            how = f"was killed by {signal.Signals(number).name if number in signal.valid_signals() else number}"
        when = f"while answering {self.request}" if self.request else "before it answered its health check"
        return f"the container {how} {when}; its last log lines:"


@dataclass
class Parity:
    app: builder.App
    comparisons: list[Comparison]
    notes: list[str] = field(default_factory=list)
    # {canonical name: version} that each runtime installs (the zip's, the container's).
    packages: dict[str, dict[str, str]] = field(default_factory=dict)
    # How many requests there were; the container's death, when it died before it answered them all.
    requests: int = 0
    died: ContainerDeath | None = None
    # The response headers the user said change from one answer to the next (lower case): not compared.
    volatile: frozenset[str] = frozenset()

    @property
    def package_differences(self) -> list[str]:
        return version_differences(self.packages.get("lambda", {}), self.packages.get("ecs", {}))

    def lines(self) -> list[str]:
        differ = sum(bool(comparison.differences) for comparison in self.comparisons)
        where = os.path.relpath(self.app.src)
        shared = set(self.packages.get("lambda", {})) & set(self.packages.get("ecs", {}))
        total = max(self.requests, len(self.comparisons))
        counts = f"{total} requests: {len(self.comparisons) - differ} agree, {differ} differ"
        if self.died:
            counts += f", {total - len(self.comparisons)} not compared (the container died)"
        lines = [
            f"lab parity: {self.app.callable} ({self.app.interface.upper()}) from "
            f"{self.app.src if where.startswith('..') else where}, {counts}",
            *(f"  note: {note}" for note in self.notes),
            f"  packages: {len(shared)} on both runtimes, {len(self.package_differences)} at different versions",
            *(f"  DIFFER  package {line}" for line in self.package_differences),
        ]
        width = max((len(comparison.request.name) for comparison in self.comparisons), default=10)
        for comparison in self.comparisons:
            on_lambda, on_ecs = comparison.on_lambda, comparison.on_ecs
            if not comparison.differences:
                varies = ""
                if comparison.varies:
                    verb = "varies" if len(comparison.varies) == 1 else "vary"
                    varies = f"  (the app's own {', '.join(comparison.varies)} {verb} per call)"
                status = f"{on_lambda.status} {_content_type(on_lambda)}"
                lines.append(f"  agree   {comparison.request.name:{width}}  {status}{varies}")
                continue
            lines.append(
                f"  DIFFER  {comparison.request.name:{width}}  Lambda {on_lambda.status} {_content_type(on_lambda)},"
                f" ECS {on_ecs.status} {_content_type(on_ecs)} ({', '.join(comparison.differences)})"
            )
            lines.append(f"          why: {comparison.reason}")
        if self.died:
            lines.append(f"  DIED    {self.died.line()}")
            lines += [f"          | {line}" for line in self.died.log_lines]
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
      path parameters besides ``/`` and the health path (else the health path);
    * a HEAD of the health path (the ALB sends no body in its answer, whatever the target sent).

    Without routes (an app of a framework :mod:`lab.parity_reference` does not read): the health path and ``/``.
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
    requests.append(Request(f"HEAD {health_path}", "HEAD", health_path))
    return requests


class Reference:
    """The app itself (:mod:`lab.parity_reference`) in a process of its own, run from ``code_dir`` (an unpacked copy
    of the zip) with ``environment`` (the function's, and the Lambda runtime's packages on PYTHONPATH); its output
    goes to ``log_path``. ``routes``, ``framework``: what it read of the app; ``problem``: why the app cannot be
    asked (it does not import, or stopped answering), then every answer is None."""

    def __init__(self, code_dir: Path, environment: dict[str, str], log_path: Path, timeout: float) -> None:
        self.timeout = timeout
        self.routes: list[tuple[str, str]] = []
        self.framework = ""
        self.problem = ""
        self._log = open(log_path, "ab")  # noqa: SIM115 (closed by close())
        basics = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
        command = [sys.executable, "-S", str(REFERENCE_SCRIPT), str(code_dir)]
        self._process = ScriptProcess(command, self._log, {**basics, **environment}, cwd=code_dir)
        first = self._process.read_line(timeout)
        if first is None or "error" in first:
            self._stop(f"the app does not import: {first['error']}" if first else "the app did not import in time")
        else:
            self.routes = [(method, path) for method, path in first["routes"]]
            self.framework = first["framework"]

    def _stop(self, problem: str) -> None:
        self.problem = problem
        self._process.kill()

    def answer(self, request: AlbRequest) -> AlbAnswer | None:
        """The app's own answer to ``request`` as the ALB passes it on; an exception it raised is a 500 with the
        reason ``AppRaised``."""
        if self.problem:
            return None
        message = {
            "method": request.method,
            "path": request.path,
            "headers": alb_headers(request),
            "body": base64.b64encode(request.body).decode(),
            "port": request.port,
        }
        reply = self._process.ask(message, self.timeout)
        if reply is None:
            self._stop(f"the app itself stopped answering at {request.method} {request.path}")
            return None
        if "error" in reply:
            return AlbAnswer(500, [], b"", "AppRaised", reply["error"])
        return AlbAnswer(reply["status"], [tuple(pair) for pair in reply["headers"]], base64.b64decode(reply["body"]))

    def close(self) -> None:
        if not self.problem:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                self._process.process.stdin.close()  # the end of the requests: the app's lifespan shuts down
                self._process.process.wait(timeout=5)
            self._process.kill()
        self._log.close()


# -- the two paths ---------------------------------------------------------------------------------------------
def app_routes(code_dir: Path, environment: dict[str, str], timeout: float = 60) -> tuple[list[tuple[str, str]], str]:
    """``(routes, framework)`` of the app in the unpacked zip ``code_dir``, as the app itself declares them, read in a
    process of its own (:class:`Reference`) with the function's ``environment`` and the Lambda runtime's packages;
    a ParityError that says why when the app does not import."""
    with tempfile.TemporaryDirectory(prefix="lab-routes-") as scratch:
        runtime = runtime_packages(Path(scratch) / "runtime")
        reference = Reference(code_dir, {**environment, "PYTHONPATH": str(runtime)}, Path(scratch) / "log", timeout)
        try:
            if reference.problem:
                raise ParityError(f"the app's routes could not be read: {reference.problem}")
            return reference.routes, reference.framework
        finally:
            reference.close()


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


def _log_tail(log: Path, count: int = LOG_LINES) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-count:]


def _ended(process: subprocess.Popen, grace: float) -> int | None:
    """The process's exit status once it has ended, waiting up to ``grace`` seconds for it; None while it runs."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        return process.wait(timeout=grace) if grace else process.poll()
    return None


def _wait_healthy(target: str, health_path: str, process: subprocess.Popen, log: Path) -> ContainerDeath | None:
    """Wait for the container to answer ``GET health_path`` with 200; its death when it ends first."""
    host, port = target.rsplit(":", 1)
    deadline = time.monotonic() + HEALTHY_WITHIN
    while True:
        try:
            connection = http.client.HTTPConnection(host, int(port), timeout=2)
            connection.request("GET", health_path)
            status = connection.getresponse().status
            connection.close()
            if status == 200:
                return None
        except OSError:
            pass
        status = _ended(process, 0)
        if status is not None:
            return ContainerDeath(status, None, _log_tail(log))
        if time.monotonic() > deadline:
            raise ParityError(
                f"the container did not answer GET {health_path} with 200 within {HEALTHY_WITHIN:g} s; its last log "
                "lines:\n" + "\n".join(_log_tail(log))
            )
        time.sleep(0.2)


def _package(app: builder.App, cache_dir: Path) -> tuple[dict, bytes]:
    """The app's lock and zip, as the spillover_app and lambda_function roles make them; a ParityError that says
    why when they cannot."""
    try:
        lock = builder.lock_app(app)
        return lock, builder.app_zip(app, cache_dir, lock)
    except (app_lock.AppLockError, lambda_zip.LambdaZipError) as error:
        raise ParityError(f"the app cannot be packaged as the roles would package it: {error}") from error


def run_parity(
    app: builder.App,
    work_dir: Path,
    requests: list[Request] | None = None,
    cache_dir: Path = builder.ZIP_CACHE,
    volatile_headers: tuple[str, ...] = (),
) -> Parity:
    """Send ``requests`` (None: :func:`default_requests` of the app's routes) through both paths and to the app
    itself; ``volatile_headers``: response headers not compared (any case). Every process it starts is stopped and
    every copy it makes removed before it returns; the zip and the logs of both runtimes and of the app itself stay
    in ``work_dir``, and nothing is written into the app's directory."""
    work_dir.mkdir(parents=True, exist_ok=True)
    lock, code = _package(app, cache_dir)
    zip_path = work_dir / "app.zip"
    zip_path.write_bytes(code)
    function = _lambda_function(app, code)
    volatile = frozenset(name.lower() for name in volatile_headers)
    notes = [f"the app's lock: {lock['lock']}"]
    with tempfile.TemporaryDirectory(prefix="lab-parity-") as scratch, ExitStack() as cleanup:
        copies = Path(scratch)
        code_dir = extract_code(zip_path, function, copies / "lambda")
        # The task definition of the ecs_service role sets PORT to the container port.
        task = Container("app", app.port, {"PORT": str(app.port)}, [], [])
        shutil.copytree(app.src, copies / "container", symlinks=True)
        try:
            container = container_process(replace(app, src=copies / "container"), task, cache_dir, lock)
        except (ValueError, lambda_zip.LambdaZipError) as error:
            raise ParityError(f"the app's container cannot run: {error}") from error
        # An app's own Dockerfile runs with the lab's environment: its packages are not the image's to compare.
        installed = container.environment.get("PYTHONPATH")
        packages = {"lambda": package_versions(code_dir), "ecs": package_versions(installed) if installed else {}}

        reference_environment = {**function.environment, "PYTHONPATH": str(runtime_packages(copies / "runtime"))}
        reference_dir = extract_code(zip_path, function, copies / "reference")
        reference = Reference(reference_dir, reference_environment, work_dir / "reference.log", IDLE_TIMEOUT)
        cleanup.callback(reference.close)
        unasked = reference.problem
        if unasked:
            notes.append(f"{reference.problem} (reference.log): no difference can say which side answers as it does")
        if requests is None:
            if reference.routes:
                notes.append(f"{len(reference.routes)} routes read from the app ({reference.framework})")
            elif not reference.problem:
                notes.append(
                    "no routes read from the app (not Flask, Starlette/FastAPI or Bottle): pass --requests FILE"
                )
            requests = default_requests(reference.routes, app.health_path)

        runtime = LambdaRuntime(function, code_dir, work_dir / "lambda.log")
        cleanup.callback(runtime.close)
        ip, port = allocate_address(app.port, random.Random())
        log = work_dir / "container.log"
        process = start_container(container, ip, port, log)
        cleanup.callback(stop_container, process, 10)
        target = f"{ip}:{port}"
        died = _wait_healthy(target, app.health_path, process, log)
        config = _lambda_target_group()
        comparisons = []
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="lab-parity") as pool:
            for request in [] if died else requests:
                sent = request.sent()
                on_lambda = pool.submit(lambda_answer, runtime, config, sent)
                on_ecs = pool.submit(forward_answer, target, sent, IDLE_TIMEOUT)
                own = pool.submit(reference.answer, sent)
                comparison = Comparison(request, on_lambda.result(), on_ecs.result(), own.result(), volatile)
                if comparison.differences and comparison.reference is not None:
                    # Asked twice more: one random byte repeats once in 256 calls, three times in 65,536.
                    again = tuple(reference.answer(sent) for _ in range(AGAIN))
                    comparison = replace(comparison, again=tuple(answer for answer in again if answer is not None))
                # A target that broke the connection may be a container that died: give it a moment to be reaped.
                status = _ended(process, 2 if comparison.on_ecs.reason.startswith("Target") else 0)
                if status is not None:
                    died = ContainerDeath(status, request.name, _log_tail(log))
                    break
                comparisons.append(comparison)
        if reference.problem and not unasked:  # it stopped during the requests
            notes.append(
                f"{reference.problem} (reference.log): no later difference can say which side answers as it does"
            )
    return Parity(app, comparisons, notes, packages, len(requests), died, volatile)


def write_report(parity: Parity, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    app = parity.app
    document = {
        "app": {"src": str(app.src), "callable": app.callable, "interface": app.interface},
        "notes": parity.notes,
        "packages": parity.packages,
        "package_differences": parity.package_differences,
        "ignored_headers": sorted(IGNORED_HEADERS | parity.volatile),
        "requests": [comparison.summary() for comparison in parity.comparisons],
        "container_died": parity.died
        and {"status": parity.died.status, "request": parity.died.request, "log_lines": parity.died.log_lines},
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


def main(app: builder.App, requests_file: Path | None, output: Path, volatile_headers: tuple[str, ...] = ()) -> int:
    """``python -m lab parity``: print the comparison of each request and write it as JSON under ``output``."""
    directory = output / f"{time.strftime('%Y%m%d-%H%M%S')}-parity"
    try:
        requests = read_requests(requests_file) if requests_file else None
        result = run_parity(app, directory, requests, volatile_headers=volatile_headers)
    except (ParityError, app_lock.AppLockError, lambda_zip.LambdaZipError) as error:
        # The app's lock or zip refused its directory or requirements: the same words as the deploy's.
        print(f"lab parity: {error}", file=sys.stderr)
        return 2
    print("\n".join(result.lines()))
    write_report(result, directory / "parity.json")
    logs = ", ".join(str(directory / name) for name in ("lambda.log", "container.log", "reference.log"))
    print(f"\nreport: {directory / 'parity.json'}  logs: {logs}")
    return 0
