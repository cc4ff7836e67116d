"""The demo app: a plain WSGI app (Bottle), served by AWS Lambda (behind an ALB) and by granian in an ECS task.

It is only the default of ``spillover_app_src`` (callable ``app:app``): it has no Lambda handler and no server of
its own, like any app the collection deploys.

- Lambda: the collection's entry (files/lambda_entry/spillover_entry.py, handler ``spillover_entry.handler``) turns
  ALB target-group events (single- or multi-value headers and query strings) into WSGI calls through apig-wsgi.
- Container: the collection's image recipe (files/container) runs ``serve.py`` (granian) on the same ``app``.

Every answer is JSON with a ``Content-Type`` header (the ALB rejects Lambda responses without headers), and
every request writes one JSON log line to stdout (CloudWatch Logs on both runtimes); on Lambda the collection's entry
also writes one CloudWatch embedded-metric-format line per invocation (files/lambda_entry/spillover_metrics.py).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from typing import Any

import bottle

JSON = "application/json"
DEFAULT_SLEEP_SECONDS = 15.0  # as in the seed
MAX_SLEEP_SECONDS = 900.0  # Lambda's longest timeout: a longer sleep could never finish there
ERROR_MESSAGES = {404: "not found", 405: "method not allowed", 500: "internal server error"}


def runtime() -> str:
    """``lambda`` inside the Lambda runtime (it sets AWS_LAMBDA_RUNTIME_API), else ``server``."""
    return "lambda" if os.environ.get("AWS_LAMBDA_RUNTIME_API") else "server"


def json_response(payload: dict[str, Any]) -> str:
    bottle.response.content_type = JSON
    return json.dumps(payload)


def log_request(environ: dict[str, Any], status: str, started: float) -> None:
    record = {
        "method": environ.get("REQUEST_METHOD", ""),
        "path": environ.get("PATH_INFO", ""),
        "status": int(status.split(" ", 1)[0]) if status else 500,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        "runtime": runtime(),
    }
    request_id = getattr(environ.get("apig_wsgi.context"), "aws_request_id", None)
    if request_id:
        record["request_id"] = request_id
    # One write per line, so that lines of concurrent threads never interleave.
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


class App(bottle.Bottle):
    """Bottle with JSON error bodies and one JSON log line per request."""

    def default_error_handler(self, res: bottle.HTTPError) -> str:
        return json_response({"message": ERROR_MESSAGES.get(res.status_code, res.body)})

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        started = time.perf_counter()
        status = ""

        def recording_start_response(status_line: str, headers: list, exc_info: Any = None) -> Any:
            nonlocal status
            status = status_line
            # Bottle passes exc_info with its JSON 500 (the traceback is already in wsgi.errors). No header has
            # been sent at this point, so the server should just use these headers, but apig-wsgi (the Lambda
            # entry's adapter) re-raises any exc_info, which would turn the 500 into a failed invocation (a 502).
            return start_response(status_line, headers)

        try:
            return super().wsgi(environ, recording_start_response)
        finally:
            log_request(environ, status, started)


app = App()
# The routes that answer one fixed message, by path.
FIXED_MESSAGES = {"/": "healthy", "/health": "healthy", "/bang": "boom", "/pong": "ping"}
for path, message in FIXED_MESSAGES.items():
    app.get(path)(functools.partial(json_response, {"message": message}))


@app.get("/env")
def env() -> str:
    return json_response({"message": runtime()})


def sleep_seconds(raw: str | None) -> float:
    """The ``seconds`` query parameter: a number from 0 to MAX_SLEEP_SECONDS, DEFAULT_SLEEP_SECONDS if absent."""
    if raw is None:
        return DEFAULT_SLEEP_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not 0 <= seconds <= MAX_SLEEP_SECONDS:  # also false for nan
        raise bottle.HTTPError(400, f"seconds must be a number from 0 to {MAX_SLEEP_SECONDS:g}, not {raw!r}")
    return seconds


@app.get("/sleep")
def sleep() -> str:
    time.sleep(sleep_seconds(bottle.request.query.get("seconds")))
    return json_response({"message": "awaken"})
