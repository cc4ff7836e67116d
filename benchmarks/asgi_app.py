"""A minimal ASGI app with the routes of files/app/app.py, to compare ASGI servers (the app itself is WSGI).

Same answers as the Bottle app on its routes (JSON bodies, the ``seconds`` check of /sleep, JSON 404/405), and
the same one JSON log line per request on stdout, so an ASGI server's figures carry the app's per-request work.
/sleep waits with ``asyncio.sleep``: one event loop serves many waiting requests at once, as an ASGI app does.
No framework: what is measured is the server.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from urllib.parse import parse_qs

MAX_SLEEP_SECONDS = 900.0
MESSAGES = {"/": "healthy", "/health": "healthy", "/bang": "boom", "/pong": "ping", "/env": "server"}


def sleep_seconds(query: bytes) -> float | str:
    """The ``seconds`` query parameter (default 15), or the 400 message for a bad one."""
    values = parse_qs(query.decode("latin-1")).get("seconds")
    if not values:
        return 15.0
    raw = values[-1]
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= MAX_SLEEP_SECONDS:
        return f"seconds must be a number from 0 to {MAX_SLEEP_SECONDS:g}, not {raw!r}"
    return seconds


async def answer(scope: dict) -> tuple[int, dict, list]:
    path = scope["path"]
    if path not in MESSAGES and path != "/sleep":
        return 404, {"message": "not found"}, []
    if scope["method"] != "GET":
        return 405, {"message": "method not allowed"}, [(b"allow", b"GET")]
    if path != "/sleep":
        return 200, {"message": MESSAGES[path]}, []
    seconds = sleep_seconds(scope.get("query_string", b""))
    if isinstance(seconds, str):
        return 400, {"message": seconds}, []
    await asyncio.sleep(seconds)
    return 200, {"message": "awaken"}, []


async def app(scope: dict, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    started = time.perf_counter()
    status, payload, extra_headers = await answer(scope)
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra_headers]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    record = {
        "method": scope["method"],
        "path": scope["path"],
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        "runtime": "server",
    }
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()
