"""A local OCI registry (Debian's docker-registry) and the local base image, standing in for ECR's endpoint.

moto's ECR keeps repositories but has no registry behind it, and no public registry is reachable here, so image
builds push to a private docker-registry on a free loopback port, from a base made by scripts/local-base-image.sh.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.local_aws import free_port

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "localhost/spillover-python:3.12"
needs_image_tools = pytest.mark.skipif(
    not (shutil.which("buildah") and shutil.which("docker-registry")),
    reason="needs buildah and docker-registry (make debs)",
)


@contextmanager
def local_registry(workdir: Path) -> Iterator[str]:
    """Run a private docker-registry on a free loopback port; yields ``host:port``."""
    port = free_port()
    config = workdir / "registry.yml"
    config.write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    with (workdir / "registry.log").open("w") as log:
        process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            yield f"127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=10)


def ensure_base_image(image: str = BASE_IMAGE) -> str:
    subprocess.run([str(ROOT / "scripts" / "local-base-image.sh"), image], check=True, capture_output=True)
    return image
