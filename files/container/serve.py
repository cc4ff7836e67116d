"""The container's server for any app: granian (a Rust HTTP server) serving a WSGI or an ASGI callable.

The collection's image recipe (files/container/Dockerfile) runs it as ``python /opt/spillover/serve.py`` with the app
in /var/task, the Lambda zip's layout and path; from the repository root the demo app runs with
``APP_DIR=files/app python files/container/serve.py``.
``make bench-app`` compares it with gunicorn, uvicorn and wsgiref under a Fargate task's budget (0.25 vCPU, 512 MiB).

Environment (all optional):
  HOST, PORT                address to listen on (default 0.0.0.0:8080)
  APP_DIR                   the app's directory, where APP_CALLABLE is imported from (default the working directory;
                            the image sets /var/task)
  APP_CALLABLE              the ``module:attribute`` to serve (default app:app), the same variable as the Lambda
                            entry's (files/lambda_entry/spillover_entry.py)
  APP_INTERFACE             wsgi or asgi (default wsgi)
  SERVER_WORKERS            worker processes (default 1: a quarter of a vCPU gains nothing from a second one)
  SERVER_THREADS            WSGI only: threads per worker that run the app (default 32: requests that wait, such as
                            /sleep, hold a thread but no CPU); an ASGI app runs on one event loop thread
  SERVER_GRACEFUL_TIMEOUT   seconds in-flight requests get after SIGTERM before the workers are killed (default 25,
                            inside ECS's default 30 s stop timeout, after which the task gets SIGKILL: raise both
                            together, ecs_service_stop_timeout up to Fargate's 120 s)
  SERVER_KEEPALIVE          seconds an idle keep-alive connection stays open, up to 4005 (default 75: longer than
                            AWS's default ALB idle timeout, 60 s; the ecs_service role sets it to the stack's
                            alb_idle_timeout + 5), so the ALB, not the server, closes idle connections
  SERVER_LOG_LEVEL          debug, info, warning, error or critical (default info)

The app writes one JSON line per request itself, so granian's access log stays off. A bad setting stops the server
before it listens, with a message that names the variable.

No answer of the app stops the server. granian gets the app's callable behind a guard (``guard_wsgi``,
``guard_asgi``) that checks what the app hands the server before granian sees it: a status granian cannot send made
its worker panic, and with it the whole server (a status of 1 took a task down). A bad answer raises ``BadAnswer``
in the app, which granian logs and answers with a 500, or cuts short if the response has begun. A worker that dies
anyway is respawned; the server exits on SIGTERM (or SIGINT), or when a worker dies before its first request twice
in a row (a failed start: the app does not import, its lifespan startup fails).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from granian._internal import load_target
from granian.constants import Interfaces
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server import Server

MAX_STOP_TIMEOUT = 120  # seconds from SIGTERM to SIGKILL at most on Fargate (the task definition's stopTimeout)
# An ALB's idle timeout is at most 4000 s; the keep-alive must outlast it (the ecs_service role adds 5 s).
MAX_KEEPALIVE = 4000 + 5
INTERFACES = ("wsgi", "asgi")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class SettingError(ValueError):
    """An environment variable the server cannot use; the message says which and what it accepts."""


def _integer(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = environ.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise SettingError(f"{name} must be a whole number from {low} to {high}, not {raw!r}")
    return value


def _choice(environ: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = environ.get(name, "").strip().lower() or default
    if value not in choices:
        raise SettingError(f"{name} must be one of {', '.join(choices)}, not {environ[name]!r}")
    return value


def settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """The server's settings from the environment, checked; plain values, so that they can be tested and printed."""
    interface = _choice(environ, "APP_INTERFACE", "wsgi", INTERFACES)
    target = environ.get("APP_CALLABLE", "").strip() or "app:app"
    module, _colon, attribute = target.partition(":")
    if not module or not attribute:
        raise SettingError(f"APP_CALLABLE must be module:attribute, such as app:app, not {target!r}")
    if interface == "asgi" and environ.get("SERVER_THREADS", "").strip() not in ("", "1"):
        raise SettingError("SERVER_THREADS applies to WSGI apps only: an ASGI app runs on one event loop thread")
    app_dir = Path(environ.get("APP_DIR", "").strip() or os.getcwd()).resolve()
    if not app_dir.is_dir():
        raise SettingError(f"APP_DIR must be the app's directory, not {environ['APP_DIR']!r} (no such directory)")
    return {
        "target": target,
        "app_dir": app_dir,
        "interface": interface,
        "address": environ.get("HOST", "").strip() or "0.0.0.0",
        "port": _integer(environ, "PORT", 8080, 1, 65535),
        "workers": _integer(environ, "SERVER_WORKERS", 1, 1, 64),
        "threads": _integer(environ, "SERVER_THREADS", 32, 1, 1024) if interface == "wsgi" else 1,
        "graceful_timeout": _integer(environ, "SERVER_GRACEFUL_TIMEOUT", 25, 1, MAX_STOP_TIMEOUT - 1),
        "keepalive": _integer(environ, "SERVER_KEEPALIVE", 75, 1, MAX_KEEPALIVE),
        "log_level": _choice(environ, "SERVER_LOG_LEVEL", "info", LOG_LEVELS),
    }


# --- the guard: what the app hands the server, checked before granian sees it ------------------------------------

# A final answer's status. granian's worker panics on a status outside 100-999 (and the server exits with it); it sends
# 600-999 with no reason phrase and a 1xx as if it were final, which no client takes as an answer.
STATUSES = range(200, 600)
WSGI_STATUS = re.compile(r"([0-9]{3})(?: [\t\x20-\x7e\x80-\xff]*)?")  # PEP 3333's "200 OK" (the reason may be empty)
# RFC 9110: a field name is a token; a field value is visible ASCII, spaces, tabs and obs-text (no CR, LF or NUL),
# which for WSGI's native strings also means latin-1. granian drops a WSGI header with CR or LF without a word, and
# sends a value that is not latin-1 as UTF-8; it answers 500 to an ASGI app's bad header itself.
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
ASGI_STARTS = frozenset({"http.response.start", "websocket.http.response.start"})
ASGI_BODIES = frozenset({"http.response.body", "websocket.http.response.body"})


class BadAnswer(RuntimeError):
    """An answer of the app that the server cannot send; raised in the app, so granian logs it with the app's
    traceback and answers 500, or cuts the response short once it has begun."""


def checked_headers(headers: Any) -> list:
    """A WSGI app's ``headers``, a list of (name, value) pairs of str, each a valid field name and value."""
    try:
        pairs = headers if isinstance(headers, list) else list(headers)
        for name, value in pairs:
            if not HEADER_NAME.fullmatch(name):
                raise BadAnswer(f"header name {name!r} is not a token (RFC 9110)")
            if not HEADER_VALUE.fullmatch(value):
                raise BadAnswer(f"header {name!r}: {value!r} has a control character or is not latin-1")
    except (TypeError, ValueError):
        raise BadAnswer(f"headers must be (name, value) pairs of str, not {headers!r}") from None
    return pairs


class WSGIAnswer:
    """One request's status and headers, from the app's ``start_response`` calls (PEP 3333), checked as they come.

    The guard hands none of it to granian before the app's first non-empty chunk (or its end), so a later call with
    ``exc_info`` (an error page) replaces it; once handed over, such a call re-raises the app's error.
    """

    __slots__ = ("headers", "sent", "status")

    def __init__(self) -> None:
        self.status: str | None = None
        self.headers: list = []
        self.sent = False

    def start_response(self, status: Any, headers: Any, exc_info: Any = None) -> None:
        if exc_info is not None:
            if self.sent:
                raise exc_info[1].with_traceback(exc_info[2])
        elif self.status is not None:
            raise BadAnswer("start_response called a second time without exc_info")
        matched = WSGI_STATUS.fullmatch(status) if isinstance(status, str) else None
        if matched is None or int(matched.group(1)) not in STATUSES:
            raise BadAnswer(f"status {status!r} is not a status line from 200 to 599, such as '200 OK'")
        self.headers = checked_headers(headers)
        self.status = status

    def send(self, start_response: Callable) -> None:
        if self.status is None:
            raise BadAnswer("the app answered without calling start_response")
        self.sent = True
        start_response(self.status, self.headers)


class WSGIBody:
    """The app's body after its first chunk, for granian to stream: every chunk checked, ``close()`` passed on."""

    __slots__ = ("chunks", "first", "result")

    def __init__(self, first: bytes, chunks: Any, result: Iterable) -> None:
        self.first, self.chunks, self.result = first, chunks, result

    def __iter__(self) -> WSGIBody:
        return self

    def __next__(self) -> bytes:
        if self.first is not None:
            chunk, self.first = self.first, None
            return chunk
        return checked_chunk(next(self.chunks))

    def close(self) -> None:
        close_result(self.result)


def checked_chunk(chunk: Any) -> bytes:
    if not isinstance(chunk, bytes):
        raise BadAnswer(f"the body holds a {type(chunk).__name__}, not bytes")
    return chunk


def close_result(result: Any) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()


def guard_wsgi(app: Callable, serving: Callable[[], None] = lambda: None) -> Callable:
    """``app`` as granian may call it: the status, headers and body it answers are checked first (PEP 3333), and a
    ``start_response`` it calls only when its iterable is first read (a generator) is honoured. ``serving()`` is
    called on every request."""

    def guarded(environ: dict, start_response: Callable) -> Iterable[bytes]:
        serving()
        answer = WSGIAnswer()
        result = app(environ, answer.start_response)
        if isinstance(result, list) and answer.status is not None:  # a whole body (Bottle's); granian joins the chunks
            for chunk in result:
                checked_chunk(chunk)
            answer.send(start_response)
            return result
        try:
            chunks = iter(result)
        except TypeError:
            raise BadAnswer(f"the app returned {result!r}, not an iterable of bytes") from None
        try:
            first = next((chunk for chunk in map(checked_chunk, chunks) if chunk), None)
            answer.send(start_response)
        except BaseException:
            close_result(result)
            raise
        if first is None:
            close_result(result)
            return []
        return WSGIBody(first, chunks, result)

    return guarded


def asgi_address(address: Any) -> Any:
    """A ``server`` or ``client`` scope value as ASGI has it, ``(host, port)`` with an integer port, or None; granian
    gives the port as a string."""
    if address is None or (isinstance(address[1], int) and not isinstance(address[1], bool)):
        return address
    return (address[0], int(address[1]))


def check_asgi_message(message: Any) -> None:
    """Check a start's status and a body's bytes in ``message``, one the app sends (the ASGI spec). granian answers
    500 itself to the rest: messages out of order, unknown ones, bad headers."""
    kind = message.get("type") if isinstance(message, dict) else None
    if kind in ASGI_STARTS:
        status = message.get("status")
        if isinstance(status, bool) or not isinstance(status, int) or status not in STATUSES:
            raise BadAnswer(f"{kind} status {status!r} is not an integer from 200 to 599")
    elif kind in ASGI_BODIES and not isinstance(message.get("body", b""), (bytes, bytearray, memoryview)):
        raise BadAnswer(f"{kind} body is a {type(message['body']).__name__}, not bytes")


def guard_asgi(app: Callable, serving: Callable[[], None] = lambda: None) -> Callable:
    """``app`` as granian may call it: the scope's ``server`` and ``client`` as the ASGI spec has them, and the
    messages the app sends checked first. Once a message was refused, so is every later one, and the request ends
    with the error even if the app swallowed it, so a response cut short never looks complete. ``serving()`` is
    called on every HTTP or WebSocket request."""

    async def guarded(scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            return await app(scope, receive, send)
        serving()
        scope["server"], scope["client"] = asgi_address(scope.get("server")), asgi_address(scope.get("client"))
        refused: list[BadAnswer] = []

        async def checked_send(message: Any) -> None:
            if refused:
                raise BadAnswer(f"{refused[0]} (so no later message is sent)")
            try:
                check_asgi_message(message)
            except BadAnswer as error:
                refused.append(error)
                raise
            await send(message)

        await app(scope, receive, checked_send)
        if refused:
            raise refused[0]

    return guarded


GUARDS = {"wsgi": guard_wsgi, "asgi": guard_asgi}


def load_guarded(target: str, *, interface: str, app_dir: Path, serving: Any, worker: int) -> Callable:
    """In a worker: the app's callable, imported as granian imports it (from ``app_dir``), behind its guard, which
    marks ``serving[worker]`` once the worker takes requests."""
    return GUARDS[interface](load_target(target, wd=app_dir), partial(serving.__setitem__, worker, 1))


class RespawnTimes(dict):
    """granian's record of when it respawned each worker, which its crash-loop rule reads when a worker dies (a
    second death within 5.5 s of a respawn stops the server). A worker that took a request had started, so it is left
    out: it is respawned however soon it dies again, and only a worker that dies before its first request counts."""

    def __init__(self, serving: Any) -> None:
        super().__init__()
        self.serving = serving

    def get(self, worker: int, default: Any = None) -> Any:
        return default if self.serving[worker] else super().get(worker, default)


class GuardedServer(Server):
    """granian's server with each worker's app behind its guard, and a worker that dies respawned."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, respawn_failed_workers=True, **kwargs)
        self.serving = multiprocessing.RawArray("b", self.workers)  # per worker: took a request since it was spawned
        self.respawned_wrks = RespawnTimes(self.serving)

    def _spawn_worker(self, idx: int, target: Any, callback_loader: Callable) -> Any:
        self.serving[idx] = 0
        return super()._spawn_worker(idx, target, partial(callback_loader, serving=self.serving, worker=idx))

    def serve(self) -> None:
        """Serve until SIGTERM or SIGINT."""
        super().serve(target_loader=partial(load_guarded, interface=self.interface.value, app_dir=self.working_dir))


def server(config: dict[str, Any]) -> GuardedServer:
    """A granian server for ``settings()``; ``serve()`` runs it until SIGTERM or SIGINT."""
    return GuardedServer(
        config["target"],
        address=config["address"],
        port=config["port"],
        interface=Interfaces(config["interface"]),
        workers=config["workers"],
        blocking_threads=config["threads"],
        websockets=config["interface"] == "asgi",
        # hyper closes a keep-alive connection that sends no next request within the header read timeout.
        http1_settings=HTTP1Settings(header_read_timeout=config["keepalive"] * 1000),
        workers_kill_timeout=config["graceful_timeout"],
        log_level=LogLevels(config["log_level"]),
        log_access=False,
        working_dir=config["app_dir"],
    )


def main() -> None:
    try:
        config = settings(os.environ)
    except SettingError as error:
        sys.exit(f"serve.py: {error}")
    server(config).serve()


if __name__ == "__main__":
    main()
