"""files/app/app.py in process: every route through the collection's Lambda entry (ALB events) and through the WSGI
app itself."""

from __future__ import annotations

import json

import pytest

from tests.support.app_support import (
    LambdaContext,
    alb_event,
    answer_of_lambda,
    call_wsgi,
    json_post_event,
    lambda_handler_of,
    load_app,
)

app_module = load_app()
# The handler the function runs (spillover_entry.handler), around this copy of the app.
lambda_handler = lambda_handler_of(app_module.app)

# (path, query, status, body) of GET requests; the same on both runtimes.
ROUTES = [
    ("/", {}, 200, {"message": "healthy"}),
    ("/health", {}, 200, {"message": "healthy"}),
    ("/bang", {}, 200, {"message": "boom"}),
    ("/pong", {}, 200, {"message": "ping"}),
    ("/pong", {"unused": ["1", "2"]}, 200, {"message": "ping"}),
    ("/sleep", {"seconds": ["0"]}, 200, {"message": "awaken"}),
    ("/sleep", {"seconds": ["0.01"]}, 200, {"message": "awaken"}),
    ("/nowhere", {}, 404, {"message": "not found"}),
    ("/pong/", {}, 404, {"message": "not found"}),
]
BAD_SECONDS = ["-1", "900.5", "abc", "nan", "inf", ""]


def query_string(query: dict[str, list[str]]) -> str:
    return "&".join(f"{key}={value}" for key, values in query.items() for value in values)


@pytest.fixture(autouse=True)
def server_runtime(monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_RUNTIME_API", raising=False)


@pytest.mark.parametrize("multi_value", [False, True], ids=["single-value", "multi-value"])
@pytest.mark.parametrize(("path", "query", "status", "body"), ROUTES)
def test_route_same_through_the_lambda_entry_and_wsgi(path, query, status, body, multi_value):
    response = lambda_handler(alb_event(path, query=query, multi_value=multi_value), LambdaContext())
    via_lambda = answer_of_lambda(response)
    via_wsgi = call_wsgi(app_module.app, path, query=query_string(query))

    assert (via_lambda.status, via_lambda.json()) == (status, body)
    assert (via_wsgi.status, via_wsgi.json()) == (status, body)
    for answer in (via_lambda, via_wsgi):
        assert answer.headers["content-type"] == "application/json"
        assert int(answer.headers["content-length"]) == len(answer.body)


def test_lambda_response_uses_the_header_shape_of_the_event():
    single = lambda_handler(alb_event("/pong", multi_value=False), LambdaContext())
    multi = lambda_handler(alb_event("/pong", multi_value=True), LambdaContext())

    assert single["headers"]["Content-Type"] == "application/json"
    assert "multiValueHeaders" not in single
    assert multi["multiValueHeaders"]["Content-Type"] == ["application/json"]
    assert "headers" not in multi
    assert single["isBase64Encoded"] is False and multi["isBase64Encoded"] is False
    assert json.loads(single["body"]) == json.loads(multi["body"]) == {"message": "ping"}


@pytest.mark.parametrize("seconds", BAD_SECONDS)
@pytest.mark.parametrize("multi_value", [False, True], ids=["single-value", "multi-value"])
def test_sleep_refuses_seconds_out_of_bounds_with_json_400(seconds, multi_value):
    event = alb_event("/sleep", query={"seconds": [seconds]}, multi_value=multi_value)
    via_lambda = answer_of_lambda(lambda_handler(event, LambdaContext()))
    via_wsgi = call_wsgi(app_module.app, "/sleep", query=f"seconds={seconds}")

    for answer in (via_lambda, via_wsgi):
        assert answer.status == 400
        assert answer.headers["content-type"] == "application/json"
        assert "from 0 to 900" in answer.json()["message"]


def test_repeated_query_parameter_uses_the_last_value_like_a_single_value_alb():
    # A multi-value target group passes both values; with multi-value off the ALB itself keeps the last one.
    # Either way the app must act on the last one: here an invalid first value is ignored.
    multi = alb_event("/sleep", query={"seconds": ["abc", "0"]}, multi_value=True)
    single = alb_event("/sleep", query={"seconds": ["abc", "0"]}, multi_value=False)
    assert single["queryStringParameters"] == {"seconds": "0"}

    for event in (multi, single):
        answer = answer_of_lambda(lambda_handler(event, LambdaContext()))
        assert (answer.status, answer.json()) == (200, {"message": "awaken"})
    assert call_wsgi(app_module.app, "/sleep", query="seconds=abc&seconds=0").status == 200


def test_sleep_defaults_to_the_seeds_fifteen_seconds(monkeypatch):
    slept = []
    monkeypatch.setattr(app_module.time, "sleep", slept.append)

    answer = answer_of_lambda(lambda_handler(alb_event("/sleep", multi_value=False), LambdaContext()))

    assert (answer.status, slept) == (200, [15.0])
    assert call_wsgi(app_module.app, "/sleep", query="seconds=900").status == 200
    assert slept == [15.0, 900.0]


@pytest.mark.parametrize("base64_body", [False, True], ids=["text-body", "base64-body"])
@pytest.mark.parametrize("multi_value", [False, True], ids=["single-value", "multi-value"])
@pytest.mark.parametrize("path", ["/", "/health", "/pong", "/sleep", "/env", "/bang"])
def test_post_with_a_body_to_a_get_route_is_a_json_405(path, multi_value, base64_body):
    body = b'{"payload": "\xc3\xa9t\xc3\xa9"}'
    event = json_post_event(path, body, multi_value=multi_value, base64_body=base64_body)
    via_lambda = answer_of_lambda(lambda_handler(event, LambdaContext()))
    via_wsgi = call_wsgi(app_module.app, path, "POST", body=body)

    for answer in (via_lambda, via_wsgi):
        assert (answer.status, answer.json()) == (405, {"message": "method not allowed"})
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["allow"] == "GET"


def test_request_body_reaches_the_app_decoded_from_base64(monkeypatch):
    """apig-wsgi decodes a base64 ALB body; the bytes the app reads are the bytes the client sent."""
    app = load_app("spillover_app_echo")
    body = bytes(range(256))

    @app.app.post("/echo-length")
    def echo_length():
        return app.json_response({"length": len(app.bottle.request.body.read())})

    for multi_value in (False, True):
        event = alb_event("/echo-length", "POST", body=body, multi_value=multi_value, base64_body=True)
        answer = answer_of_lambda(lambda_handler_of(app.app)(event, LambdaContext()))
        assert answer.json() == {"length": 256}


def test_unknown_path_with_any_method_is_a_json_404():
    for method in ("GET", "POST", "PUT", "DELETE"):
        answer = answer_of_lambda(lambda_handler(alb_event("/x", method, multi_value=True), None))
        assert (answer.status, answer.json()) == (404, {"message": "not found"})
        assert answer.headers["content-type"] == "application/json"


def test_head_answers_headers_without_a_body():
    for multi_value in (False, True):
        answer = answer_of_lambda(lambda_handler(alb_event("/", "HEAD", multi_value=multi_value), None))
        assert (answer.status, answer.body) == (200, b"")
        assert answer.headers["content-type"] == "application/json"


def test_env_says_lambda_inside_the_lambda_runtime_and_server_elsewhere(monkeypatch):
    event = alb_event("/env", multi_value=False)
    assert answer_of_lambda(lambda_handler(event, LambdaContext())).json() == {"message": "server"}
    assert call_wsgi(app_module.app, "/env").json() == {"message": "server"}

    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")  # the Lambda runtime sets it
    assert answer_of_lambda(lambda_handler(event, LambdaContext())).json() == {"message": "lambda"}


def test_one_json_log_line_per_request(capsys, monkeypatch):
    capsys.readouterr()
    lambda_handler(alb_event("/pong", multi_value=True), LambdaContext(aws_request_id="req-1"))
    call_wsgi(app_module.app, "/nowhere")
    call_wsgi(app_module.app, "/pong", "POST", body=b"x")
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
    lambda_handler(alb_event("/sleep", query={"seconds": ["0.02"]}, multi_value=False), LambdaContext())

    written = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # Each Lambda invocation also writes its EMF metrics line (tests/unit/files/lambda_entry checks those).
    lines = [line for line in written if "_aws" not in line]
    assert [line["requestId"] for line in written if "_aws" in line] == ["req-1", LambdaContext().aws_request_id]

    assert [(line["method"], line["path"], line["status"], line["runtime"]) for line in lines] == [
        ("GET", "/pong", 200, "server"),
        ("GET", "/nowhere", 404, "server"),
        ("POST", "/pong", 405, "server"),
        ("GET", "/sleep", 200, "lambda"),
    ]
    assert lines[0]["request_id"] == "req-1"
    assert "request_id" not in lines[1]
    assert all(isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0 for line in lines)
    assert lines[3]["duration_ms"] >= 20  # it slept 0.02 s


def test_unhandled_error_is_a_json_500_and_logged(capsys):
    app = load_app("spillover_app_failing")

    @app.app.get("/fail")
    def fail():
        raise RuntimeError("secret detail")

    capsys.readouterr()
    for multi_value in (False, True):
        answer = answer_of_lambda(
            lambda_handler_of(app.app)(alb_event("/fail", multi_value=multi_value), LambdaContext())
        )
        assert (answer.status, answer.json()) == (500, {"message": "internal server error"})
        assert answer.headers["content-type"] == "application/json"
    written = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    logged = [line for line in written if "_aws" not in line]
    assert [line["status"] for line in logged] == [500, 500]
    assert [line["Invocations"] for line in written if "_aws" in line] == [1, 1]  # a 500 is an invocation too
