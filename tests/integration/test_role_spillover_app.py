"""The spillover_app role on its own (it makes no AWS call): the app's layout, its lock and the deploy check, with the
real pip and index, for each layout an app directory can have, and the refusal of a directory with nothing to deploy;
the Host headers of the deploy check, with examples/django (ALLOWED_HOSTS).

The role's description (``spillover_app__description``) is what site.yml hands to the ecr_push and lambda_function
roles; tests/integration/test_lambda_zip_module.py builds the zips of the same layouts and serves from them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.ansible_run import ROOT, run_playbook
from tests.support.infra_roles import PLAYBOOK, apply_role

pytestmark = pytest.mark.integration

# A Python project in the src layout: pip builds it, the runtimes install its wheel (with its static file).
ORDERS = {
    "pyproject.toml": (
        '[build-system]\nrequires = ["setuptools>=70"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "orders"\nversion = "1.4.0"\ndependencies = ["bottle>=0.13,<0.14"]\n'
    ),
    "src/orders/__init__.py": "import bottle\n\napp = bottle.Bottle()\napp.route('/health')(lambda: 'ok')\n",
}


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


def role_vars(app: Path, tmp_path: Path, **more) -> dict:
    return {"spillover_app_src": str(app), "spillover_app_lock_cache_dir": str(tmp_path / "locks"), **more}


def test_a_python_project_is_checked_from_its_wheel_and_described_as_a_package(tmp_path):
    app = write_tree(tmp_path / "orders", ORDERS)
    run = apply_role("spillover_app", "unused", role_vars(app, tmp_path, spillover_app_callable="orders:app"))
    description = run.facts["spillover_app__description"]
    assert description["layout"] == "package"
    assert description["lambda_packages"]["orders"] == description["image_packages"]["orders"] == "1.4.0"
    assert "The app (a Python project, installed from its wheel, orders 1.4.0); its lock:" in run.output
    # The deploy check imported the installed wheel: the sources are not on its path (src/ is not a top level).
    assert not (app / "build").exists() and not list(app.rglob("*.egg-info"))


def test_a_directory_of_requirements_only_is_checked_from_its_package(tmp_path):
    app = write_tree(tmp_path / "httpbin", {"requirements.txt": "httpbin>=0.10,<0.11\n"})
    variables = role_vars(app, tmp_path, spillover_app_callable="httpbin:app", spillover_app_health_path="/status/200")
    description = apply_role("spillover_app", "unused", variables).facts["spillover_app__description"]
    assert (description["layout"], description["requirements"]) == ("requirements", str(app / "requirements.txt"))
    assert "httpbin" in description["lambda_packages"]


def failed_output(variables: dict) -> str:
    """The output of the role that must fail with ``variables``."""
    completed = run_playbook(
        PLAYBOOK, inventory="localhost,", extra_vars={"infra_role": "spillover_app", "endpoint": "unused", **variables}
    )
    assert completed.returncode != 0, completed.stdout[-3000:]
    return completed.stdout + completed.stderr


def test_a_directory_with_nothing_to_deploy_names_spillover_app_src(tmp_path):
    app = write_tree(tmp_path / "empty", {"README.md": "# some day\n"})
    output = failed_output(role_vars(app, tmp_path))
    assert f"spillover_app_src: src {app} holds nothing to package: no Python file" in output, output[-3000:]


DJANGO = {"spillover_app_callable": "mysite.wsgi:application"}


def test_django_passes_the_check_with_its_domain_as_the_health_host(tmp_path):
    variables = role_vars(ROOT / "examples" / "django", tmp_path, spillover_app_health_host="api.example.com", **DJANGO)
    description = apply_role("spillover_app", "unused", variables).facts["spillover_app__description"]
    assert (description["health_host"], description["layout"]) == ("api.example.com", "files")


def test_django_fails_the_check_with_the_default_host_naming_spillover_app_health_host(tmp_path):
    output = failed_output(role_vars(ROOT / "examples" / "django", tmp_path, **DJANGO))
    assert "spillover_app_health_path: GET /health answered 400, not 200 (Host spillover-check.invalid)" in output
    assert "<title>Bad Request (400)</title>" in output, output[-3000:]  # Django's answer to a Host it does not allow
    assert "(the Host is spillover_app_health_host: your domain, if the app accepts only its own)" in output


def test_django_that_refuses_a_tasks_ip_fails_the_check_as_its_tasks_would_fail_the_load_balancers(tmp_path):
    app = tmp_path / "django"
    shutil.copytree(ROOT / "examples" / "django", app, ignore=shutil.ignore_patterns("__pycache__"))
    settings = app / "mysite" / "settings.py"
    settings.write_text(settings.read_text().replace('    "mysite.health.HealthCheckMiddleware",', ""))
    output = failed_output(role_vars(app, tmp_path, spillover_app_health_host="api.example.com", **DJANGO))
    assert (
        "spillover_app_health_path: GET /health answered 400, not 200, with Host 10.80.0.10:8080, as the load "
        "balancer's health check asks an ECS task" in output
    ), output[-3000:]
    assert "(examples/django accepts a task's IP on the health path only)" in output


def test_a_health_host_that_is_no_host_is_refused_naming_it(tmp_path):
    variables = role_vars(ROOT / "examples" / "django", tmp_path, spillover_app_health_host="api.example.com/x")
    output = failed_output(variables)
    assert "spillover_app_health_host a host name or IP address with an optional :port" in output, output[-3000:]
    assert "(api.example.com/x)" in output
