"""Galaxy's importer accepts the built tarball with no error and no warning.

galaxy-importer runs in its own venv (build/importer-venv, `make importer-venv`: its pins conflict with the dev
tools'), offline and without docker (its ansible-test step off): it checks the metadata and the file manifest,
loads every plugin's documentation with ansible-doc, and lints the whole collection with ansible-lint (production).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
IMPORTER_BIN = ROOT / "build" / "importer-venv" / "bin"


def test_galaxy_importer_accepts_the_tarball_with_no_warning(collection_tarball, tmp_path):
    assert (IMPORTER_BIN / "python").exists(), f"{IMPORTER_BIN.parent} is missing: run make importer-venv"
    config = tmp_path / "galaxy-importer.cfg"
    config.write_text(
        "[galaxy-importer]\n"
        "run_ansible_test = False\n"
        "offline_ansible_lint = True\n"
        f"ansible_local_tmp = {tmp_path / 'ansible-tmp'}\n"
        f"tmp_root_dir = {tmp_path}\n"
    )
    # A plain environment: the importer's own tools first on PATH, a private HOME, its result file in tmp_path.
    env = {
        "PATH": f"{IMPORTER_BIN}:/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "LC_ALL": "C.UTF-8",
        "GALAXY_IMPORTER_CONFIG": str(config),
    }
    completed = subprocess.run(
        [IMPORTER_BIN / "python", "-m", "galaxy_importer.main", collection_tarball],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-6000:]
    assert "Importer processing completed successfully" in output, output[-6000:]
    assert "Linting collection via ansible-lint" in output and "ansible-lint run complete" in output, output[-6000:]
    problems = [line for line in output.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert problems == [], "\n".join(problems)
