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
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


def server(config: dict[str, Any]):
    """A granian server for ``settings()``; ``serve()`` runs it until SIGTERM or SIGINT."""
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    return Server(
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
