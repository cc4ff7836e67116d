"""The collection builds into a tarball that installs (tests/integration/conftest.py), and ansible-doc shows each of
its modules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
pytestmark = pytest.mark.integration


def test_the_tarball_ships_no_development_leftovers(installed_collection):
    installed = installed_collection / "ansible_collections" / "spillover" / "lambda_ecs"
    assert (installed / "MANIFEST.json").is_file()
    assert (installed / "meta" / "runtime.yml").is_file()
    for leftover in (".venv", "build", ".git", ".ci", "collections", "ansible.cfg"):
        assert not (installed / leftover).exists(), leftover


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_shows_each_module_from_the_installed_tarball(installed_collection, module):
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(installed_collection)}
    shown = subprocess.run(
        [BIN / "ansible-doc", "--json", f"spillover.lambda_ecs.{module}"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert f"spillover.lambda_ecs.{module}" in shown.stdout
    assert '"short_description"' in shown.stdout
