"""``python -m lab parity``: the same requests through the lab's Lambda path and its container path, compared.

The examples run for real in both (the zip the lambda_function role builds in a lab execution environment, the
container of the recipe ecr_push builds); the reasons and the request files are checked on their own too.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lab import builder, parity
from lab.balancer import MAX_LAMBDA_BODY, AlbAnswer
from tests.support.app_support import ZIP_CACHE

ROOT = builder.ROOT
FLASK = builder.describe_app(ROOT / "examples" / "flask")
FASTAPI = builder.describe_app(ROOT / "examples" / "fastapi", "main:api", "asgi")
JSON = [("Content-Type", "application/json")]


def by_alb(status: int, reason: str, detail: str) -> AlbAnswer:
    """An answer the ALB made itself."""
    return AlbAnswer(status, [("Content-Type", "text/html")], b"<html></html>", reason, detail)


def by_name(result: parity.Parity) -> dict[str, parity.Comparison]:
    return {comparison.request.name: comparison for comparison in result.comparisons}


@pytest.mark.integration
@pytest.mark.parametrize(
    ("app", "routes", "big", "search"),
    [
        (
            FLASK,
            [
                "GET /health",
                "GET /items",
                "GET /items/<int:item_id>",
                "POST /items",
                "GET /session",
                "GET /report",
                "GET /slow",
            ],
            "GET /report",
            None,
        ),
        (
            FASTAPI,
            ["GET /health", "GET /items/{item_id}", "POST /items", "GET /search", "GET /export"],
            "GET /export",
            "GET /search?q=a%2Bb%20c&q=d",
        ),
    ],
    ids=["flask", "fastapi"],
)
def test_the_examples_differ_only_where_the_alb_limits_lambda_and_say_why(tmp_path, app, routes, big, search):
    result = parity.run_parity(app, tmp_path, cache_dir=ZIP_CACHE)
    compared = by_name(result)
    post = f"POST {'/items'} with a body over 1 MB"
    probe = search or "GET /items?q=a%2Bb%20c&q=d"
    # Every route the app answers, with its method, then the ALB's limits.
    assert list(compared) == [*routes, post, probe]
    assert {name for name, comparison in compared.items() if comparison.differences} == {big, post}

    too_large = compared[big]
    assert (too_large.on_lambda.status, too_large.on_ecs.status) == (502, 200)
    assert too_large.differences == ["status", "body", "content type"]
    assert len(too_large.on_ecs.body) > MAX_LAMBDA_BODY
    assert "over the 1 MB an ALB takes from a Lambda function: the ALB answers 502" in too_large.reason
    assert "spillover_ecs_only_paths" in too_large.reason

    refused = compared[post]
    assert refused.on_lambda.status == 413 and refused.on_ecs.status in (400, 422)  # the app's own validation
    assert "a request body of 1,048,577 bytes is over the 1 MB an ALB sends to a Lambda function" in refused.reason

    for name in routes:
        if name != big:
            same = compared[name]
            assert (same.on_lambda.status, same.on_lambda.body) == (same.on_ecs.status, same.on_ecs.body), name
            assert same.reason == ""
    if search:  # the ALB leaves the query URL-encoded for Lambda; both runtimes decode it the same
        assert json.loads(compared[search].on_lambda.body)["terms"] == ["a+b c", "d"]
    lock_note, *notes = result.notes
    assert notes == [f"{len(routes)} routes read from the app ({'flask' if app is FLASK else 'starlette'})"]
    assert lock_note.startswith("the app's lock: ") and lock_note.endswith("requirements.lock")
    framework = "flask" if app is FLASK else "fastapi"
    # One lock for both runtimes: the app's framework is on both, at the same version.
    assert result.packages["lambda"][framework] == result.packages["ecs"][framework]
    assert result.package_differences == []
    lines = "\n".join(result.lines())
    assert "at different versions" in lines and "DIFFER  package" not in lines
    assert f"{len(routes) + 2} requests: {len(routes)} agree, 2 differ" in lines


@pytest.mark.integration
def test_the_parity_command_takes_a_requests_file_and_writes_its_report(tmp_path):
    requests = tmp_path / "requests.json"
    requests.write_text(
        json.dumps(
            [
                {"path": "/pong"},
                {"name": "where it runs", "path": "/env"},
                {"method": "POST", "path": "/pong", "body": "{}", "headers": {"Content-Type": "application/json"}},
                {"path": "/sleep?seconds=0.2"},
            ]
        )
    )
    command = [sys.executable, "-m", "lab", "parity", "--app-dir", "files/app", "--requests", str(requests)]
    completed = subprocess.run(
        [*command, "--output", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr
    assert "lab parity: app:app (WSGI) from files/app, 4 requests: 3 agree, 1 differ" in completed.stdout
    assert "DIFFER  where it runs" in completed.stdout
    [report] = (tmp_path / "out").glob("*-parity/parity.json")
    rows = {row["request"]: row for row in json.loads(report.read_text())["requests"]}
    assert rows["where it runs"]["differences"] == ["body"]  # the demo app says which runtime it runs on
    assert rows["where it runs"]["reason"].startswith("the app's own answer differs")
    assert rows["POST /pong"]["lambda"]["status"] == rows["POST /pong"]["ecs"]["status"] == 405
    assert rows["GET /sleep?seconds=0.2"]["agree"]


@pytest.mark.integration
def test_an_app_of_requirements_only_runs_on_both_paths(tmp_path):
    """httpbin's app:app: a directory that holds only its requirements.txt (the zip refused it as empty)."""
    app_dir = tmp_path / "httpbin"
    app_dir.mkdir()
    (app_dir / "requirements.txt").write_text("httpbin>=0.10,<0.11\n")
    app = builder.describe_app(app_dir, "httpbin:app", health_path="/status/200")
    requests = [parity.Request("GET /json", "GET", "/json"), parity.Request("GET /status/418", "GET", "/status/418")]
    result = parity.run_parity(app, tmp_path / "out", requests, ZIP_CACHE)
    assert [(c.request.name, c.differences, c.on_lambda.status) for c in result.comparisons] == [
        ("GET /json", [], 200),
        ("GET /status/418", [], 418),
    ]
    assert result.package_differences == []


def test_a_directory_with_nothing_to_deploy_is_one_line_not_a_traceback(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.md").write_text("# some day\n")
    assert parity.main(builder.describe_app(empty), None, tmp_path / "out") == 2
    error = capsys.readouterr().err
    assert (
        error.startswith(f"lab parity: src {empty} holds nothing to package: no Python file")
        and "Traceback" not in error
    )


def test_a_bad_requests_file_names_the_request_and_what_to_fix(tmp_path):
    cases = {
        "[]": "must be a JSON list of requests",
        "{": "cannot be read as JSON",
        '[{"path": "health"}]': "request 1: needs a path starting with /",
        '[{"path": "/"}, {"path": "/", "verb": "GET"}]': "request 2: unknown keys verb",
        '[{"path": "/", "body": "a", "body_bytes": 2}]': "give body or body_bytes, not both",
        '[{"path": "/", "headers": {"x": 1}}]': "headers must be an object of strings",
    }
    for text, message in cases.items():
        path = tmp_path / "requests.json"
        path.write_text(text)
        with pytest.raises(parity.ParityError, match=message):
            parity.read_requests(path)
    path.write_text('[{"method": "put", "path": "/upload", "body_bytes": 3}]')
    assert parity.read_requests(path) == [parity.Request("PUT /upload", "PUT", "/upload", (), b"xxx")]


def test_default_requests_cover_each_route_and_the_alb_limits():
    routes = [("GET", "/health"), ("GET", "/"), ("GET", "/users/<int:id>"), ("PUT", "/users/{id}"), ("GET", "/list")]
    requests = parity.default_requests(routes, "/health")
    assert [(request.method, request.path) for request in requests] == [
        ("GET", "/health"),
        ("GET", "/"),
        ("GET", "/users/1"),
        ("PUT", "/users/1"),
        ("GET", "/list"),
        ("POST", "/health"),  # no POST route: the body goes to the health path
        ("GET", "/list?q=a%2Bb%20c&q=d"),  # the first GET route without parameters, besides / and the health path
    ]
    assert requests[3].body == b"{}" and dict(requests[3].headers) == {"Content-Type": "application/json"}
    assert len(requests[5].body) == MAX_LAMBDA_BODY + 1
    assert parity.concrete_path("/a/<name>/<path:rest>/{file:path}/{id:uuid}/<uuid:key>") == (
        f"/a/1/1/1/{parity.UUID_VALUE}/{parity.UUID_VALUE}"
    )
    # An app whose routes the lab cannot read: its health path and /.
    assert [request.path for request in parity.default_requests([], "/ping")][:2] == ["/ping", "/"]


def test_each_difference_has_its_reason():
    request = parity.Request("GET /slow", "GET", "/slow")
    ok = AlbAnswer(200, JSON, b"{}")
    timed_out = parity.Comparison(request, by_alb(502, "LambdaTimeout", "Task timed out after 30 s"), ok)
    assert timed_out.reason == (
        "on Lambda: the function ran out of time (Task timed out after 30 s): the ALB answers 502; raise "
        "lambda_function_timeout (900 s at most) or send the path to ECS only (spillover_ecs_only_paths)"
    )
    failed = parity.Comparison(request, by_alb(502, "LambdaUnhandled", "KeyError: 'DATABASE_URL'"), ok)
    assert failed.reason == "on Lambda: the function failed (KeyError: 'DATABASE_URL'): the ALB answers 502"
    slow_container = parity.Comparison(request, ok, by_alb(504, "TargetTimeout", "no answer within 60 s"))
    assert slow_container.reason == "on ECS: the container sent no answer within 60 s: the ALB answers 504"
    typed = parity.Comparison(request, AlbAnswer(200, [("Content-Type", "text/plain")], b"{}"), ok)
    assert typed.differences == ["content type"]
    assert typed.reason.startswith("the content type is 'text/plain' on Lambda and 'application/json' on ECS")
    status = parity.Comparison(request, AlbAnswer(500, JSON, b"{}"), ok)
    assert status.reason == "the app answered 500 on Lambda and 200 on ECS"
    assert parity.Comparison(request, ok, ok).reason == "" and not parity.Comparison(request, ok, ok).differences


def test_parity_names_each_package_the_runtimes_install_at_different_versions():
    on_lambda = {"flask": "3.1.0", "werkzeug": "3.1.3", "apig-wsgi": "2.20.0"}
    on_ecs = {"flask": "3.1.0", "werkzeug": "3.1.4", "granian": "2.8.9"}
    assert parity.version_differences(on_lambda, on_ecs) == ["werkzeug: Lambda 3.1.3, ECS 3.1.4"]
    lines = parity.Parity(FLASK, [], [], {"lambda": on_lambda, "ecs": on_ecs}).lines()
    assert "  packages: 2 on both runtimes, 1 at different versions" in lines
    assert "  DIFFER  package werkzeug: Lambda 3.1.3, ECS 3.1.4" in lines
