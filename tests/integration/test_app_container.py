"""The container entry of the collection's recipe (granian through files/container/serve.py) started for real on a
loopback port.

No container engine runs here: the image's CMD runs as a local process in files/app, as the image's WORKDIR /var/task
holds the app and /opt/spillover the server (tests/integration/test_role_ecr_push.py builds the image itself with
buildah). The WSGI app is files/app's; the ASGI one is benchmarks/asgi_app.py, the same routes, served by the same
command.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time

import pytest

from tests.support.app_support import APP_DIR, CONTAINER_DIR, ROOT, VENV_BIN, Server, dockerfile_command

pytestmark = pytest.mark.integration

FROM_REPOSITORY_ROOT = [str(VENV_BIN / "python"), "files/container/serve.py"]
DEMO_APP = {"APP_DIR": "files/app"}
ASGI_APP = {"APP_INTERFACE": "asgi", "APP_CALLABLE": "asgi_app:app", "PYTHONPATH": str(ROOT / "benchmarks")}


def log_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def image_command() -> list[str]:
    """The image's CMD with this machine's Python, and the server where the image has it (/opt/spillover)."""
    command = dockerfile_command()
    command[0] = str(VENV_BIN / command[0])
    return [part.replace("/opt/spillover", str(CONTAINER_DIR)) for part in command]


@pytest.mark.parametrize("environment", [DEMO_APP, {**DEMO_APP, **ASGI_APP}], ids=["wsgi", "asgi"])
def test_routes_over_http_from_the_repository_root_command(environment):
    server = Server(FROM_REPOSITORY_ROOT, cwd=ROOT, env=environment).wait_ready()
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
    # serve.py read HOST and PORT (and APP_INTERFACE: an ASGI callable answers nothing through WSGI, nor back).
    assert f"Listening at: http://127.0.0.1:{server.port}" in stdout
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


@pytest.mark.parametrize("environment", [{}, ASGI_APP], ids=["wsgi", "asgi"])
def test_image_command_healthcheck_and_sigterm_while_a_request_is_in_flight(environment):
    server = Server(image_command(), cwd=APP_DIR, env=environment).wait_ready()
    in_flight = {}

    def slow_request():
        in_flight["answer"] = server.request("/sleep?seconds=2")

    try:
        healthcheck = re.search(r"^HEALTHCHECK .* CMD (\[.*\])$", (CONTAINER_DIR / "Dockerfile").read_text(), re.M)
        probe = json.loads(healthcheck.group(1))
        probe[0] = str(VENV_BIN / probe[0])
        image_env = {"PORT": str(server.port), "APP_HEALTH_PATH": "/health"}  # the image's ENV sets both
        probed = subprocess.run(probe, env={**os.environ, **image_env}, capture_output=True, check=False)
        assert probed.returncode == 0, probed.stderr

        client = threading.Thread(target=slow_request)
        client.start()
        time.sleep(0.5)  # let the worker pick the request up; this delay is not asserted on
    finally:
        code, stdout, stderr = server.stop()  # SIGTERM, as ECS sends to stop a task
    client.join(timeout=10)

    assert "Shutting down granian" in stdout
    assert (in_flight["answer"].status, in_flight["answer"].json()) == (200, {"message": "awaken"})
    assert code == 0, stderr
    assert ("GET", "/sleep", 200) in [(line["method"], line["path"], line["status"]) for line in log_lines(stdout)]


def test_sigterm_stops_the_server_at_its_graceful_timeout_when_a_request_outlasts_it():
    server = Server(image_command(), cwd=APP_DIR, env={"SERVER_GRACEFUL_TIMEOUT": "1"}).wait_ready()
    outcome = {}

    def long_request():
        try:
            outcome["answer"] = server.request("/sleep?seconds=60", timeout=90)
        except OSError as error:
            outcome["error"] = error

    client = threading.Thread(target=long_request)
    client.start()
    try:
        time.sleep(0.5)  # let the worker pick the request up; this delay is not asserted on
    finally:
        # The test's own SIGKILL comes 20 s after SIGTERM, long before the request would end.
        code, stdout, stderr = server.stop(timeout=20)
    client.join(timeout=10)

    assert "Killing worker-1 after it refused to gracefully stop" in stdout  # the graceful timeout acted
    assert code == 0, stderr
    assert not client.is_alive() and "answer" not in outcome  # the request was cut, not waited for
    assert ("GET", "/sleep", 200) not in [(line["method"], line["path"], line["status"]) for line in log_lines(stdout)]
