"""The deployed listener as an HTTP proxy on loopback: weighted routing, health checks, ALB error codes.

* Weights are the listener's forward weights, re-read from the AWS about every second (the real ALB
  also takes a moment to apply a change), and so are its rules that forward by path pattern (the ECS-only paths):
  the first rule, by priority, whose pattern matches a request's path forwards it, else the default action.
* Targets of each group are the ones registered in the AWS plus the tasks the lab's ECS follower has
  attached (registered with ECS, health checks still running). ``ip`` targets are health-checked with the
  group's path, interval, timeout, thresholds and success codes; requests go to healthy targets only,
  and to all of them when none is healthy (fail-open).
* 502 when a Lambda invocation is throttled or fails (``LambdaUserError``) or a target refuses the
  connection; 503 when the chosen group has no registered target; 504 when a target does not answer
  within the load balancer's idle timeout.
* One access-log line (JSON) per request, and the ``AWS/ApplicationELB`` metrics.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import itertools
import json
import logging
import random
import re
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from lab.aws import Aws
from lab.background import Periodic
from lab.collection import forward_action
from lab.lambda_runtime import LambdaRuntime
from lab.metrics import MetricsPublisher
from lab.stack import Stack, TargetGroup, read_weights

LOG = logging.getLogger(__name__)
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
MAX_LAMBDA_BODY = 1024 * 1024
SERVED_BY_HEADER = "X-Lab-Target-Group"


@dataclass
class TargetHealth:
    """The health-check state machine of one ``ip`` target, as the ALB keeps it."""

    state: str = "initial"  # initial, healthy, unhealthy
    successes: int = 0
    failures: int = 0
    next_check: float = 0.0
    checking: bool = False

    def record(self, ok: bool, healthy_threshold: int, unhealthy_threshold: int) -> str | None:
        """Count one check; return the new state when it changes."""
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.state != "healthy" and self.successes >= healthy_threshold:
                self.state = "healthy"
                return self.state
        else:
            self.failures, self.successes = self.failures + 1, 0
            if self.state != "unhealthy" and self.failures >= unhealthy_threshold:
                self.state = "unhealthy"
                return self.state
        return None


@dataclass
class AccessRecord:
    start: float
    end: float
    target_group: str  # lambda, ecs or - (none chosen)
    target: str
    status: int
    reason: str
    path: str

    @property
    def latency_ms(self) -> float:
        return (self.end - self.start) * 1000


@dataclass(frozen=True)
class PathRule:
    """A listener rule that forwards requests whose path matches one of its patterns (ALB path patterns: case
    sensitive, ``*`` any characters, ``?`` one character, on the path without its query string)."""

    priority: int
    patterns: tuple[str, ...]
    weights: dict[str, int]

    def matches(self, path: str) -> bool:
        return any(
            re.fullmatch(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."), path) for pattern in self.patterns
        )


def path_rules(elbv2, listener_arn: str) -> list[PathRule]:
    """The listener's rules that forward by path pattern alone, by priority (the lab runs no other condition)."""
    rules = []
    for rule in elbv2.describe_rules(ListenerArn=listener_arn)["Rules"]:
        conditions = rule.get("Conditions") or []
        state = forward_action.read_forward(rule["Actions"])
        if rule["IsDefault"] or not state or not conditions or any(c["Field"] != "path-pattern" for c in conditions):
            continue
        patterns = [
            value
            for condition in conditions
            for value in (condition.get("PathPatternConfig") or {}).get("Values") or condition.get("Values") or []
        ]
        rules.append(PathRule(int(rule["Priority"]), tuple(patterns), state["weights"]))
    return sorted(rules, key=lambda rule: rule.priority)


@dataclass
class _Group:
    config: TargetGroup
    label: str
    registered: set[str] = field(default_factory=set)  # from the AWS: function ARN or "ip:port"
    attached: set[str] = field(default_factory=set)  # from the lab's ECS follower: "ip:port"
    health: dict[str, TargetHealth] = field(default_factory=dict)
    round_robin: itertools.count = field(default_factory=itertools.count)

    def targets(self) -> list[str]:
        return sorted(self.registered | self.attached)


class LoadBalancer(Periodic):
    def __init__(
        self,
        aws: Aws,
        stack: Stack,
        lambda_runtime: LambdaRuntime | None,
        access_log: Path,
        metrics: MetricsPublisher | None = None,
        port: int = 0,
        refresh_seconds: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__("lab-alb-refresh", 0.25, refresh_seconds)
        self.aws = aws
        self.stack = stack
        self.lambda_runtime = lambda_runtime
        self.metrics = metrics
        self.groups = {
            stack.lambda_target_group.arn: _Group(stack.lambda_target_group, "lambda"),
            stack.ecs_target_group.arn: _Group(stack.ecs_target_group, "ecs"),
        }
        self.weights: dict[str, int] = {}
        self.rules: list[PathRule] = []
        self.records: list[AccessRecord] = []
        self.health_listeners: list = []
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._log = open(access_log, "a", buffering=1)  # noqa: SIM115 (closed by stop())
        self._checks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lab-health")
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._serving = threading.Thread(target=self._server.serve_forever, name="lab-alb", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LoadBalancer:
        self.refresh()
        self._serving.start()
        return super().start()

    def stop(self) -> None:
        super().stop()
        self._server.shutdown()
        self._server.server_close()
        self._checks.shutdown(wait=False, cancel_futures=True)
        self._serving.join(timeout=5)
        self._log.close()

    # -- control plane -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read weights, path rules and registered targets from the AWS."""
        elbv2 = self.aws.client("elbv2")
        weights = read_weights(elbv2, self.stack.listener_arn)
        rules = path_rules(elbv2, self.stack.listener_arn)
        registered = {}
        for arn in self.groups:
            descriptions = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
            registered[arn] = {
                target["Target"]["Id"]
                if self.groups[arn].config.target_type == "lambda"
                else f"{target['Target']['Id']}:{target['Target'].get('Port', self.groups[arn].config.port)}"
                for target in descriptions
                if target["TargetHealth"]["State"] not in ("unused", "draining")
            }
        with self._lock:
            self.weights = weights
            self.rules = rules
            for arn, targets in registered.items():
                self.groups[arn].registered = targets
                self._forget_gone(self.groups[arn])

    def attach(self, target_group_arn: str, target: str) -> None:
        """A task the lab started: health checks begin now, as when ECS registers a task."""
        with self._lock:
            self.groups[target_group_arn].attached.add(target)

    def detach(self, target_group_arn: str, target: str) -> None:
        with self._lock:
            group = self.groups[target_group_arn]
            group.attached.discard(target)
            group.registered.discard(target)
            self._forget_gone(group)

    def health_of(self, target_group_arn: str) -> dict[str, str]:
        with self._lock:
            group = self.groups[target_group_arn]
            return {target: self._state(group, target) for target in group.targets()}

    def _forget_gone(self, group: _Group) -> None:
        current = set(group.targets())
        for target in list(group.health):
            if target not in current:
                del group.health[target]

    def _state(self, group: _Group, target: str) -> str:
        if group.config.target_type == "lambda" or not group.config.health_check_enabled:
            return "healthy"
        return group.health.setdefault(target, TargetHealth()).state

    def poll(self) -> None:
        self.refresh()

    def tick(self) -> None:
        self._schedule_health_checks()

    # -- health checks -----------------------------------------------------------------------------------
    def _schedule_health_checks(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = []
            for group in self.groups.values():
                if group.config.target_type != "ip" or not group.config.health_check_enabled:
                    continue
                for target in group.targets():
                    health = group.health.setdefault(target, TargetHealth())
                    if not health.checking and health.next_check <= now:
                        health.checking = True
                        health.next_check = now + group.config.health_check_interval
                        due.append((group, target, health))
        for group, target, health in due:
            try:
                self._checks.submit(self._check, group, target, health)
            except RuntimeError:  # shutting down
                return

    def _check(self, group: _Group, target: str, health: TargetHealth) -> None:
        host, port = target.rsplit(":", 1)
        config = group.config
        try:
            connection = http.client.HTTPConnection(host, int(port), timeout=config.health_check_timeout)
            connection.request("GET", config.health_check_path, headers={"User-Agent": "ELB-HealthChecker/2.0"})
            ok = config.is_success(connection.getresponse().status)
            connection.close()
        except OSError:
            ok = False
        with self._lock:
            health.checking = False
            change = health.record(ok, config.healthy_threshold, config.unhealthy_threshold)
        if change:
            LOG.info("target %s of %s is now %s", target, config.name, change)
            for listener in self.health_listeners:
                listener(config.arn, target, change)

    # -- data plane --------------------------------------------------------------------------------------
    def choose_group(self, path: str = "/") -> _Group | None:
        """The group a request for ``path`` goes to: by the first path rule that matches, else the weights."""
        with self._lock:
            rule = next((rule for rule in self.rules if rule.matches(path)), None)
            weights = rule.weights if rule else self.weights
            weighted = [(arn, weight) for arn, weight in weights.items() if weight > 0 and arn in self.groups]
        if not weighted:
            return None
        arns, weights = zip(*weighted, strict=True)
        return self.groups[self._random.choices(arns, weights=weights)[0]]

    def choose_target(self, group: _Group) -> str | None:
        with self._lock:
            targets = group.targets()
            if not targets:
                return None
            healthy = [target for target in targets if self._state(group, target) == "healthy"]
            pool = healthy or targets  # fail-open: no healthy target means every target gets traffic
            return pool[next(group.round_robin) % len(pool)]

    def record(self, entry: AccessRecord) -> None:
        with self._lock:
            self.records.append(entry)
        self._log.write(
            json.dumps(
                {
                    "time": round(entry.start, 3),
                    "target_group": entry.target_group,
                    "target": entry.target,
                    "status": entry.status,
                    "latency_ms": round(entry.latency_ms, 1),
                    "reason": entry.reason,
                    "path": entry.path,
                }
            )
            + "\n"
        )
        if self.metrics:
            self._publish(entry)

    def _publish(self, entry: AccessRecord) -> None:
        lb = {"LoadBalancer": self.stack.load_balancer_dimension}
        namespace = "AWS/ApplicationELB"
        self.metrics.add(namespace, "RequestCount", lb, 1)
        group = next((g for g in self.groups.values() if g.label == entry.target_group), None)
        per_group = {**lb, "TargetGroup": group.config.dimension} if group else None
        if per_group:
            self.metrics.add(namespace, "RequestCount", per_group, 1)
        if entry.reason:  # generated by the load balancer, not the target
            self.metrics.add(namespace, "HTTPCode_ELB_5XX_Count", lb, 1)
            self.metrics.add(namespace, f"HTTPCode_ELB_{entry.status}_Count", lb, 1)
            if entry.reason.startswith("Lambda") and per_group:
                self.metrics.add(namespace, "LambdaUserError", per_group, 1)
        elif per_group:
            self.metrics.add(namespace, f"HTTPCode_Target_{entry.status // 100}XX_Count", per_group, 1)
            self.metrics.add(namespace, "TargetResponseTime", per_group, entry.latency_ms / 1000, "Seconds")

    def _handler_class(self):
        balancer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "lab-alb"

            def log_message(self, *args) -> None:
                pass

            def _serve(self) -> None:
                start = time.time()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = AlbRequest(
                    self.command,
                    self.path,
                    list(self.headers.items()),
                    body,
                    self.client_address[0],
                    balancer.stack.listener_port,
                )
                group = balancer.choose_group(urlsplit(self.path).path)
                label, target = (group.label if group else "-"), "-"
                if group is None:
                    answer = _error(503, "NoTargetGroupWeight")
                else:
                    target = balancer.choose_target(group) or "-"
                    if target == "-":
                        answer = _error(503, "NoRegisteredTargets")
                    elif group.config.target_type == "lambda":
                        answer = lambda_answer(balancer.lambda_runtime, group.config, request)
                    else:
                        answer = forward_answer(target, request, balancer.stack.idle_timeout)
                # Logged before the answer leaves, so a client that got its answer finds its log line.
                balancer.record(
                    AccessRecord(start, time.time(), label, target, answer.status, answer.reason, self.path)
                )
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers:
                        if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                            self.send_header(name, value)
                    self.send_header(SERVED_BY_HEADER, label)
                    # A HEAD's answer has no body: its length is the target's, that of the GET's body.
                    length = next((v for n, v in answer.headers if n.lower() == "content-length"), None)
                    self.send_header(
                        "Content-Length", length if self.command == "HEAD" and length else str(len(answer.body))
                    )
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. the load stopped)
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

        return Handler


def new_trace_id(now: float | None = None) -> str:
    """A trace identifier as the ALB makes one: version 1, the epoch second in 8 hex digits, 24 random hex digits."""
    return f"1-{int(time.time() if now is None else now):08x}-{secrets.token_hex(12)}"


@dataclass(frozen=True)
class AlbRequest:
    """A request as the load balancer received it on its listener ``port``: the path with its query string;
    ``trace_id`` the identifier the ALB gives it (:func:`trace_header`)."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    client_ip: str = "127.0.0.1"
    port: int = 80
    trace_id: str = field(default_factory=new_trace_id)


@dataclass(frozen=True)
class AlbAnswer:
    """What the load balancer answers; ``reason``: the access log's error reason when the ALB answered itself, not
    the target, and ``detail`` what made it (a size, the function's error)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    reason: str = ""
    detail: str = ""


class ResponseTooLarge(ValueError):
    """A Lambda response over what the ALB takes."""


def trace_header(given: str | None, trace_id: str) -> str:
    """The ``X-Amzn-Trace-Id`` the ALB sends a target when the client sent ``given`` (None: none): a ``Root`` of its
    own when there is none, else a ``Self`` field inserted before the client's (or its ``Self`` updated), the
    client's other fields kept."""
    if not given:
        return f"Root={trace_id}"
    fields = given.split(";")
    if any(item.startswith("Self=") for item in fields):
        return ";".join(f"Self={trace_id}" if item.startswith("Self=") else item for item in fields)
    return f"{'Self' if any(item.startswith('Root=') for item in fields) else 'Root'}={trace_id};{given}"


def alb_headers(request: AlbRequest) -> list[tuple[str, str]]:
    """The request's headers as the ALB passes them to any target: the client's, with ``X-Forwarded-For`` (the
    client's address appended, the default ``append`` mode), ``X-Forwarded-Proto`` and ``X-Forwarded-Port`` (the
    listener's) and ``X-Amzn-Trace-Id`` (:func:`trace_header`) as the ALB sets them; it adds nothing else."""
    given = {name.lower(): value for name, value in request.headers}
    added = {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-port", "x-amzn-trace-id"}
    client_chain = given.get("x-forwarded-for")
    return [
        *((name, value) for name, value in request.headers if name.lower() not in added),
        ("X-Forwarded-For", f"{client_chain}, {request.client_ip}" if client_chain else request.client_ip),
        ("X-Forwarded-Proto", "http"),
        ("X-Forwarded-Port", str(request.port)),
        ("X-Amzn-Trace-Id", trace_header(given.get("x-amzn-trace-id"), request.trace_id)),
    ]


def lambda_answer(runtime: LambdaRuntime | None, config: TargetGroup, request: AlbRequest) -> AlbAnswer:
    """The ALB's answer to ``request`` for the Lambda target group ``config``, whose function ``runtime`` runs."""
    if runtime is None:
        return _error(502, "LambdaUnhandled", "no Lambda runtime in the lab")
    if len(request.body) > MAX_LAMBDA_BODY:
        return _error(413, "LambdaRequestTooLarge", f"a request body of {len(request.body):,} bytes")
    event = alb_event(config, request.method, request.path, alb_headers(request), request.body)
    result = runtime.invoke(event)
    if result.outcome == "throttled":
        return _error(502, "LambdaThrottling", result.error)
    if result.outcome == "timeout":
        return _error(502, "LambdaTimeout", f"{result.error} after {runtime.function.timeout} s")
    if result.outcome != "ok":
        return _error(502, "LambdaUnhandled", result.error)
    try:
        answer = lambda_response(result.payload)
    except ResponseTooLarge as error:
        return _error(502, "LambdaResponseTooLarge", str(error))
    except (KeyError, TypeError, ValueError) as error:
        return _error(502, "LambdaInvalidResponse", f"{type(error).__name__}: {error}")
    # The ALB sends no body in the answer to a HEAD, whatever the function returned.
    return replace(answer, body=b"") if request.method == "HEAD" else answer


def forward_answer(target: str, request: AlbRequest, idle_timeout: float) -> AlbAnswer:
    """The ALB's answer to ``request`` forwarded to the HTTP target ``host:port`` within ``idle_timeout`` seconds:
    the request line, the client's end-to-end headers and :func:`alb_headers`' additions, the body; nothing else
    (no ``Accept-Encoding`` or ``Connection`` of http.client's own: the ALB keeps its connections to targets open)."""
    host, port = target.rsplit(":", 1)
    headers = [(name, value) for name, value in alb_headers(request) if name.lower() not in HOP_BY_HOP]
    try:
        connection = http.client.HTTPConnection(host, int(port), timeout=idle_timeout)
        # A target may answer (and close) before it has read the whole body: its answer is what the ALB sends.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.putrequest(
                request.method,
                request.path,
                skip_host=any(name.lower() == "host" for name, _ in headers),
                skip_accept_encoding=True,
            )
            for name, value in headers:
                connection.putheader(name, value)
            connection.endheaders(request.body or None)
        response = connection.getresponse()
        payload = response.read()  # nothing for a HEAD: http.client reads no body for it
        connection.close()
        return AlbAnswer(response.status, response.getheaders(), payload)
    except TimeoutError:
        return _error(504, "TargetTimeout", f"no answer within the idle timeout of {idle_timeout:g} s")
    except OSError as error:
        return _error(502, "TargetConnectionError", str(error))
    except http.client.HTTPException as error:
        return _error(502, "TargetResponseInvalid", f"{type(error).__name__}: {error}")


def _error(status: int, reason: str, detail: str = "") -> AlbAnswer:
    phrase = {413: "Request Entity Too Large", 502: "Bad Gateway", 503: "Service Temporarily Unavailable"}.get(
        status, "Gateway Time-out"
    )
    body = f"<html><body><center><h1>{status} {phrase}</h1></center></body></html>".encode()
    return AlbAnswer(status, [("Content-Type", "text/html")], body, reason, detail)


def alb_event(config: TargetGroup, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes) -> dict:
    """The event an ALB sends to a Lambda target: query names and values stay URL-encoded, as the ALB leaves them
    ("If the query parameters are URL-encoded, the load balancer does not decode them")."""
    parts = urlsplit(raw_path)
    query = [pair.partition("=")[::2] for pair in parts.query.split("&") if pair]
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    event = {
        "requestContext": {"elb": {"targetGroupArn": config.arn}},
        "httpMethod": method,
        "path": parts.path or "/",
        "body": text,
        "isBase64Encoded": encoded,
    }
    lowered = [(name.lower(), value) for name, value in headers]
    if config.multi_value_headers:
        event["multiValueQueryStringParameters"] = {}
        for name, value in query:
            event["multiValueQueryStringParameters"].setdefault(name, []).append(value)
        event["multiValueHeaders"] = {}
        for name, value in lowered:
            event["multiValueHeaders"].setdefault(name, []).append(value)
    else:  # without multi-value headers the ALB keeps the last value of each
        event["queryStringParameters"] = dict(query)
        event["headers"] = dict(lowered)
    return event


def lambda_response(payload: dict) -> AlbAnswer:
    """Translate a Lambda response for the ALB; a malformed one raises (the ALB answers 502), and so does one whose
    JSON is over 1 MB (:class:`ResponseTooLarge`: the ALB's limit is on the response JSON, headers and encoding
    included)."""
    size = len(json.dumps(payload).encode())
    if size > MAX_LAMBDA_BODY:
        raise ResponseTooLarge(f"a response of {size:,} bytes of JSON")
    status = int(payload["statusCode"])
    headers: list[tuple[str, str]] = []
    for name, values in (payload.get("multiValueHeaders") or {}).items():
        headers.extend((name, str(value)) for value in values)
    if not headers:
        headers = [(name, str(value)) for name, value in (payload.get("headers") or {}).items()]
    body = payload.get("body") or ""
    data = base64.b64decode(body) if payload.get("isBase64Encoded") else str(body).encode()
    return AlbAnswer(status, headers, data)
