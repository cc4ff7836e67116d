"""The spillover_app role on its own (it makes no AWS call): the app's layout, its lock and the deploy check, with the
real pip and index, for each layout an app directory can have, and the refusal of a directory with nothing to deploy.

The role's description (``spillover_app__description``) is what site.yml hands to the ecr_push and lambda_function
roles; tests/integration/test_lambda_zip_module.py builds the zips of the same layouts and serves from them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.ansible_run import run_playbook
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


def test_a_directory_with_nothing_to_deploy_names_spillover_app_src(tmp_path):
    app = write_tree(tmp_path / "empty", {"README.md": "# some day\n"})
    completed = run_playbook(
        PLAYBOOK,
        inventory="localhost,",
        extra_vars={"infra_role": "spillover_app", "endpoint": "unused", **role_vars(app, tmp_path)},
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert f"spillover_app_src: src {app} holds nothing to package: no Python file" in output, output[-3000:]
