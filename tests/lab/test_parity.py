"""``python -m lab parity``: the same requests through the lab's Lambda path and its container path, compared.

The examples run for real in both (the zip the lambda_function role builds in a lab execution environment, the
container of the recipe ecr_push builds) and as the app itself (the reference); so does a probe, the demo app with
routes that show the request it got, tag its answer with the runtime, write where it runs and crash its container.
The reasons, the header comparison and the request files are checked on their own too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from lab import builder, parity
from lab.balancer import MAX_LAMBDA_BODY, AlbAnswer
from tests.support.app_support import APP_DIR, ZIP_CACHE

ROOT = builder.ROOT
FLASK = builder.describe_app(ROOT / "examples" / "flask")
FASTAPI = builder.describe_app(ROOT / "examples" / "fastapi", "main:api", "asgi")
JSON = [("Content-Type", "application/json")]
# The demo app and a module of routes that probe the runtimes; its requirements are the demo app's (one lock).
PROBE = """
import os
import signal
import sqlite3
import time
from pathlib import Path

import bottle

from app import app, json_response, runtime

# As an app with Django's default settings does: a database in the working directory, a file beside the module.
sqlite3.connect("db.sqlite3").execute("CREATE TABLE IF NOT EXISTS visits (at REAL)")
Path(__file__).with_name("started.txt").write_text(repr(time.time()))


@app.get("/request-headers")
def request_headers():
    return json_response({name.lower(): value for name, value in bottle.request.headers.items()})


@app.get("/tagged")
def tagged():
    bottle.response.set_header("X-Runtime", runtime())
    bottle.response.set_header("X-Answered-At", repr(time.time()))
    return json_response({"tagged": True})


@app.get("/written")
def written():
    beside = Path(__file__).with_name("started.txt")
    return json_response({"db": Path("db.sqlite3").is_file(), "beside": beside.is_file()})


@app.get("/crash")
def crash():
    if os.environ.get("ECS_CONTAINER_METADATA_URI_V4"):  # in the container only
        print("probe: killing the container on purpose", flush=True)
        os.killpg(0, signal.SIGKILL)
    return json_response({"crashed": False})
"""


@pytest.fixture
def probe(tmp_path) -> builder.App:
    source = tmp_path / "probe-app"
    shutil.copytree(APP_DIR, source)
    (source / "probe.py").write_text(PROBE)
    return builder.describe_app(source, "probe:app")


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(path.relative_to(directory)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


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
    assert list(compared) == [*routes, post, probe, "HEAD /health"]
    assert {name for name, comparison in compared.items() if comparison.differences} == {big, post}

    too_large = compared[big]
    assert (too_large.on_lambda.status, too_large.on_ecs.status) == (502, 200)
    assert too_large.differences[:2] == ["status", "body"] and "header content-type" in too_large.differences
    assert len(too_large.on_ecs.body) > MAX_LAMBDA_BODY
    assert "over the 1 MB an ALB takes from a Lambda function: the ALB answers 502" in too_large.reason
    assert "spillover_ecs_only_paths" in too_large.reason
    # The app itself answers as the container does.
    assert set(too_large.matches.values()) == {"ecs"} and too_large.reason.endswith(
        "ECS answers as the app itself does"
    )

    refused = compared[post]
    assert refused.on_lambda.status == 413 and refused.on_ecs.status in (400, 422)  # the app's own validation
    assert "a request body of 1,048,577 bytes is over the 1 MB an ALB sends to a Lambda function" in refused.reason
    assert refused.reference.status == refused.on_ecs.status

    for name in routes:
        if name != big:
            same = compared[name]
            assert (same.on_lambda.status, same.on_lambda.body) == (same.on_ecs.status, same.on_ecs.body), name
            assert (same.reference.status, same.reference.body) == (same.on_ecs.status, same.on_ecs.body), name
            assert same.reason == ""
    if search:  # the ALB leaves the query URL-encoded for Lambda; both runtimes decode it the same
        assert json.loads(compared[search].on_lambda.body)["terms"] == ["a+b c", "d"]
    head = compared["HEAD /health"]  # Flask answers HEAD for its GET routes, FastAPI does not
    assert (head.on_lambda.status, head.on_ecs.status) == ((200, 200) if app is FLASK else (405, 405))
    assert head.on_lambda.body == head.on_ecs.body == b""
    lock_note, *notes = result.notes
    assert notes == [f"{len(routes)} routes read from the app ({'flask' if app is FLASK else 'starlette'})"]
    assert lock_note.startswith("the app's lock: ") and lock_note.endswith("requirements.lock")
    framework = "flask" if app is FLASK else "fastapi"
    # One lock for both runtimes: the app's framework is on both, at the same version.
    assert result.packages["lambda"][framework] == result.packages["ecs"][framework]
    assert result.package_differences == []
    lines = "\n".join(result.lines())
    assert "at different versions" in lines and "DIFFER  package" not in lines
    assert f"{len(routes) + 3} requests: {len(routes) + 1} agree, 2 differ" in lines


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
    command += ["--volatile-header", "X-Request-Id", "--output", str(tmp_path / "out")]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert "lab parity: app:app (WSGI) from files/app, 4 requests: 3 agree, 1 differ" in completed.stdout
    assert "DIFFER  where it runs" in completed.stdout
    [report] = (tmp_path / "out").glob("*-parity/parity.json")
    document = json.loads(report.read_text())
    rows = {row["request"]: row for row in document["requests"]}
    assert rows["where it runs"]["differences"] == ["body"]  # the demo app says which runtime it runs on
    # The app itself, outside Lambda, says what it says in the container.
    assert rows["where it runs"]["matches"] == {"body": "ecs"}
    assert rows["where it runs"]["reason"].startswith("the body differs (")
    assert rows["where it runs"]["reason"].endswith("on ECS): ECS answers as the app itself does")
    assert rows["POST /pong"]["lambda"]["status"] == rows["POST /pong"]["ecs"]["status"] == 405
    assert rows["POST /pong"]["app"]["status"] == 405
    assert rows["GET /sleep?seconds=0.2"]["agree"]
    assert {"x-request-id", "date", "server", "connection"} <= set(document["ignored_headers"])
    assert {path.name for path in report.parent.iterdir()} >= {"lambda.log", "container.log", "reference.log"}


@pytest.mark.integration
def test_both_runtimes_get_the_albs_request_and_each_header_difference_says_who_answers_as_the_app(tmp_path, probe):
    before = snapshot(probe.src)
    requests = [
        parity.Request(name, "GET", path)
        for name, path in (("health", "/health"), ("headers", "/request-headers"), ("tagged", "/tagged"))
    ]
    requests.append(parity.Request("written", "GET", "/written"))
    result = parity.run_parity(probe, tmp_path / "out", requests, ZIP_CACHE, volatile_headers=("X-Answered-At",))
    compared = by_name(result)
    assert result.died is None and len(result.comparisons) == 4

    # The request the app got: the client's headers and the ALB's four, in the container as in the app itself.
    headers = compared["headers"]
    seen = json.loads(headers.on_ecs.body)
    alb = {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-port", "x-amzn-trace-id"}
    assert set(seen) == {"host", "user-agent", "accept"} | alb
    assert seen["x-amzn-trace-id"].startswith("Root=1-") and seen["x-forwarded-for"] == "127.0.0.1"
    assert json.loads(headers.reference.body) == seen
    # On Lambda the same: no Content-Length of 0 for a GET (apig-wsgi's, which the entry leaves out).
    assert json.loads(headers.on_lambda.body) == seen
    assert headers.differences == []

    # A header the app sets by runtime differs, and the app itself (not on Lambda) answers as the container;
    # the header the user said is volatile is not compared, nor Date and Server (granian's) or Content-Length.
    tagged = compared["tagged"]
    assert tagged.differences == ["header x-runtime"]
    assert tagged.matches == {"header x-runtime": "ecs"}
    assert (
        tagged.reason
        == "header x-runtime is 'lambda' on Lambda and 'server' on ECS: ECS answers as the app itself does"
    )
    assert {"server", "date"} <= {name.lower() for name, _ in tagged.on_ecs.headers}  # granian's own
    lines = result.lines()
    assert "4 requests: 3 agree, 1 differ" in lines[0]
    assert any(line.startswith("  DIFFER  tagged") and line.endswith("(header x-runtime)") for line in lines)

    # Each side wrote its database in its working directory and its file beside its module: in copies, not in
    # the app's directory, which is as it was.
    written = compared["written"]
    assert json.loads(written.on_lambda.body) == json.loads(written.on_ecs.body) == {"db": True, "beside": True}
    assert json.loads(written.reference.body) == {"db": True, "beside": True}
    assert snapshot(probe.src) == before


@pytest.mark.integration
def test_a_container_that_dies_is_one_line_with_its_last_log_lines(tmp_path, probe):
    requests = [parity.Request(f"GET {path}", "GET", path) for path in ("/health", "/crash", "/health", "/pong")]
    result = parity.run_parity(probe, tmp_path / "out", requests, ZIP_CACHE)
    assert [comparison.request.name for comparison in result.comparisons] == ["GET /health"]
    assert (result.died.status, result.died.request) == (-9, "GET /crash")
    lines = result.lines()
    assert "4 requests: 1 agree, 0 differ, 3 not compared (the container died)" in lines[0]
    assert not [line for line in lines if "DIFFER" in line]
    died = [line for line in lines if line.startswith("  DIED")]
    assert died == ["  DIED    the container was killed by SIGKILL while answering GET /crash; its last log lines:"]
    assert lines[-1] == "          | probe: killing the container on purpose"


@pytest.mark.integration
def test_a_container_that_dies_before_its_health_check_is_one_line_and_nothing_is_compared(tmp_path, probe):
    broken = (
        'import os\nif os.environ.get("ECS_CONTAINER_METADATA_URI_V4"):\n    raise RuntimeError("no DATABASE_URL")\n'
    )
    (probe.src / "broken.py").write_text(broken + "from app import app\n")
    result = parity.run_parity(replace(probe, callable="broken:app"), tmp_path / "out", None, ZIP_CACHE)
    assert result.comparisons == [] and (result.died.status, result.died.request) == (1, None)
    lines = result.lines()
    assert lines[0].endswith(
        f"{result.requests} requests: 0 agree, 0 differ, {result.requests} not compared (the container died)"
    )
    assert "  DIED    the container exited (1) before it answered its health check; its last log lines:" in lines
    assert "          | RuntimeError: no DATABASE_URL" in lines


@pytest.mark.integration
def test_a_requirement_the_app_does_not_list_is_missing_everywhere_as_on_aws(tmp_path, probe):
    (probe.src / "needs_flask.py").write_text("import flask\nfrom app import app\n")  # flask: in the lab's venv only
    requests = [parity.Request("GET /health", "GET", "/health")]
    result = parity.run_parity(replace(probe, callable="needs_flask:app"), tmp_path / "out", requests, ZIP_CACHE)
    assert "the app does not import: ModuleNotFoundError: No module named 'flask' (reference.log)" in result.notes[1]
    assert (result.died.status, result.died.request) == (1, None)
    assert "ModuleNotFoundError: No module named 'flask'" in result.died.log_lines


@pytest.mark.integration
def test_an_app_directory_the_packager_refuses_is_a_one_line_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    command = [sys.executable, "-m", "lab", "parity", "--app-dir", str(empty), "--output", str(tmp_path / "out")]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 2 and completed.stdout == ""
    assert completed.stderr.startswith(
        "lab parity: the app cannot be packaged as the roles would package it: "
        f"src {empty} holds nothing to package: no Python file"
    )
    assert completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr


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
        ("HEAD", "/health"),  # the ALB answers a HEAD with no body
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
    failed = parity.Comparison(request, by_alb(502, "LambdaUnhandled", "KeyError: 'DATABASE_URL'"), ok, ok)
    assert failed.reason == (
        "on Lambda: the function failed (KeyError: 'DATABASE_URL'): the ALB answers 502; ECS answers as the app "
        "itself does"
    )
    slow_container = parity.Comparison(request, ok, by_alb(504, "TargetTimeout", "no answer within 60 s"))
    assert slow_container.reason == "on ECS: the container sent no answer within 60 s: the ALB answers 504"
    typed = parity.Comparison(request, AlbAnswer(200, [("Content-Type", "text/plain")], b"{}"), ok, ok)
    assert typed.differences == ["header content-type"]
    assert typed.reason == (
        "header content-type is 'text/plain' on Lambda and 'application/json' on ECS: ECS answers as the app itself "
        "does"
    )
    status = parity.Comparison(request, AlbAnswer(500, JSON, b"{}"), ok, AlbAnswer(500, JSON, b"{}"))
    assert status.reason == "the app answered 500 on Lambda and 200 on ECS: Lambda answers as the app itself does"
    raised = parity.Comparison(request, AlbAnswer(500, JSON, b"{}"), ok, AlbAnswer(500, [], b"", "AppRaised", "E: x"))
    assert raised.matches == {"status": "lambda"}
    clock = parity.Comparison(
        request, AlbAnswer(200, JSON, b"1"), AlbAnswer(200, JSON, b"2"), AlbAnswer(200, JSON, b"3")
    )
    assert clock.matches == {"body": "neither"}
    assert clock.reason == (
        "the body differs (1 bytes on Lambda, 1 bytes on ECS): neither answers as the app itself does (it may read "
        "which runtime it runs on, the time or the request)"
    )
    assert parity.Comparison(request, ok, ok).reason == "" and not parity.Comparison(request, ok, ok).differences


def test_headers_are_compared_by_name_without_the_connections_the_servers_and_the_volatile_ones():
    request = parity.Request("GET /logo.png", "GET", "/logo.png")
    on_lambda = AlbAnswer(
        200,
        [("content-type", "image/png"), ("ETag", '"zip"'), ("X-Request-Id", "a"), ("Content-Length", "3")],
        b"png",
    )
    on_ecs = AlbAnswer(
        200,
        [
            ("Content-Type", "image/png"),
            ("etag", '"image"'),
            ("x-request-id", "b"),
            ("Date", "Mon, 07 Dec 2026 16:00:00 GMT"),
            ("Server", "granian"),
            ("Connection", "keep-alive"),
            ("Transfer-Encoding", "chunked"),
        ],
        b"png",
    )
    own = AlbAnswer(200, [("Content-Type", "image/png"), ("ETag", '"image"'), ("X-Request-Id", "c")], b"png")
    compared = parity.Comparison(request, on_lambda, on_ecs, own, frozenset({"x-request-id"}))
    assert compared.differences == ["header etag"]
    assert compared.matches == {"header etag": "ecs"}
    assert (
        compared.reason
        == "header etag is '\"zip\"' on Lambda and '\"image\"' on ECS: ECS answers as the app itself does"
    )
    # Without the volatile name, and without the app's own answer.
    unknown = parity.Comparison(request, on_lambda, on_ecs)
    assert unknown.differences == ["header etag", "header x-request-id"]
    assert unknown.matches == {"header etag": "unknown", "header x-request-id": "unknown"}
    assert unknown.reason == (
        "header etag is '\"zip\"' on Lambda and '\"image\"' on ECS; header x-request-id is 'a' on Lambda and 'b' on ECS"
    )
    # A header one side lacks; values of one name in order (two cookies).
    cookies = AlbAnswer(200, [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")], b"")
    lacking = parity.Comparison(request, cookies, AlbAnswer(200, [("Set-Cookie", "a=1")], b""), cookies)
    assert (
        lacking.reason
        == "header set-cookie is 'a=1, b=2' on Lambda and 'a=1' on ECS: Lambda answers as the app itself does"
    )
    assert parity.compared_headers([("Set-Cookie", "b=2"), ("set-cookie", "a=1")]) == {"set-cookie": ["b=2", "a=1"]}


def test_parity_names_each_package_the_runtimes_install_at_different_versions():
    on_lambda = {"flask": "3.1.0", "werkzeug": "3.1.3", "apig-wsgi": "2.20.0"}
    on_ecs = {"flask": "3.1.0", "werkzeug": "3.1.4", "granian": "2.8.9"}
    assert parity.version_differences(on_lambda, on_ecs) == ["werkzeug: Lambda 3.1.3, ECS 3.1.4"]
    lines = parity.Parity(FLASK, [], [], {"lambda": on_lambda, "ecs": on_ecs}).lines()
    assert "  packages: 2 on both runtimes, 1 at different versions" in lines
    assert "  DIFFER  package werkzeug: Lambda 3.1.3, ECS 3.1.4" in lines


def test_what_the_app_itself_answers_differently_each_call_is_not_a_difference_of_the_runtimes():
    """A digest nonce or random bytes: the app asked the same request again answers otherwise, so the two sides'
    difference there says nothing of the runtimes; a part the app answers the same each time still differs."""
    request = parity.Request("GET /bytes/1", "GET", "/bytes/1")
    nonce = [("Content-Type", "application/octet-stream")]
    lambda_side, ecs_side = AlbAnswer(200, nonce, b"\x01"), AlbAnswer(200, nonce, b"\x02")
    own, again = AlbAnswer(200, nonce, b"\x03"), (AlbAnswer(200, nonce, b"\x04"), AlbAnswer(200, nonce, b"\x05"))
    random_bytes = parity.Comparison(request, lambda_side, ecs_side, own, again=again)
    assert (random_bytes.differences, random_bytes.varies) == ([], ["body"])
    line = parity.Parity(builder.describe_app(APP_DIR), [random_bytes], requests=1).lines()[-1]
    assert line.endswith("200 application/octet-stream  (the app's own body varies per call)")
    # The same body each time: the sides' difference is the runtimes'.
    steady = parity.Comparison(request, lambda_side, ecs_side, own, again=(own, own))
    assert (steady.differences, steady.varies) == (["body"], [])
    # Not asked again (or the app failed): nothing is put down to the app.
    assert parity.Comparison(request, lambda_side, ecs_side, own).differences == ["body"]
    failed = AlbAnswer(500, [], b"", "AppRaised", "E: x")
    assert parity.Comparison(request, lambda_side, ecs_side, failed, again=again).differences == ["body"]
