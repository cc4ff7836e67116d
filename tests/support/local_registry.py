"""A local OCI registry (Debian's docker-registry) and the local base image, standing in for ECR's endpoint.

moto's ECR keeps repositories but has no registry behind it, and no public registry is reachable here, so image
builds push to a private docker-registry on a free loopback port, from a base made by scripts/local-base-image.sh.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
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


def _upload_blob(base: str, data: bytes) -> str:
    """Push ``data`` as a blob of the repository at ``base`` (a monolithic upload); its digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    started = urllib.request.urlopen(urllib.request.Request(f"{base}/blobs/uploads/", method="POST", data=b""))
    location = started.headers["Location"]
    location = location if location.startswith("http") else base.split("/v2/")[0] + location
    separator = "&" if "?" in location else "?"
    _put(f"{location}{separator}digest={digest}", data, "application/octet-stream")
    return digest


def _put(url: str, data: bytes, content_type: str) -> None:
    """PUT ``data`` of ``content_type`` to ``url``, reading the answer through."""
    request = urllib.request.Request(url, method="PUT", data=data, headers={"Content-Type": content_type})
    urllib.request.urlopen(request).read()


def push_image(address: str, repository: str, tag: str, config: dict, layers: list[bytes]) -> str:
    """Push an OCI image of ``config`` (the image config document) and gzipped tar ``layers`` to the registry at
    ``address`` as ``repository:tag``, through the distribution API; the manifest's digest."""
    base = f"http://{address}/v2/{repository}"
    config_bytes = json.dumps(config).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _upload_blob(base, config_bytes),
            "size": len(config_bytes),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": _upload_blob(base, layer),
                "size": len(layer),
            }
            for layer in layers
        ],
    }
    body = json.dumps(manifest).encode()
    _put(f"{base}/manifests/{tag}", body, "application/vnd.oci.image.manifest.v1+json")
    return "sha256:" + hashlib.sha256(body).hexdigest()


def layer(
    files: dict[str, bytes | None], directories: tuple[str, ...] = (), links: dict[str, str] | None = None
) -> bytes:
    """A gzipped tar layer: ``directories``, symbolic ``links`` (path: target) and ``files`` by path (None: an empty
    whiteout marker file, such as ``a/.wh.b``)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in directories:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(info)
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data or b""), 0o755
            archive.addfile(info, io.BytesIO(data or b""))
    return buffer.getvalue()
