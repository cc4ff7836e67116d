"""A recording HTTP proxy in front of the local AWS.

Ansible modules run in their own processes, so botocore event hooks in the test process cannot see
their calls. Pointing ``endpoint_url`` at this proxy instead of the moto server records every AWS
API call (service and operation) whatever process makes it, and forwards it unchanged.

Where the local AWS does not answer as AWS does, ``answer()`` makes the proxy give AWS's answer to chosen calls.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Operation names that only read; REST calls are named "METHOD /path", so GET and HEAD read too.
READ_PREFIXES = ("Describe", "List", "Get", "GET ", "HEAD ")
_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


@dataclass
class CannedAnswer:
    status: int
    payload: dict | Callable[[dict], dict]  # a callable makes the answer from the local AWS's own (with forward)
    headers: dict[str, str]
    forward: bool
    times: int | None  # None: every call
    query_payload: str | None  # the XML body for query-protocol requests (ELBv2, EC2...), when it differs


def is_query_protocol(headers) -> bool:
    return "x-www-form-urlencoded" in headers.get("Content-Type", "")


@dataclass(frozen=True)
class Call:
    service: str
    operation: str

    @property
    def is_write(self) -> bool:
        return not self.operation.startswith(READ_PREFIXES)


def operation_of(method: str, path: str, headers, body: bytes) -> str:
    """Name the API operation of a request in any of the AWS protocols moto serves."""
    target = headers.get("X-Amz-Target")
    if target:  # JSON protocol: ECS, Logs, Events, ECR, CloudWatch (newer botocore).
        return target.rsplit(".", 1)[-1]
    content_type = headers.get("Content-Type", "")
    if "x-www-form-urlencoded" in content_type and body:  # query protocol: ELBv2, EC2, IAM, STS.
        action = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return action[0]
    query_action = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query).get("Action")
    if query_action:
        return query_action[0]
    # REST protocol (Lambda): the method and the path without account-specific parts.
    route = re.sub(r"/(arn:|[0-9]{12})[^/]*", "/{id}", urllib.parse.urlsplit(path).path)
    return f"{method} {route}"


def service_of(headers) -> str:
    match = _SCOPE.search(headers.get("Authorization", ""))
    return match.group(1) if match else "unknown"


class AwsRecorder:
    """Forward to ``upstream`` (``http://127.0.0.1:PORT``) and record each call."""

    def __init__(self, upstream: str, host: str = "127.0.0.1", port: int = 0):
        parsed = urllib.parse.urlsplit(upstream)
        self._upstream = (parsed.hostname, parsed.port)
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._answers: dict[str, CannedAnswer] = {}
        self._answered: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                canned = None
                if not self.path.startswith("/moto-api"):
                    operation = operation_of(self.command, self.path, self.headers, body)
                    recorder._record(Call(service_of(self.headers), operation))
                    canned = recorder._take_answer(operation)
                if canned is None or canned.forward:
                    status, reason, reply_headers, payload = recorder._ask_upstream(
                        self.command, self.path, self.headers, body
                    )
                if canned is not None and canned.query_payload is not None and is_query_protocol(self.headers):
                    status, reason, payload = canned.status, None, canned.query_payload.encode()
                    reply_headers = [("Content-Type", "text/xml"), *canned.headers.items()]
                elif canned is not None:
                    answer = canned.payload(json.loads(payload)) if callable(canned.payload) else canned.payload
                    status, reason, payload = canned.status, None, json.dumps(answer).encode()
                    reply_headers = [("Content-Type", "application/x-amz-json-1.0"), *canned.headers.items()]
                self.send_response(status, reason)
                for key, value in reply_headers:
                    if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _forward

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _ask_upstream(self, method: str, path: str, request_headers, body: bytes):
        connection = http.client.HTTPConnection(*self._upstream, timeout=120)
        try:
            headers = {k: v for k, v in request_headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.reason, response.getheaders(), response.read()
        finally:
            connection.close()

    def _record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def answer(
        self,
        operation: str,
        status: int,
        payload: dict | Callable[[dict], dict],
        *,
        headers: dict[str, str] | None = None,
        forward: bool = False,
        times: int | None = 1,
        query_payload: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``operation`` (every call: None) with ``status`` and ``payload``.

        For AWS behaviour the local AWS lacks: without ``forward`` the call never reaches the local AWS (AWS refused
        it); with ``forward`` it does, so its effect stays, and only its answer is replaced. Calls are recorded
        either way. ``payload`` is sent as JSON (the JSON protocol); a query-protocol request (ELBv2, EC2, IAM)
        gets ``query_payload``, its XML, when given. With ``forward``, ``payload`` may be a function of the local
        AWS's own JSON answer that returns the answer to give (AWS's, where the local AWS's differs).
        """
        with self._lock:
            self._answers[operation] = CannedAnswer(status, payload, dict(headers or {}), forward, times, query_payload)

    def _take_answer(self, operation: str) -> CannedAnswer | None:
        with self._lock:
            canned = self._answers.get(operation)
            if canned is None:
                return None
            if canned.times is not None:
                canned.times -= 1
                if canned.times <= 0:
                    del self._answers[operation]
            self._answered.append(operation)
            return canned

    @property
    def answered(self) -> list[str]:
        """The operations of the calls that got a canned answer, in order."""
        with self._lock:
            return list(self._answered)

    def start(self) -> AwsRecorder:
        self._thread.start()
        return self

    def __enter__(self) -> AwsRecorder:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    @property
    def writes(self) -> list[Call]:
        return [call for call in self.calls if call.is_write]

    def summary(self) -> str:
        return json.dumps([f"{c.service}:{c.operation}" for c in self.calls])
