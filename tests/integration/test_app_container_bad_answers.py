"""The container's server (files/container/serve.py, started for real on a loopback port) survives every bad answer
of an app: each route of tests/support/bad_answers_app.py gives one, for WSGI and ASGI, and after each a good request
must be answered by the same server process and the same worker.

A status granian cannot send made its worker panic, and the server exit with it (issue 21: an app's status 1 stopped
a task; every later request got a 502). Run with ``-s`` to see the table "answer -> what the client got -> server
still up".
"""

from __future__ import annotations

import ast
import http.client
import time
from dataclasses import dataclass

import pytest

from tests.support.app_support import ROOT, VENV_BIN, Server

pytestmark = pytest.mark.integration

SERVE = [str(VENV_BIN / "python"), "files/container/serve.py"]
APP = {"APP_DIR": "tests/support"}


@dataclass(frozen=True)
class Got:
    """What a client got: a whole answer, an answer cut short (headers, then the connection closed before the body
    ended), no answer (the connection closed before a status line), or a refused connection (no worker listens: on
    Linux each granian worker has a listening socket of its own, so while the only one restarts, none does)."""

    outcome: str
    status: int | None = None
    body: bytes = b""

    def __str__(self) -> str:
        if self.outcome in ("no answer", "refused"):
            return {"no answer": "no answer (connection closed)", "refused": "connection refused"}[self.outcome]
        shown = f"{self.status} {self.body[:40]!r}"
        return shown if self.outcome == "answered" else f"cut short: {shown}, then the connection closed"


def fetch(port: int, path: str, headers: dict[str, str] | None = None) -> Got:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        try:
            connection.request("GET", path, headers=headers or {})
        except ConnectionRefusedError:
            return Got("refused")
        try:
            response = connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return Got("no answer")
        try:
            return Got("answered", response.status, response.read())
        except http.client.IncompleteRead as cut:
            return Got("cut short", response.status, cut.partial)
    finally:
        connection.close()


def websocket_handshake(port: int, path: str) -> Got:
    """A WebSocket opening handshake (RFC 6455), which the app answers with an HTTP response, not an upgrade."""
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    return fetch(port, path, upgrade)


def worker_pid(server: Server) -> int:
    """The pid of the worker that answers ``/pid``, once one does (a respawned worker takes a moment to start and
    listen)."""
    deadline = time.monotonic() + 30
    while True:
        got = fetch(server.port, "/pid")
        if got.outcome == "answered" or time.monotonic() > deadline:
            assert (got.outcome, got.status) == ("answered", 200), got
            return int(got.body)
        time.sleep(0.1)


def incomplete(got: Got, started: bytes) -> bool:
    """Whether ``got`` is no whole answer: none at all, or a 200 cut short within the body that begins ``started``."""
    return got.outcome == "no answer" or (
        (got.outcome, got.status) == ("cut short", 200) and started.startswith(got.body)
    )


WSGI_ERROR = Got("answered", 500, b"")  # granian's answer to an exception of a WSGI app
ASGI_ERROR = Got("answered", 500, b"Internal server error")  # and of an ASGI app
CUT_SHORT = "cut short"  # an error after the response began: no whole answer, however much of it was sent

WSGI_CASES = [
    ("/status/0", "status '0 Zero'", WSGI_ERROR),
    ("/status/1", "status '1 One'", WSGI_ERROR),
    ("/status/99", "status '99 Low'", WSGI_ERROR),
    ("/status/101", "status '101 Switching Protocols' (1xx as a final answer)", WSGI_ERROR),
    ("/status/600", "status '600 High'", WSGI_ERROR),
    ("/status/1000", "status '1000 Huge'", WSGI_ERROR),
    ("/status/garbage", "status 'OK 200'", WSGI_ERROR),
    ("/status/crlf", "status '200 OK\\r\\nX-Evil: 1'", WSGI_ERROR),
    ("/status/bytes", "status b'200 OK' (bytes)", WSGI_ERROR),
    ("/header/not-latin-1", "header value '10 €' (not latin-1)", WSGI_ERROR),
    ("/header/crlf-value", "CR/LF in a header value", WSGI_ERROR),
    ("/header/crlf-name", "CR/LF in a header name", WSGI_ERROR),
    ("/header/int-value", "header value 5 (an int)", WSGI_ERROR),
    ("/raise-after-start-response", "exception after start_response", WSGI_ERROR),
    ("/start-response-twice", "start_response twice without exc_info", WSGI_ERROR),
    ("/no-start-response", "body without start_response", WSGI_ERROR),
    ("/returns-none", "returns None", WSGI_ERROR),
    ("/returns-an-int", "returns 5 (not iterable)", WSGI_ERROR),
    ("/str-body", "body ['text'] (str)", WSGI_ERROR),
    ("/raise-before-the-first-chunk", "iterable raises before its first chunk", WSGI_ERROR),
    ("/raise-mid-body", "iterable raises after its first chunk", CUT_SHORT),
    ("/str-mid-body", "iterable yields a str after its first chunk", CUT_SHORT),
    # Good answers the guard must keep: PEP 3333's late start_response and its error page.
    (
        "/start-response-in-the-body",
        "(good) start_response when the generator is first read",
        Got("answered", 201, b"created"),
    ),
    ("/error-page", "(good) start_response again with exc_info", Got("answered", 503, b"error page")),
]
ASGI_CASES = [
    ("/status/0", "start with status 0", ASGI_ERROR),
    ("/status/1", "start with status 1", ASGI_ERROR),
    ("/status/99", "start with status 99", ASGI_ERROR),
    ("/status/101", "start with status 101 (1xx as a final answer)", ASGI_ERROR),
    ("/status/600", "start with status 600", ASGI_ERROR),
    ("/status/1000", "start with status 1000", ASGI_ERROR),
    ("/status/str", "start with status '200' (str)", ASGI_ERROR),
    ("/status/bool", "start with status True", ASGI_ERROR),
    ("/header/crlf-value", "CR/LF in a header value", ASGI_ERROR),
    ("/header/crlf-name", "CR/LF in a header name", ASGI_ERROR),
    ("/header/str", "header ('x-note', 'a') (str, not bytes)", ASGI_ERROR),
    ("/body-before-start", "body before start", ASGI_ERROR),
    ("/two-starts", "two starts", ASGI_ERROR),
    ("/str-body", "body 'text' (str)", ASGI_ERROR),
    ("/str-mid-body", "body 'text' (str) after a first body part", CUT_SHORT),
    ("/after-the-final-body", "a body after the final body", Got("answered", 200, b"complete")),
    ("/raise-after-start", "exception after start", ASGI_ERROR),
    ("/raise-mid-body", "exception after a first body part", CUT_SHORT),
    ("/no-answer", "returns without sending anything", ASGI_ERROR),
    ("/unknown-message", "message type 'http.response.nonsense'", ASGI_ERROR),
]


def print_table(interface: str, rows: list[tuple[str, Got, str]]) -> None:
    print(f"\n{interface}: answer -> what the client got -> server still up")
    for answer, got, still_up in rows:
        print(f"  {answer} -> {got} -> {still_up}")


def serve_bad_answers(interface: str) -> Server:
    environment = {**APP, "APP_INTERFACE": interface, "APP_CALLABLE": f"bad_answers_app:{interface}"}
    return Server(SERVE, cwd=ROOT, env=environment).wait_ready()


@pytest.mark.parametrize(
    ("interface", "cases", "logged"),
    [
        ("wsgi", WSGI_CASES, "BadAnswer: status '1 One' is not a status line from 200 to 599, such as '200 OK'"),
        ("asgi", ASGI_CASES, "BadAnswer: http.response.start status 1 is not an integer from 200 to 599"),
    ],
    ids=["wsgi", "asgi"],
)
def test_every_bad_answer_gets_a_500_or_is_cut_short_and_the_same_server_keeps_serving(interface, cases, logged):
    server = serve_bad_answers(interface)
    rows = []
    try:
        worker = worker_pid(server)
        for path, answer, expected in cases:
            got = fetch(server.port, path)
            if expected == CUT_SHORT:
                assert incomplete(got, b"first part"), (path, got)
            else:
                assert got == expected, (path, got)
            # The good request after it: the same server process and the same worker answer it at once.
            assert fetch(server.port, "/pid") == Got("answered", 200, str(worker).encode()), path
            assert server.process.poll() is None, path
            rows.append((answer, got, "yes (same server process, same worker)"))
        if interface == "asgi":
            denied = websocket_handshake(server.port, "/websocket/deny-403")
            assert denied == Got("answered", 403, b"denied")
            refused = websocket_handshake(server.port, "/websocket/deny-status-1000")
            assert refused == Got("answered", 403, b"")  # granian's answer to a WebSocket app's error
            assert server.process.poll() is None and worker_pid(server) == worker
            rows.append(("WebSocket denial with status 1000", refused, "yes (same server process, same worker)"))
            # ASGI's scope: server and client as (host, port) with an integer port (granian gives strings).
            server_address, client_address = ast.literal_eval(fetch(server.port, "/scope").body.decode())
            assert server_address == ("127.0.0.1", server.port)
            assert client_address[0] == "127.0.0.1" and type(client_address[1]) is int
    finally:
        code, stdout, stderr = server.stop()
        print_table(interface, rows)

    assert code == 0, stderr  # SIGTERM stops it cleanly; nothing before did
    assert logged in stdout + stderr  # granian logs the app's error with its traceback
    assert "Unexpected exit" not in stdout + stderr


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_a_worker_that_dies_is_respawned_however_soon_it_dies_again(interface):
    server = serve_bad_answers(interface)
    try:
        workers = [worker_pid(server)]
        # Twice in a row: the respawned worker dies right after its first request, well within granian's 5.5 s
        # crash-loop window, which a worker that took a request is kept out of.
        for _ in range(2):
            assert fetch(server.port, "/exit") == Got("no answer")
            workers.append(worker_pid(server))
            assert server.process.poll() is None
    finally:
        code, stdout, stderr = server.stop()
    print_table(
        interface,
        [("worker exits mid-request (os._exit), twice", Got("no answer"), "yes (same server process, new worker)")],
    )

    assert len(set(workers)) == 3  # each death got a new worker
    assert stdout.count("Respawning worker-1") == 2
    assert code == 0, stderr


def test_an_app_that_does_not_load_is_a_failed_start_and_stops_the_server():
    server = Server(SERVE, cwd=ROOT, env={**APP, "APP_CALLABLE": "bad_answers_app:no_such_app"})
    server.process.wait(timeout=30)  # a worker that dies before its first request is respawned once
    code, stdout, stderr = server.stop()

    assert code == 1, stderr
    assert "AttributeError: module 'bad_answers_app' has no attribute 'no_such_app'" in stdout + stderr
    assert "Worker crash loop detected, exiting" in stdout
