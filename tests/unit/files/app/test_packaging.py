"""The container packaging of the app: requirements kept in sync, Dockerfile facts, gunicorn settings."""

from __future__ import annotations

import re
import runpy
import subprocess
from pathlib import Path

import pytest

from tests.support.app_support import APP_DIR, ROOT, VENV_BIN, dockerfile_command

DOCKERFILE = (APP_DIR / "Dockerfile").read_text()


def requirement_lines(path: Path) -> set[str]:
    """The requirement lines of a pip requirements file, ``-r`` includes followed, comments dropped."""
    found = set()
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found |= requirement_lines(path.parent / line[3:].strip())
        elif line:
            found.add(line)
    return found


def test_image_requirements_equal_app_plus_container_requirements():
    container = requirement_lines(ROOT / "requirements" / "container.txt")
    assert {"bottle", "apig-wsgi", "gunicorn"} <= {re.split(r"[<>=!~ ;\[]", line)[0] for line in container}
    assert requirement_lines(APP_DIR / "requirements.txt") == container


def test_dockerfile_passes_hadolint():
    completed = subprocess.run(
        [str(VENV_BIN / "hadolint"), str(APP_DIR / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_dockerfile_runs_gunicorn_as_non_root_on_8080_with_a_python_healthcheck():
    assert re.search(r"^ARG BASE_IMAGE=python:3\.12-slim\S*$", DOCKERFILE, re.M)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", DOCKERFILE, re.M)
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^EXPOSE 8080$", DOCKERFILE, re.M)
    assert "--no-cache-dir" in DOCKERFILE
    healthcheck = re.search(r"^HEALTHCHECK .* CMD (\[.*\])$", DOCKERFILE, re.M).group(1)
    assert '"python"' in healthcheck and "/health" in healthcheck and "curl" not in DOCKERFILE
    assert dockerfile_command() == ["gunicorn", "--config", "gunicorn.conf.py", "app:app"]


def test_dockerignore_admits_exactly_what_the_dockerfile_copies():
    copied = set()
    for line in re.findall(r"^COPY (.+)$", DOCKERFILE, re.M):
        copied |= set(line.split()[:-1])
    rules = [line for line in (APP_DIR / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert rules[0] == "*"
    assert {rule[1:] for rule in rules[1:]} == copied
    assert all((APP_DIR / name).is_file() for name in copied)


@pytest.fixture
def gunicorn_settings(monkeypatch):
    for name in ("HOST", "PORT", "GUNICORN_WORKERS", "GUNICORN_THREADS", "GUNICORN_GRACEFUL_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)

    def load(**env):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return runpy.run_path(str(APP_DIR / "gunicorn.conf.py"))

    return load


def test_gunicorn_defaults_fit_a_quarter_vcpu_task_and_the_ecs_stop_timeout(gunicorn_settings):
    settings = gunicorn_settings()
    assert settings["bind"] == "0.0.0.0:8080"
    assert (settings["workers"], settings["worker_class"]) == (1, "gthread")
    assert settings["threads"] >= 16  # 16 sleeping requests at once, as the benchmark sends
    assert 0 < settings["graceful_timeout"] < 30  # ECS sends SIGKILL 30 s after SIGTERM by default
    assert settings["keepalive"] > 60  # the ALB's idle timeout: the ALB closes idle connections, not the app
    assert settings["accesslog"] is None  # the app logs one JSON line per request itself


def test_gunicorn_settings_follow_the_environment(gunicorn_settings):
    settings = gunicorn_settings(
        HOST="127.0.0.1", PORT="9000", GUNICORN_WORKERS="2", GUNICORN_THREADS="8", GUNICORN_GRACEFUL_TIMEOUT="10"
    )
    assert settings["bind"] == "127.0.0.1:9000"
    assert (settings["workers"], settings["threads"], settings["graceful_timeout"]) == (2, 8, 10)
