"""The container entry (gunicorn with files/app/gunicorn.conf.py) started for real on a loopback port.

No container engine runs here: the image's CMD runs as a local process in files/app, as the image's WORKDIR
holds the same three files. Only the image build itself is not exercised.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time

import pytest

from tests.support.app_support import APP_DIR, ROOT, VENV_BIN, Server, dockerfile_command

pytestmark = pytest.mark.integration

FROM_REPOSITORY_ROOT = [
    str(VENV_BIN / "gunicorn"),
    "--config",
    "files/app/gunicorn.conf.py",
    "--chdir",
    "files/app",
    "app:app",
]


def log_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_routes_over_http_from_the_repository_root_command():
    server = Server(FROM_REPOSITORY_ROOT, cwd=ROOT).wait_ready()
    try:
        answers = {
            path: server.request(path)
            for path in ("/", "/health", "/pong", "/bang", "/env", "/nowhere", "/sleep?seconds=x")
        }
        post = server.request("/pong", "POST", body=b'{"a": 1}')
        slept = server.request("/sleep?seconds=0.05")
    finally:
        code, stdout, stderr = server.stop()

    assert {path: (answer.status, answer.json()) for path, answer in answers.items()} == {
        "/": (200, {"message": "healthy"}),
        "/health": (200, {"message": "healthy"}),
        "/pong": (200, {"message": "ping"}),
        "/bang": (200, {"message": "boom"}),
        "/env": (200, {"message": "server"}),
        "/nowhere": (404, {"message": "not found"}),
        "/sleep?seconds=x": (400, {"message": "seconds must be a number from 0 to 900, not 'x'"}),
    }
    assert (post.status, post.json(), post.headers["allow"]) == (405, {"message": "method not allowed"}, "GET")
    assert (slept.status, slept.json()) == (200, {"message": "awaken"})
    assert all(answer.headers["content-type"] == "application/json" for answer in [*answers.values(), post, slept])
    assert code == 0, stderr
    assert "gthread" in stderr  # the config file was read: its worker class
    logged = log_lines(stdout)
    assert [(line["method"], line["path"], line["status"]) for line in logged] == [
        ("GET", "/health", 200),  # the readiness probe
        ("GET", "/", 200),
        ("GET", "/health", 200),
        ("GET", "/pong", 200),
        ("GET", "/bang", 200),
        ("GET", "/env", 200),
        ("GET", "/nowhere", 404),
        ("GET", "/sleep", 400),
        ("POST", "/pong", 405),
        ("GET", "/sleep", 200),
    ]
    assert {line["runtime"] for line in logged} == {"server"}


def test_image_command_healthcheck_and_sigterm_while_a_request_is_in_flight():
    command = dockerfile_command()
    command[0] = str(VENV_BIN / command[0])
    server = Server(command, cwd=APP_DIR).wait_ready()
    in_flight = {}

    def slow_request():
        in_flight["answer"] = server.request("/sleep?seconds=2")

    try:
        healthcheck = re.search(r"^HEALTHCHECK .* CMD (\[.*\])$", (APP_DIR / "Dockerfile").read_text(), re.M)
        probe = json.loads(healthcheck.group(1))
        probe[0] = str(VENV_BIN / probe[0])
        probed = subprocess.run(probe, env={**os.environ, "PORT": str(server.port)}, capture_output=True, check=False)
        assert probed.returncode == 0, probed.stderr

        client = threading.Thread(target=slow_request)
        client.start()
        time.sleep(0.5)  # let the worker pick the request up; this delay is not asserted on
    finally:
        code, stdout, stderr = server.stop()  # SIGTERM, as ECS sends to stop a task
    client.join(timeout=10)

    assert "Handling signal: term" in stderr
    assert (in_flight["answer"].status, in_flight["answer"].json()) == (200, {"message": "awaken"})
    assert code == 0, stderr
    assert ("GET", "/sleep", 200) in [(line["method"], line["path"], line["status"]) for line in log_lines(stdout)]
