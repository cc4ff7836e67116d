"""A WSGI app (``wsgi``) and an ASGI app (``asgi``) whose routes each give one bad answer, for the container's server
(files/container/serve.py) to survive: tests/integration/test_app_container_bad_answers.py serves them with
``APP_DIR=tests/support APP_CALLABLE=bad_answers_app:wsgi`` (or ``:asgi``).

Both also answer ``/health`` and ``/pid`` (the worker's process id, to tell whether a worker was replaced), and
``/exit`` ends the worker's process in the middle of the request, as a crash of native code would.
"""

from __future__ import annotations

import os
import sys

# --- WSGI ------------------------------------------------------------------------------------------------------------


def wsgi_status(status):
    def route(start_response):
        start_response(status, [("Content-Type", "text/plain")])
        return [b"x"]

    return route


def wsgi_header(name, value):
    def route(start_response):
        start_response("200 OK", [(name, value)])
        return [b"x"]

    return route


def raise_after_start_response(start_response):
    start_response("200 OK", [])
    raise RuntimeError("the app failed after start_response")


def start_response_twice(start_response):
    start_response("200 OK", [])
    start_response("201 Created", [])
    return [b"x"]


def no_start_response(start_response):
    return [b"x"]


def returns_none(start_response):
    start_response("200 OK", [])


def returns_an_int(start_response):
    start_response("200 OK", [])
    return 5


def str_body(start_response):
    start_response("200 OK", [])
    return ["text"]


def raise_before_the_first_chunk(start_response):
    start_response("200 OK", [])
    yield b""
    raise RuntimeError("the body failed before its first chunk")


def raise_mid_body(start_response):
    start_response("200 OK", [("Content-Length", "20")])
    yield b"first part"
    raise RuntimeError("the body failed after its first chunk")


def str_mid_body(start_response):
    start_response("200 OK", [])
    yield b"first part"
    yield "text"


def start_response_in_the_body(start_response):
    """PEP 3333 lets a generator call start_response when it is first read."""
    start_response("201 Created", [("X-Started", "in the body")])
    yield b"created"


def error_page(start_response):
    """PEP 3333's error page: start_response again with exc_info, before anything was sent."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("the app caught its own error")
    except ValueError:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"error page"]


def exit_worker(start_response):
    os._exit(70)


WSGI_ROUTES = {
    "/status/0": wsgi_status("0 Zero"),
    "/status/1": wsgi_status("1 One"),
    "/status/99": wsgi_status("99 Low"),
    "/status/101": wsgi_status("101 Switching Protocols"),
    "/status/600": wsgi_status("600 High"),
    "/status/1000": wsgi_status("1000 Huge"),
    "/status/garbage": wsgi_status("OK 200"),
    "/status/crlf": wsgi_status("200 OK\r\nX-Evil: 1"),
    "/status/bytes": wsgi_status(b"200 OK"),
    "/header/not-latin-1": wsgi_header("X-Price", "10 €"),
    "/header/crlf-value": wsgi_header("X-Note", "a\r\nX-Evil: 1"),
    "/header/crlf-name": wsgi_header("X-Note\r\nX-Evil", "1"),
    "/header/int-value": wsgi_header("X-Count", 5),
    "/raise-after-start-response": raise_after_start_response,
    "/start-response-twice": start_response_twice,
    "/no-start-response": no_start_response,
    "/returns-none": returns_none,
    "/returns-an-int": returns_an_int,
    "/str-body": str_body,
    "/raise-before-the-first-chunk": raise_before_the_first_chunk,
    "/raise-mid-body": raise_mid_body,
    "/str-mid-body": str_mid_body,
    "/start-response-in-the-body": start_response_in_the_body,
    "/error-page": error_page,
    "/exit": exit_worker,
}


def wsgi(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/health":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"healthy"]
    if path == "/pid":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(os.getpid()).encode()]
    return WSGI_ROUTES[path](start_response)


# --- ASGI ------------------------------------------------------------------------------------------------------------


def start(status=200, headers=()):
    return {"type": "http.response.start", "status": status, "headers": list(headers)}


def body(data=b"", more=False):
    return {"type": "http.response.body", "body": data, "more_body": more}


def asgi_answer(*messages, then=None):
    """A route that sends ``messages``, then raises ``then`` if given."""

    async def route(send):
        for message in messages:
            await send(message)
        if then is not None:
            raise then

    return route


async def exit_asgi_worker(send):
    os._exit(70)


ASGI_ROUTES = {
    "/status/0": asgi_answer(start(0), body(b"x")),
    "/status/1": asgi_answer(start(1), body(b"x")),
    "/status/99": asgi_answer(start(99), body(b"x")),
    "/status/101": asgi_answer(start(101), body(b"x")),
    "/status/600": asgi_answer(start(600), body(b"x")),
    "/status/1000": asgi_answer(start(1000), body(b"x")),
    "/status/str": asgi_answer(start("200"), body(b"x")),
    "/status/bool": asgi_answer(start(True), body(b"x")),
    "/header/crlf-value": asgi_answer(start(200, [(b"x-note", b"a\r\nx-evil: 1")]), body(b"x")),
    "/header/crlf-name": asgi_answer(start(200, [(b"x-note\r\nx-evil", b"1")]), body(b"x")),
    "/header/str": asgi_answer(start(200, [("x-note", "a")]), body(b"x")),
    "/body-before-start": asgi_answer(body(b"x")),
    "/two-starts": asgi_answer(start(200), start(201), body(b"x")),
    "/str-body": asgi_answer(start(200), body("text")),
    "/str-mid-body": asgi_answer(start(200), body(b"first part", more=True), body("text")),
    "/after-the-final-body": asgi_answer(start(200), body(b"complete"), body(b"more")),
    "/raise-after-start": asgi_answer(start(200), then=RuntimeError("the app failed after its start")),
    "/raise-mid-body": asgi_answer(
        start(200), body(b"first part", more=True), then=RuntimeError("the app failed mid-body")
    ),
    "/no-answer": asgi_answer(),
    "/unknown-message": asgi_answer({"type": "http.response.nonsense"}),
    "/exit": exit_asgi_worker,
}


async def asgi(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    path = scope["path"]
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        status = 1000 if path == "/websocket/deny-status-1000" else 403
        await send({"type": "websocket.http.response.start", "status": status, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b"denied"})
        return
    if path == "/health":
        await send(start(200, [(b"content-type", b"text/plain")]))
        await send(body(b"healthy"))
    elif path == "/pid":
        await send(start(200, [(b"content-type", b"text/plain")]))
        await send(body(str(os.getpid()).encode()))
    elif path == "/scope":
        server, client = scope["server"], scope["client"]
        await send(start(200, [(b"content-type", b"text/plain")]))
        await send(body(repr((server, client)).encode()))
    else:
        await ASGI_ROUTES[path](send)
