"""A proxy in front of the local AWS that answers chosen operations with "400 Throttling" a set number of times.

Moto never throttles; this is how tests show that a client retries (or gives up) on AWS API throttling.
It answers in the protocol of the request: JSON (``X-Amz-Target``: ECS, Logs...) or query XML (ELBv2, EC2).
Every other request, and a throttled operation once its budget is spent, is forwarded unchanged.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.aws_recorder import operation_of

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}
_QUERY_ERROR = (
    '<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">'
    "<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
)


class ThrottlingProxy:
    """``ThrottlingProxy(upstream, {"DescribeServices": 1})``: the first DescribeServices call is throttled.

    A budget of ``None`` throttles that operation forever. ``operations`` lists every operation seen, in order,
    and ``throttled`` the ones that were answered with a throttling error.
    """

    def __init__(self, upstream: str, budgets: dict[str, int | None], host: str = "127.0.0.1"):
        parsed = urllib.parse.urlsplit(upstream)
        self._upstream = (parsed.hostname, parsed.port)
        self._budgets = dict(budgets)
        self._lock = threading.Lock()
        self.operations: list[str] = []
        self.throttled: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                operation = operation_of(self.command, self.path, self.headers, body)
                if proxy._take(operation):
                    if self.headers.get("X-Amz-Target"):
                        payload = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
                        content_type = "application/x-amz-json-1.1"
                    else:
                        payload, content_type = _QUERY_ERROR.encode(), "text/xml"
                    self._reply(400, [("Content-Type", content_type)], payload)
                    return
                connection = http.client.HTTPConnection(*proxy._upstream, timeout=120)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                    self._reply(response.status, response.getheaders(), response.read())
                finally:
                    connection.close()

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _take(self, operation: str) -> bool:
        with self._lock:
            self.operations.append(operation)
            if operation not in self._budgets:
                return False
            budget = self._budgets[operation]
            if budget is not None:
                if budget <= 0:
                    return False
                self._budgets[operation] = budget - 1
            self.throttled.append(operation)
            return True

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ThrottlingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ThrottlingProxy:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
