"""What the lab's ALB sends a target and what it answers: the request as an ALB passes it on (its X-Forwarded-* and
X-Amzn-Trace-Id headers, nothing else added) to a Lambda function and to a container, and no body for a HEAD."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lab.balancer import AlbRequest, alb_headers, forward_answer, lambda_answer, trace_header
from lab.lambda_runtime import Invocation
from lab.stack import Function, TargetGroup

TRACE = "1-67891233-abcdef012345678912345678"
CLIENT = [("Host", "shop.example"), ("User-Agent", "curl/8.5.0"), ("Accept", "*/*")]
ALB_ADDED = [
    ("X-Forwarded-For", "203.0.113.7"),
    ("X-Forwarded-Proto", "http"),
    ("X-Forwarded-Port", "80"),
    ("X-Amzn-Trace-Id", f"Root={TRACE}"),
]


def request(method: str = "GET", headers: list[tuple[str, str]] = CLIENT, body: bytes = b"") -> AlbRequest:
    return AlbRequest(method, "/items?tag=a", list(headers), body, "203.0.113.7", 80, TRACE)


def test_the_alb_adds_its_forwarded_headers_and_a_trace_id_and_nothing_else():
    assert alb_headers(request()) == CLIENT + ALB_ADDED
    # A client's own X-Forwarded-For gets the client's address appended (the append mode, the default); its
    # X-Forwarded-Proto and -Port are the ALB's, whatever the client said.
    proxied = request(headers=[*CLIENT, ("x-forwarded-for", "198.51.100.1"), ("X-Forwarded-Proto", "https")])
    assert alb_headers(proxied)[len(CLIENT) :] == [("X-Forwarded-For", "198.51.100.1, 203.0.113.7"), *ALB_ADDED[1:]]
    # Request tracing as the ALB documentation gives it.
    assert trace_header(None, TRACE) == f"Root={TRACE}"
    root = "Root=1-67891233-000000000000000000000001"
    assert trace_header(root, TRACE) == f"Self={TRACE};{root}"
    assert trace_header(f"{root};CalledFrom=app", TRACE) == f"Self={TRACE};{root};CalledFrom=app"
    assert trace_header(f"Self=1-1-1;{root}", TRACE) == f"Self={TRACE};{root}"
    fresh = AlbRequest("GET", "/", [], b"")
    assert fresh.trace_id != AlbRequest("GET", "/", [], b"").trace_id
    assert len(fresh.trace_id.split("-")[1]) == 8 and len(fresh.trace_id.split("-")[2]) == 24


@dataclass
class Recorder:
    """A target that records the raw header lines of each request and answers with a body, to HEAD too."""

    requests: list[tuple[str, list[tuple[str, str]], bytes]] = field(default_factory=list)

    def serve(self) -> ThreadingHTTPServer:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                recorder.requests.append((self.command, list(self.headers.items()), self.rfile.read(length)))
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)  # to a HEAD as well: a careless app server

            do_GET = do_HEAD = do_POST = _answer

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@pytest.fixture
def recorder():
    found = Recorder()
    server = found.serve()
    yield found, f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_forward_sends_the_albs_request_line_headers_and_body_only(recorder):
    found, target = recorder
    answer = forward_answer(target, request("POST", [*CLIENT, ("Content-Length", "2")], b"{}"), 5)
    assert (answer.status, answer.body) == (200, b'{"ok": true}')
    [(method, headers, body)] = found.requests
    # No Accept-Encoding or Connection of the forwarder's own: what the client sent and what the ALB adds.
    assert (method, headers, body) == ("POST", [*CLIENT, ("Content-Length", "2"), *ALB_ADDED], b"{}")
    # Hop-by-hop headers are the client's connection's, not the target's.
    forward_answer(target, request(headers=[*CLIENT, ("Connection", "keep-alive"), ("TE", "trailers")]), 5)
    assert found.requests[-1][1] == CLIENT + ALB_ADDED


def test_the_answer_to_a_head_has_no_body_from_a_container_or_a_function(recorder):
    found, target = recorder
    answer = forward_answer(target, request("HEAD"), 5)
    assert found.requests[-1][0] == "HEAD"
    assert (answer.status, answer.body, dict(answer.headers)["Content-Length"]) == (200, b"", "12")

    class Runtime:
        """A function whose adapter answers a HEAD with the body of the GET (Mangum does)."""

        function = Function("f", "arn:aws:lambda:us-east-1:123456789012:function:f", "h.h", "python3.12", 3, {}, 1, "")

        def __init__(self) -> None:
            self.events: list[dict] = []

        def invoke(self, event: dict) -> Invocation:
            self.events.append(event)
            return Invocation("ok", {"statusCode": 200, "headers": {"content-type": "text/plain"}, "body": "hello"})

    group = TargetGroup("arn", "tg", "lambda", None, False, "/", 35, 30, 5, 2, "200", 0, False)
    runtime = Runtime()
    assert lambda_answer(runtime, group, request("HEAD")).body == b""
    assert lambda_answer(runtime, group, request("GET")).body == b"hello"
    # The event's headers are the same request's: the client's and the ALB's, lower-cased.
    assert runtime.events[0]["headers"] == {name.lower(): value for name, value in CLIENT + ALB_ADDED}
    assert runtime.events[0]["httpMethod"] == "HEAD"
