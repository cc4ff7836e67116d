"""The app itself, for ``python -m lab parity``: the routes it answers, and its own answers (the reference).

Run by :mod:`lab.parity` as ``python -S parity_reference.py CODE_DIR RESULT_FD`` on an unpacked copy of the Lambda
zip in CODE_DIR (the app, its vendored requirements and the collection's entry, which imports the app APP_CALLABLE
names), with the Lambda runtime's packages on PYTHONPATH. It imports the app once and writes, as JSON lines to
RESULT_FD (the app may print as it likes on stdout and stderr):

* first ``{"routes": [[method, path template], ...], "framework": ...}``, or ``{"error": ...}`` when the app does
  not import (and exits);
* then, for each request read as a JSON line on stdin (``method``, ``path`` with its query string, ``headers`` as
  ``[name, value]`` pairs, ``body`` in base64), the app's answer through a plain call of its callable, with no server
  or adapter between: ``{"status", "headers", "body"}``, or ``{"error": ...}`` when the app raised. A WSGI app gets
  a PEP 3333 environ; an ASGI app an HTTP scope, after its lifespan's startup when it has one (as Mangum's
  ``lifespan="auto"``). The answer to a HEAD has no body, as the ALB sends none.

Standard library only, as it runs beside the app and nothing else. The routes read are those of the frameworks whose
routing tables say it all: Flask (Werkzeug's ``url_map``), Starlette and FastAPI (``routes``, through mounts and
middleware) and Bottle (``routes``); for any other app the list is empty and the parity check says so.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import sys
import traceback
from urllib.parse import unquote, unquote_to_bytes, urlsplit

# HEAD and OPTIONS are answered by the frameworks themselves for every route.
SKIPPED_METHODS = {"HEAD", "OPTIONS"}
# Where the app's server sees its requests come from: the load balancer, on the container's port.
PEER = "127.0.0.1"


def _flask(app) -> list[tuple[str, str]]:
    return [
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in sorted(set(rule.methods or ()) - SKIPPED_METHODS)
    ]


def _starlette(routes, prefix: str = "") -> list[tuple[str, str]]:
    found = []
    for route in routes:
        path = prefix + getattr(route, "path", "")
        if getattr(route, "routes", None) is not None and getattr(route, "methods", None) is None:  # a Mount
            found += _starlette(route.routes, path)
        elif getattr(route, "methods", None):
            found += [(method, path) for method in sorted(set(route.methods) - SKIPPED_METHODS)]
    return found


def _bottle(app) -> list[tuple[str, str]]:
    return [(route.method, route.rule) for route in app.routes if route.method not in SKIPPED_METHODS]


def routes(app) -> tuple[list[tuple[str, str]], str]:
    """``([(method, path template)], framework)`` of ``app`` (unwrapping ASGI middleware's ``app``)."""
    for _ in range(10):
        if hasattr(app, "url_map") and hasattr(app.url_map, "iter_rules"):
            return _flask(app), "flask"
        table = getattr(app, "routes", None)
        if isinstance(table, list) and table and hasattr(table[0], "rule") and hasattr(table[0], "method"):
            return _bottle(app), "bottle"
        if isinstance(table, list) and all(hasattr(route, "path") for route in table):
            return _starlette(table), "starlette"
        if getattr(app, "app", None) is None:
            break
        app = app.app
    return [], ""


def _host(headers: list[tuple[str, str]], port: int) -> tuple[str, int]:
    host = next((value for name, value in headers if name.lower() == "host"), "")
    name, _, given = host.partition(":")
    return name or "localhost", int(given) if given.isdigit() else port


def wsgi_answer(app, method: str, path: str, headers: list[tuple[str, str]], body: bytes, port: int) -> dict:
    """``app``'s answer to one request, called with a PEP 3333 environ (headers of one name joined by commas)."""
    parts = urlsplit(path)
    server, server_port = _host(headers, port)
    environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(parts.path).decode("latin-1"),
        "QUERY_STRING": parts.query,
        "SERVER_NAME": server,
        "SERVER_PORT": str(server_port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": PEER,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    started: dict = {}
    chunks: list[bytes] = []

    def start_response(status: str, response_headers: list, exc_info=None):
        # Nothing is sent before the app returns, so a later status (with exc_info) replaces the first (PEP 3333).
        started.update(status=int(status.split(" ", 1)[0]), headers=[list(pair) for pair in response_headers])
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return {**started, "body": b"".join(chunks)}


class AsgiApp:
    """An ASGI app called on one event loop, its lifespan started first when it has one (Mangum's ``auto``)."""

    def __init__(self, app) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.state: dict = {}
        self._lifespan: asyncio.Task | None = None
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._outbox: asyncio.Queue = asyncio.Queue()
        self.loop.run_until_complete(self._startup())

    async def _startup(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        task = asyncio.ensure_future(self.app(scope, self._inbox.get, self._outbox.put))
        await self._inbox.put({"type": "lifespan.startup"})
        reply = asyncio.ensure_future(self._outbox.get())
        await asyncio.wait({task, reply}, return_when=asyncio.FIRST_COMPLETED)
        if not reply.done():  # the app returned or raised at once: it has no lifespan
            reply.cancel()
            if not task.cancelled() and task.exception() is not None:
                print(f"lab parity: the app has no lifespan ({task.exception()!r})", file=sys.stderr)
            return
        if reply.result()["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"the app's lifespan startup failed: {reply.result().get('message', '')}")
        self._lifespan = task

    def close(self) -> None:
        if self._lifespan is not None and not self._lifespan.done():
            self.loop.run_until_complete(self._inbox.put({"type": "lifespan.shutdown"}))
            self.loop.run_until_complete(asyncio.wait({self._lifespan}, timeout=5))
        self.loop.close()

    def answer(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes, port: int) -> dict:
        """``app``'s answer to one request, called with an HTTP scope."""
        parts = urlsplit(path)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": unquote(parts.path),
            "raw_path": parts.path.encode("latin-1"),
            "query_string": parts.query.encode("latin-1"),
            "root_path": "",
            "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
            "client": (PEER, 0),
            "server": _host(headers, port),
            "state": dict(self.state),
        }
        return self.loop.run_until_complete(self._call(scope, body))

    async def _call(self, scope: dict, body: bytes) -> dict:
        answered = asyncio.Event()
        started: dict = {}
        chunks: list[bytes] = []
        requested = False

        async def receive() -> dict:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": body, "more_body": False}
            await answered.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = [[name.decode("latin-1"), value.decode("latin-1")] for name, value in message["headers"]]
                started.update(status=int(message["status"]), headers=headers)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    answered.set()

        try:
            await self.app(scope, receive, send)
        finally:
            answered.set()
        return {**started, "body": b"".join(chunks)}


def main() -> None:
    code_dir, result_fd = sys.argv[1], int(sys.argv[2])
    sys.path[0] = code_dir  # the app's code first, as in /var/task; not this file's directory
    replies = os.fdopen(result_fd, "w", buffering=1)
    try:
        import spillover_entry

        target, interface = spillover_entry.app_settings(os.environ)
        app = spillover_entry.load_callable(target)
        found, framework = routes(app)
        caller = AsgiApp(app) if interface == "asgi" else None
    except BaseException as error:  # the app's own import error, whatever it is
        traceback.print_exc()
        replies.write(json.dumps({"error": f"{type(error).__name__}: {error}"}) + "\n")
        sys.exit(1)
    replies.write(json.dumps({"routes": found, "framework": framework}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        arguments = (
            request["method"],
            request["path"],
            [tuple(pair) for pair in request["headers"]],
            base64.b64decode(request["body"]),
            request["port"],
        )
        try:
            answer = caller.answer(*arguments) if caller else wsgi_answer(app, *arguments)
        except Exception as error:
            traceback.print_exc()
            replies.write(json.dumps({"error": f"{type(error).__name__}: {error}"}) + "\n")
            continue
        body = b"" if request["method"] == "HEAD" else answer["body"]
        reply = {"status": answer.get("status", 500), "headers": answer.get("headers", [])}
        replies.write(json.dumps({**reply, "body": base64.b64encode(body).decode()}) + "\n")
    if caller:
        caller.close()


if __name__ == "__main__":
    main()
