"""The collection's Lambda entry: serve any WSGI or ASGI app to an ALB, with no handler in the app's code.

The lambda_function role packs this file at the root of the function's zip, beside the app and its vendored
requirements, and sets the function's handler to ``spillover_entry.handler``. The app is named by the same two
environment variables the container's server (serve.py) reads, so both runtimes serve the same callable:

  APP_CALLABLE    ``module:attribute`` of the app (default app:app); the attribute may be dotted (``api:server.app``)
  APP_INTERFACE   wsgi or asgi (default wsgi)

WSGI apps go through apig-wsgi, ASGI apps through Mangum (its ALB handler, lifespan ``auto``). Both answer an ALB
event in the header shape it came in: ``multiValueHeaders`` when the target group sends them (the lambda_function
role turns them on), ``headers`` otherwise. Every invocation, a failed one too, also writes its CloudWatch
embedded-metric-format line (spillover_metrics.py, packed beside this file: count, duration, cold start), which the
alarm role's pressure alarms read. The app is imported once per execution environment (the cold start); a
callable that does not import, or a bad setting, fails the environment's init with a message that names it.

``python spillover_entry.py check ...`` is the deployment's pre-flight check (the app_check module runs it in a
fresh interpreter with only the app and its requirements on the path): import the app, tell WSGI from ASGI, and send
ALB events for the health path through this same handler: one with the Host a client's request has (``--host``,
default ``spillover-check.invalid``), and, with ``--ecs-host``, one as the load balancer's health check asks an ECS
task (Host: the task's private IP and port, no X-Forwarded-* headers), which an app that checks Host headers
(Django's ALLOWED_HOSTS) must answer too.
"""

from __future__ import annotations

import base64
import importlib
import inspect
import json
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any

INTERFACES = ("wsgi", "asgi")
DEFAULT_CALLABLE = "app:app"
# The check's Host unless told another (the spillover_app role's spillover_app_health_host): a name of no one's
# (RFC 2606's .invalid).
CHECK_HOST = "spillover-check.invalid"


class EntryError(ValueError):
    """The app cannot be served as configured; the message says which setting and what it accepts."""


def app_settings(environ: Mapping[str, str]) -> tuple[str, str]:
    """``(APP_CALLABLE, APP_INTERFACE)`` from the environment, checked."""
    target = environ.get("APP_CALLABLE", "").strip() or DEFAULT_CALLABLE
    module, _colon, attribute = target.partition(":")
    if not module or not attribute:
        raise EntryError(f"APP_CALLABLE must be module:attribute, such as app:app, not {target!r}")
    interface = environ.get("APP_INTERFACE", "").strip().lower() or "wsgi"
    if interface not in INTERFACES:
        raise EntryError(f"APP_INTERFACE must be one of {', '.join(INTERFACES)}, not {environ['APP_INTERFACE']!r}")
    return target, interface


def load_callable(target: str) -> Any:
    """The object ``module:attribute`` names (the module is imported; its own errors propagate)."""
    module_name, _colon, attribute = target.partition(":")
    found: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise EntryError(f"APP_CALLABLE {target}: module {module_name} has no attribute {attribute}") from None
    if not callable(found):
        raise EntryError(f"APP_CALLABLE {target} is a {type(found).__name__}, not a WSGI or ASGI callable")
    return found


def interface_of(app: Any) -> str | None:
    """``asgi`` for a coroutine callable ``(scope, receive, send)``, ``wsgi`` for ``(environ, start_response)``.

    None when the signature says neither (the caller then trusts the declared interface and the health check).
    """
    call = app if inspect.isroutine(app) else getattr(app, "__call__", None)  # noqa: B004 (the bound method)
    if inspect.iscoroutinefunction(call):
        return "asgi"
    try:
        parameters = inspect.signature(app).parameters.values()
    except (TypeError, ValueError):
        return None
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return {2: "wsgi", 3: "asgi"}.get(len(positional))


def _sent_a_length(event: Mapping[str, Any]) -> bool:
    """Whether the client's request, as the ALB passed it on, carried a Content-Length header."""
    headers = event.get("multiValueHeaders") or event.get("headers") or {}
    return any(name.lower() == "content-length" for name in headers)


def buffered_start_response(app: Any) -> Callable:
    """``app`` given the request as the container's server gives it, and with ``exc_info`` handled as PEP 3333 says
    for headers not sent yet: the new status replaces the old.

    * apig-wsgi sets ``CONTENT_LENGTH`` to the length of the body it got, "0" for a GET without one, where the client
      sent no Content-Length: the app (httpbin's echo, an ETag of the request's headers) saw a header on Lambda that
      it does not see on ECS. It is left out when the request had none and no body.
    * apig-wsgi buffers the whole answer, so no header is ever sent before the app returns, yet it re-raises any
      ``exc_info`` (Bottle passes one with its 500 page), which would make a 500 a failed invocation (an ALB 502)
      where the container's server answers the 500.
    """

    def wsgi(environ: dict, start_response: Callable) -> Any:
        def start(status: str, headers: list, exc_info: Any = None) -> Any:
            return start_response(status, headers)

        if environ.get("CONTENT_LENGTH") == "0" and not _sent_a_length(environ.get("apig_wsgi.full_event") or {}):
            del environ["CONTENT_LENGTH"]
        return app(environ, start)

    return wsgi


# The statuses the container's server sends (files/container/serve.py's guard answers 500 for any other): a final
# answer, not 1xx, and a three-digit code. The ALB is given the same 500 rather than a status no client can be sent.
FINAL_STATUSES = range(200, 600)
# The 500 each server gives for an app's answer it cannot send: granian's, as the container answers.
BAD_ANSWER_BODY = {"wsgi": "", "asgi": "Internal server error"}


def answerable(handler: Callable[[dict, Any], dict], interface: str) -> Callable[[dict, Any], dict]:
    """``handler`` whose answer with a status outside 200-599 becomes the 500 the container's server answers, logged
    with the status the app gave (on ECS the same answer is a 500 too; any client-chosen status, httpbin's
    ``/status/1``, would otherwise reach the ALB as it is)."""

    def checked(event: dict, context: Any) -> dict:
        response = handler(event, context)
        status = response.get("statusCode")
        if isinstance(status, int) and not isinstance(status, bool) and status in FINAL_STATUSES:
            return response
        print(
            json.dumps({"level": "ERROR", "message": f"the app answered status {status!r}: answered 500 instead"}),
            file=sys.stderr,
        )
        headers = "multiValueHeaders" if "multiValueHeaders" in event else "headers"
        body = BAD_ANSWER_BODY[interface]
        content = {"content-type": "text/plain; charset=utf-8"} if body else {}
        shaped = {key: [value] for key, value in content.items()} if headers == "multiValueHeaders" else content
        return {"statusCode": 500, headers: shaped, "isBase64Encoded": False, "body": body}

    return checked


def make_handler(app: Any, interface: str) -> Callable[[dict, Any], dict]:
    """The ALB event handler of ``app``: apig-wsgi for WSGI, Mangum for ASGI, answering 500 for a status the
    container's server would not send either (:func:`answerable`)."""
    if interface == "wsgi":
        from apig_wsgi import make_lambda_handler

        return answerable(make_lambda_handler(buffered_start_response(app)), interface)
    from mangum import Mangum

    return answerable(Mangum(app, lifespan="auto"), interface)


def metered_handler(app: Any, interface: str) -> Callable[[dict, Any], dict]:
    """:func:`make_handler`'s handler of ``app``, writing one line of invocation metrics per invocation."""
    from spillover_metrics import metered  # beside this file in the zip; the pre-flight check does without it

    return metered(make_handler(app, interface))


def handler_from_environment() -> Callable[[dict, Any], dict]:
    """The handler the function runs: the app that ``APP_CALLABLE`` and ``APP_INTERFACE`` name, metered."""
    target, interface = app_settings(os.environ)
    return metered_handler(load_callable(target), interface)


# In Lambda (which sets LAMBDA_TASK_ROOT) the app is imported with this module, in the execution environment's init
# phase: the cold start, where an app that does not import fails the init. Elsewhere (tests, tools) on the first call.
_serve = handler_from_environment() if os.environ.get("LAMBDA_TASK_ROOT") and __name__ != "__main__" else None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Serve one ALB target-group event with the app."""
    global _serve
    if _serve is None:
        _serve = handler_from_environment()
    return _serve(event, context)


# -- the pre-flight check ------------------------------------------------------------------------------------------
class _CheckContext:
    """The attributes of a Lambda context object that apps and adapters read."""

    function_name = "spillover-check"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:spillover-check"
    memory_limit_in_mb = 512
    aws_request_id = "spillover-check"
    log_group_name = "/aws/lambda/spillover-check"
    log_stream_name = "check"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def health_event(path: str, host: str = CHECK_HOST, forwarded: bool = True) -> dict[str, Any]:
    """An ALB event of ``GET path`` as a target group with multi-value headers sends it, with Host ``host``: with
    ``forwarded``, the X-Forwarded-* headers the load balancer adds to a client's request; without, none, as in the
    load balancer's own health check of a target."""
    headers = {"host": [host], "user-agent": ["ELB-HealthChecker/2.0"]}
    if forwarded:
        headers.update({"x-forwarded-for": ["127.0.0.1"], "x-forwarded-port": ["80"], "x-forwarded-proto": ["http"]})
    return {
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:::targetgroup/check/0"}},
        "httpMethod": "GET",
        "path": path,
        "multiValueQueryStringParameters": {},
        "multiValueHeaders": headers,
        "body": "",
        "isBase64Encoded": False,
    }


def _answer(serve: Callable[..., dict[str, Any]], path: str, host: str, forwarded: bool) -> tuple[int, str]:
    """``(status, body)`` of ``GET path`` with Host ``host`` through the handler ``serve``."""
    response = serve(health_event(path, host, forwarded), _CheckContext())
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    return int(response.get("statusCode", 0)), body


def check(health_path: str, host: str = CHECK_HOST, ecs_host: str | None = None) -> dict[str, Any]:
    """Import the app named by the environment, tell its interface, and GET ``health_path`` through the handler with
    Host ``host``, then (``ecs_host``) as the load balancer's health check of an ECS task.

    Returns ``{"ok": bool, "problem": "callable"|"interface"|"health"|"ecs_health"|None, "message", "interface",
    "status"}``; the app's own traceback is printed to stderr.
    """
    try:
        target, declared = app_settings(os.environ)
    except EntryError as error:
        return {"ok": False, "problem": "callable", "message": str(error)}
    try:
        app = load_callable(target)
    except EntryError as error:
        return {"ok": False, "problem": "callable", "message": str(error)}
    except BaseException as error:  # the app's own import error, whatever it is
        traceback.print_exc()
        return {"ok": False, "problem": "callable", "message": f"importing {target} failed: {error!r}"}
    found = interface_of(app)
    if found is not None and found != declared:
        return {
            "ok": False,
            "problem": "interface",
            "interface": found,
            "message": f"{target} is an {found.upper()} app, not {declared.upper()}",
        }
    serve = make_handler(app, declared)
    probes = [("health", host, True)] + ([("ecs_health", ecs_host, False)] if ecs_host else [])
    status = 0
    for problem, probe_host, forwarded in probes:
        result = {"ok": False, "problem": problem, "interface": found or declared}
        try:
            status, body = _answer(serve, health_path, probe_host, forwarded)
        except BaseException as error:
            traceback.print_exc()
            return dict(result, message=f"GET {health_path} raised {error!r} (Host {probe_host})")
        if status == 200:
            continue
        if problem == "health":
            message = f"GET {health_path} answered {status}, not 200 (Host {probe_host}): {body[:300]!r}"
        else:
            message = (
                f"GET {health_path} answered {status}, not 200, with Host {probe_host}, as the load balancer's health "
                "check asks an ECS task (its private IP and the port, no X-Forwarded-* headers): the task would "
                f"never be healthy. Accept that Host on the health path: {body[:300]!r}"
            )
        return dict(result, status=status, message=message)
    return {"ok": True, "problem": None, "interface": found or declared, "status": status}


def main(argv: list[str]) -> int:
    """``check [--host=HOST] [--ecs-host=HOST] RESULT_FILE HEALTH_PATH [PATH...]``: PATHs go first on sys.path (the
    interpreter runs with -I -S)."""
    options = {"--host": CHECK_HOST, "--ecs-host": None}
    while len(argv) > 1 and argv[1].partition("=")[0] in options:
        name, value = argv.pop(1).partition("=")[::2]
        options[name] = value
    if len(argv) < 3 or argv[0] != "check":
        sys.stderr.write(
            "usage: spillover_entry.py check [--host=HOST] [--ecs-host=HOST] RESULT_FILE HEALTH_PATH [PATH...]\n"
        )
        return 2
    result_file, health_path, paths = argv[1], argv[2], argv[3:]
    sys.path[:0] = paths
    if paths:
        os.chdir(paths[0])  # the app's directory, as /var/task is in Lambda
    result = check(health_path, options["--host"], options["--ecs-host"])
    with open(result_file, "w") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
