"""lab/ecs.py: an ECS task's container as the lab runs it, from the image ecr_push builds for the app."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lab.builder import ROOT, describe_app
from lab.ecs import container_process, read_dockerfile
from lab.stack import Container
from tests.support.app_support import ORDERS_INIT, ZIP_CACHE, python_project

FASTAPI = describe_app(ROOT / "examples" / "fastapi", "main:api", "asgi", health_path="/health")
TASK = Container("app", 8080, {"PORT": "8080"}, [], [])


def test_a_dockerfile_gives_the_environment_workdir_copies_and_command_a_build_gives_it(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "ARG BASE=python:3.12\n"
        "FROM ${BASE}\n"
        "# a comment\n"
        "ARG MODE=dev\n"
        "ARG PORT_ARG=8000\n"
        'ENV A=1 \\\n    B="two words" \\\n    C=${MODE}-$PORT_ARG\n'
        "ENV LEGACY value with spaces\n"
        "WORKDIR /srv/${MODE}\n"
        "COPY --chown=1:1 one.txt two.txt /opt/x/\n"
        "RUN echo ignored\n"
        'CMD ["python", "serve.py"]\n'
    )
    image = read_dockerfile(dockerfile, {"MODE": "prod"})
    assert image.environment == {"A": "1", "B": "two words", "C": "prod-8000", "LEGACY": "value with spaces"}
    assert image.workdir == "/srv/prod"
    assert image.copies == [(["one.txt", "two.txt"], "/opt/x/")]
    assert (image.entrypoint, image.cmd) == ([], ["python", "serve.py"])
    dockerfile.write_text('FROM x\nCMD ["a"]\nENTRYPOINT exec run --fast\n')
    shell = read_dockerfile(dockerfile, {})
    assert (shell.entrypoint, shell.cmd) == (["/bin/sh", "-c", "exec run --fast"], [])  # ENTRYPOINT resets CMD


@pytest.mark.integration
def test_the_recipe_container_runs_the_recipes_command_with_what_the_image_installs():
    process = container_process(FASTAPI, TASK, ZIP_CACHE)
    # The image's python and /opt/spillover/serve.py: this interpreter without its site-packages, the recipe's file.
    assert process.command == [sys.executable, "-S", str(ROOT / "files" / "container" / "serve.py")]
    assert process.cwd == FASTAPI.src  # WORKDIR /var/task, where the app's directory is copied
    environment = process.environment
    assert {key: environment[key] for key in ("APP_DIR", "APP_CALLABLE", "APP_INTERFACE", "APP_HEALTH_PATH")} == {
        "APP_DIR": str(FASTAPI.src),
        "APP_CALLABLE": "main:api",
        "APP_INTERFACE": "asgi",
        "APP_HEALTH_PATH": "/health",
    }
    installed = {path.name for path in Path(environment["PYTHONPATH"]).iterdir()}
    assert {"granian", "fastapi", "pydantic_core"} <= installed  # the recipe's requirements and the app's


def test_an_apps_own_dockerfile_wins_and_the_task_definitions_command_over_its_cmd(tmp_path):
    (tmp_path / "Dockerfile").write_text('FROM python:3.12\nENV X=1\nCMD ["gunicorn", "app:app"]\n')
    app = describe_app(tmp_path)
    own = container_process(app, TASK, ZIP_CACHE)
    assert (own.command, own.cwd, own.environment) == (["gunicorn", "app:app"], tmp_path, {"PORT": "8080"})
    told = container_process(app, Container("app", 8080, {}, ["/bin/run"], ["--fast"]), ZIP_CACHE)
    assert told.command == ["/bin/run", "--fast"]
    (tmp_path / "Dockerfile").write_text("FROM python:3.12\n")
    with pytest.raises(ValueError, match="sets no ENTRYPOINT or CMD and the task definition no command"):
        container_process(app, TASK, ZIP_CACHE)


@pytest.mark.integration
def test_a_python_projects_container_runs_its_installed_wheel_and_not_its_sources(tmp_path):
    """The recipe for a project: ecr_push's context holds its wheel (wheels/) and an empty app/ (WORKDIR, APP_DIR)."""
    app = python_project(tmp_path)
    process = container_process(describe_app(app, "orders:app"), TASK, ZIP_CACHE)
    assert process.cwd != app and list(process.cwd.iterdir()) == []
    assert process.environment["APP_DIR"] == str(process.cwd)
    installed = Path(process.environment["PYTHONPATH"])
    assert (installed / "orders" / "__init__.py").read_text() == ORDERS_INIT
    assert {"bottle.py", "granian"} <= {path.name for path in installed.iterdir()}
