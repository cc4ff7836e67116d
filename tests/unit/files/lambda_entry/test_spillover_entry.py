"""The collection's Lambda entry (files/lambda_entry/spillover_entry.py) around real apps: the examples' Flask (WSGI)
and FastAPI (ASGI) apps, the demo app, and apps that are wrong in each way the pre-flight check must name."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap

import pytest

from tests.support.app_support import (
    ENTRY_DIR,
    ROOT,
    LambdaContext,
    alb_event,
    answer_of_lambda,
    json_post_event,
    lambda_handler_of,
    load_entry,
)

sys.path[:0] = [str(ROOT / "examples" / "flask"), str(ROOT / "examples" / "fastapi")]
import app as flask_example  # noqa: E402  (examples/flask/app.py)
import main as fastapi_example  # noqa: E402  (examples/fastapi/main.py)

entry = load_entry()
FLASK = lambda_handler_of(flask_example.app, "wsgi")
FASTAPI = lambda_handler_of(fastapi_example.api, "asgi")
MULTI_VALUE = pytest.mark.parametrize("multi_value", [False, True], ids=["single-value", "multi-value"])


@MULTI_VALUE
@pytest.mark.parametrize("handler", [FLASK, FASTAPI], ids=["flask-wsgi", "fastapi-asgi"])
def test_the_same_handler_serves_a_wsgi_and_an_asgi_app_in_the_events_header_shape(handler, multi_value):
    response = handler(alb_event("/items/1", multi_value=multi_value), LambdaContext())
    answer = answer_of_lambda(response)
    assert (answer.status, answer.json()["name"]) == (200, "kettle")
    assert answer.headers["content-type"] == "application/json"
    # The ALB needs the response in the shape of the request: multiValueHeaders exactly when the event had them.
    assert ("multiValueHeaders" in response, "headers" in response) == (multi_value, not multi_value)


@pytest.mark.parametrize(
    ("handler", "path", "query", "expected"),
    [
        (FLASK, "/items", {"tag": ["kitchen", "outdoor"]}, ["kettle", "torch"]),
        (FASTAPI, "/search", {"q": ["KETTLE", "lamp"]}, ["kettle", "lamp"]),
    ],
    ids=["flask-wsgi", "fastapi-asgi"],
)
def test_repeated_query_parameters_reach_the_app_with_multi_value_headers(handler, path, query, expected):
    answer = answer_of_lambda(handler(alb_event(path, query=query, multi_value=True), LambdaContext()))
    assert sorted(item["name"] for item in answer.json()["items"]) == expected


def test_repeated_response_headers_stay_apart_with_multi_value_headers():
    response = FLASK(alb_event("/session", multi_value=True), LambdaContext())
    assert sorted(response["multiValueHeaders"]["Set-Cookie"]) == [
        "session=abc123; HttpOnly; Path=/",
        "theme=dark; Path=/",
    ]


@pytest.mark.parametrize(
    ("handler", "example"), [(FLASK, flask_example), (FASTAPI, fastapi_example)], ids=["flask-wsgi", "fastapi-asgi"]
)
@pytest.mark.parametrize("base64_body", [False, True], ids=["text-body", "base64-body"])
def test_a_json_body_reaches_the_app_and_its_status_comes_back(handler, example, base64_body):
    body = json.dumps({"name": "mug", "price": 3.5}).encode()
    event = json_post_event("/items", body, multi_value=True, base64_body=base64_body)
    answer = answer_of_lambda(handler(event, LambdaContext()))
    assert (answer.status, answer.json()) == (201, {"id": len(example.ITEMS) + 1, "name": "mug", "price": 3.5})


def test_validation_errors_of_the_asgi_app_are_its_own_422():
    answer = answer_of_lambda(FASTAPI(alb_event("/items/x", multi_value=False), LambdaContext()))
    assert answer.status == 422 and answer.json()["detail"][0]["loc"] == ["path", "item_id"]


def test_a_wsgi_500_with_exc_info_stays_a_500_instead_of_failing_the_invocation():
    def app(environ, start_response):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"error"]

    answer = answer_of_lambda(lambda_handler_of(app)(alb_event("/", multi_value=False), LambdaContext()))
    assert (answer.status, answer.body) == (500, b"error")


def flask_like(environ, start_response):
    return []


async def asgi_function(scope, receive, send):
    return None


class AsgiObject:
    async def __call__(self, scope, receive, send):
        return None


@pytest.mark.parametrize(
    ("app", "interface"),
    [
        (flask_example.app, "wsgi"),
        (fastapi_example.api, "asgi"),
        (flask_like, "wsgi"),
        (asgi_function, "asgi"),
        (AsgiObject(), "asgi"),
        (print, None),
    ],
    ids=["flask", "fastapi", "wsgi-function", "asgi-function", "asgi-object", "neither"],
)
def test_interface_is_told_from_the_callable(app, interface):
    assert entry.interface_of(app) == interface


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"APP_CALLABLE": "app"}, "APP_CALLABLE must be module:attribute, such as app:app, not 'app'"),
        ({"APP_INTERFACE": "rsgi"}, "APP_INTERFACE must be one of wsgi, asgi, not 'rsgi'"),
    ],
)
def test_bad_settings_name_the_variable(environ, message):
    with pytest.raises(entry.EntryError, match=message):
        entry.app_settings(environ)
    assert entry.app_settings({}) == ("app:app", "wsgi")


def write_app(directory, source):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "service.py").write_text(textwrap.dedent(source))
    return directory


def run_check(app_dir, tmp_path, callable_="service:app", interface="wsgi", health="/health", options=()):
    """``python -I -S spillover_entry.py check [OPTION...]`` as the app_check module runs it: only the app and the
    venv's packages it needs (here: the dev venv's site-packages stand in for the vendored requirements)."""
    paths = [str(app_dir), next(path for path in sys.path if path.endswith("site-packages"))]
    result = tmp_path / "result.json"
    entry = str(ENTRY_DIR / "spillover_entry.py")
    completed = subprocess.run(
        [sys.executable, "-I", "-S", entry, "check", *options, str(result), health, *paths],
        env={"APP_CALLABLE": callable_, "APP_INTERFACE": interface, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(result.read_text()), completed.stderr


def test_check_passes_an_app_that_imports_and_answers_its_health_path(tmp_path):
    app_dir = write_app(
        tmp_path / "ok",
        """
        from flask import Flask
        app = Flask(__name__)
        app.get("/health")(lambda: "ok")
        """,
    )
    result, _ = run_check(app_dir, tmp_path)
    assert result == {"ok": True, "problem": None, "interface": "wsgi", "status": 200}


def test_check_names_the_callable_and_shows_the_apps_traceback(tmp_path):
    app_dir = write_app(tmp_path / "broken", "import flask\nraise RuntimeError('the app cannot start: no DB_URL')\n")
    result, stderr = run_check(app_dir, tmp_path)
    assert (result["ok"], result["problem"]) == (False, "callable")
    assert "the app cannot start: no DB_URL" in result["message"]
    assert "Traceback" in stderr and "service.py" in stderr  # the app's own traceback

    missing, _ = run_check(app_dir, tmp_path, callable_="nowhere:app")
    assert missing["problem"] == "callable" and "No module named 'nowhere'" in missing["message"]
    attribute, _ = run_check(write_app(tmp_path / "x", "other = 1\n"), tmp_path)
    assert attribute["message"] == "APP_CALLABLE service:app: module service has no attribute app"


def test_check_tells_an_asgi_app_declared_as_wsgi(tmp_path):
    app_dir = write_app(tmp_path / "asgi", "from fastapi import FastAPI\napp = FastAPI()\n")
    result, _ = run_check(app_dir, tmp_path, interface="wsgi")
    assert result["problem"] == "interface" and result["interface"] == "asgi"
    assert result["message"] == "service:app is an ASGI app, not WSGI"


def test_check_names_a_health_path_the_app_does_not_answer(tmp_path):
    app_dir = write_app(
        tmp_path / "nohealth",
        """
        from fastapi import FastAPI
        app = FastAPI()
        app.get("/status")(lambda: {"ok": True})
        """,
    )
    result, _ = run_check(app_dir, tmp_path, interface="asgi", health="/health")
    assert (result["problem"], result["status"]) == ("health", 404)
    assert result["message"].startswith("GET /health answered 404, not 200")
    assert run_check(app_dir, tmp_path, interface="asgi", health="/status")[0]["ok"] is True


# Answers 200 to its own domain, and on /health to an IP address as Host when the request was not forwarded by the
# load balancer (its health check of a task); 400 otherwise, as Django's ALLOWED_HOSTS does. The body says what came.
HOST_CHECKING_APP = """
def app(environ, start_response):
    host = environ.get("HTTP_HOST", "")
    forwarded = "HTTP_X_FORWARDED_FOR" in environ
    health_check = environ["PATH_INFO"] == "/health" and host.partition(":")[0].replace(".", "").isdigit()
    ok = host == "api.example.com" or (health_check and not forwarded)
    start_response("200 OK" if ok else "400 Bad Request", [("Content-Type", "text/plain")])
    return [f"{host} forwarded={forwarded}".encode()]
"""


def test_check_sends_the_host_it_is_given_and_names_it_when_the_app_refuses_it(tmp_path):
    app_dir = write_app(tmp_path / "hosts", HOST_CHECKING_APP)
    refused, _ = run_check(app_dir, tmp_path)
    assert (refused["problem"], refused["status"]) == ("health", 400)
    assert refused["message"] == (
        "GET /health answered 400, not 200 (Host spillover-check.invalid): 'spillover-check.invalid forwarded=True'"
    )
    assert run_check(app_dir, tmp_path, options=["--host=api.example.com"])[0]["ok"] is True


def test_check_asks_the_health_path_as_the_load_balancer_asks_an_ecs_task(tmp_path):
    app_dir = write_app(tmp_path / "hosts", HOST_CHECKING_APP)
    options = ["--host=api.example.com", "--ecs-host=10.80.0.10:8080"]
    assert run_check(app_dir, tmp_path, options=options)[0] == {
        "ok": True,
        "problem": None,
        "interface": "wsgi",
        "status": 200,
    }
    # An app that accepts the task's IP nowhere (here: not on /status) would never have a healthy task.
    refused, _ = run_check(app_dir, tmp_path, health="/status", options=["--ecs-host=10.80.0.10:8080"])
    assert (refused["problem"], refused["status"]) == ("health", 400)  # the client's request is asked first
    refused, _ = run_check(app_dir, tmp_path, health="/status", options=options)
    assert (refused["problem"], refused["status"]) == ("ecs_health", 400)
    assert refused["message"].startswith(
        "GET /status answered 400, not 200, with Host 10.80.0.10:8080, as the load balancer's health check asks an ECS"
        " task (its private IP and the port, no X-Forwarded-* headers)"
    )
    assert refused["message"].endswith("'10.80.0.10:8080 forwarded=False'")


def test_in_lambda_the_app_is_imported_at_init(tmp_path, monkeypatch):
    app_dir = write_app(tmp_path / "init", "raise ImportError('init failed')\n")
    monkeypatch.syspath_prepend(str(app_dir))
    monkeypatch.setenv("APP_CALLABLE", "service:app")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(app_dir))
    with pytest.raises(ImportError, match="init failed"):  # Lambda reports it as the environment's init error
        load_entry("spillover_entry_in_lambda")
    monkeypatch.delenv("LAMBDA_TASK_ROOT")
    outside = load_entry("spillover_entry_outside")  # imports nothing until called
    with pytest.raises(ImportError, match="init failed"):
        outside.handler(alb_event("/", multi_value=False), LambdaContext())


def test_a_binary_response_is_base64_encoded_for_the_alb():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "image/png")])
        return [bytes(range(256))]

    response = lambda_handler_of(app)(alb_event("/logo.png", multi_value=True), LambdaContext())
    assert response["isBase64Encoded"] is True and base64.b64decode(response["body"]) == bytes(range(256))


@MULTI_VALUE
def test_a_request_without_a_body_reaches_a_wsgi_app_without_a_content_length_as_on_the_container(multi_value):
    """apig-wsgi sets CONTENT_LENGTH "0" for a GET the client sent without one; the container's server sets none, and
    an app that echoes or hashes the request's headers (httpbin) answered differently on Lambda."""
    seen = []

    def app(environ, start_response):
        seen.append(environ.get("CONTENT_LENGTH"))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    handler = lambda_handler_of(app, "wsgi")
    handler(alb_event("/get", multi_value=multi_value), LambdaContext())
    with_body = alb_event("/post", "POST", body=b"abc", multi_value=multi_value, headers={"Content-Length": ["3"]})
    handler(with_body, LambdaContext())
    empty = {"Content-Length": ["0"]}
    handler(alb_event("/post", "POST", multi_value=multi_value, headers=empty), LambdaContext())
    assert seen == [None, "3", "0"]


@MULTI_VALUE
@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_a_status_no_client_can_be_sent_is_the_500_the_container_answers(interface, multi_value, capsys):
    """httpbin's /status/1: the container's guard answers 500 (granian's), so Lambda does the same, rather than
    hand the ALB a status 1; a status the container sends passes as it is."""

    def wsgi(status):
        def app(environ, start_response):
            start_response(f"{status} X", [("Content-Type", "text/plain")])
            return [b"x"]

        return app

    def asgi(status):
        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"x"})

        return app

    make = wsgi if interface == "wsgi" else asgi
    for status in (1, 99, 101, 600):
        response = lambda_handler_of(make(status), interface)(alb_event("/", multi_value=multi_value), LambdaContext())
        headers = "multiValueHeaders" if multi_value else "headers"
        assert (response["statusCode"], response["body"]) == (500, entry.BAD_ANSWER_BODY[interface]), status
        assert headers in response and response["isBase64Encoded"] is False
        assert f"the app answered status {status}: answered 500 instead" in capsys.readouterr().err
    kept = lambda_handler_of(make(418), interface)(alb_event("/", multi_value=multi_value), LambdaContext())
    assert (kept["statusCode"], kept["body"]) == (418, "x")
