"""The collection as users get it: the tarball ``ansible-galaxy collection build`` makes, and that tarball installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def collection_tarball(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("galaxy")
    build = subprocess.run(
        [BIN / "ansible-galaxy", "collection", "build", "--output-path", work, ROOT],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    tarballs = list(work.glob("spillover-lambda_ecs-*.tar.gz"))
    assert len(tarballs) == 1
    return tarballs[0]


@pytest.fixture(scope="session")
def installed_collection(collection_tarball, tmp_path_factory) -> Path:
    """The collections root (``<root>/ansible_collections/spillover/lambda_ecs``) the tarball was installed into."""
    install_root = tmp_path_factory.mktemp("installed") / "collections"
    # No Galaxy server is reachable: the dependencies come from the ansible package in the venv.
    # Only the fresh root is configured, so the working tree's own link cannot count as "already installed".
    install = subprocess.run(
        [
            BIN / "ansible-galaxy",
            "collection",
            "install",
            "--no-deps",
            "--force",
            "-p",
            install_root,
            collection_tarball,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(install_root)},
        check=False,
    )
    assert install.returncode == 0, install.stderr
    return install_root
