"""The image of a task definition, read from its registry: its files unpacked as a root directory, and its config.

The lab runs a task's container as a process of this machine (:mod:`lab.ecs`), so it needs what the image holds
(the files its layers add and remove, in order) and what its config says (environment, working directory, entry
point, command, platform). It reads them through the OCI distribution API that every registry serves (the one
``docker pull`` and ``buildah pull`` use): the manifest (of this machine's platform, when the reference names an
index), the config blob and the layer blobs, each checked against its digest.

Registries on loopback answer plain HTTP (as docker and buildah treat them: the local registry that stands in for
ECR's endpoint), others HTTPS; the lab logs in to none, so an image in a registry that asks for a login (ECR on AWS)
cannot be read and says so. An image is unpacked once per manifest digest into a cache
(``~/.cache/spillover.lambda_ecs/lab/images``): an image pinned by digest, as site.yml pins the task definition's,
is read from the cache without asking the registry again.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import platform
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lab.collection import lambda_zip

IMAGE_CACHE = Path("~/.cache/spillover.lambda_ecs/lab/images").expanduser()
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ACCEPT = ", ".join((MANIFEST, DOCKER_MANIFEST, INDEX, DOCKER_LIST))
# Docker's and Go's names of this machine's architecture (platform.machine() as Linux reports it).
ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
TIMEOUT = 60


class ImageNotReadable(Exception):
    """The image cannot be read from its registry (or its platform cannot run here)."""


@dataclass(frozen=True)
class Reference:
    """``registry/repository[:tag][@digest]``, as a task definition's ``image`` names it."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, text: str) -> Reference:
        name, _, digest = text.partition("@")
        registry, slash, rest = name.partition("/")
        if not slash or not ("." in registry or ":" in registry or registry == "localhost"):
            raise ImageNotReadable(f"{text} names no registry host: the lab reads images from a registry by address")
        repository, tag = rest, None
        if ":" in rest.rsplit("/", 1)[-1]:
            repository, tag = rest.rsplit(":", 1)
        return cls(registry, repository, tag or None, digest or None)

    @property
    def base_url(self) -> str:
        host = self.registry.rsplit(":", 1)[0].strip("[]")
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        return f"{'http' if loopback else 'https'}://{self.registry}/v2/{self.repository}"

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        return f"{self.registry}/{self.repository}{tag}" + (f"@{self.digest}" if self.digest else "")


@dataclass(frozen=True)
class Image:
    """An image unpacked at ``root``, with its config's settings."""

    reference: str
    digest: str  # the manifest's
    root: Path
    environment: dict[str, str]
    workdir: str
    entrypoint: list[str]
    cmd: list[str]


def machine_architecture() -> str:
    return ARCHITECTURES.get(platform.machine().lower(), platform.machine().lower())


def _get(url: str, accept: str | None = None) -> urllib.request.addinfourl:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as error:
        if error.code == 401:
            raise ImageNotReadable(
                f"{url} asks for a login: the lab reads images only from registries that need none"
            ) from error
        raise ImageNotReadable(f"{url} answered HTTP {error.code}") from error
    except OSError as error:
        raise ImageNotReadable(f"{url} does not answer ({error})") from error


def _manifest(reference: Reference, ref: str) -> tuple[dict, str]:
    """The manifest ``ref`` (tag or digest) and its digest; an index gives its manifest for this machine."""
    with _get(f"{reference.base_url}/manifests/{ref}", ACCEPT) as answer:
        body = answer.read()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    if ref.startswith("sha256:") and digest != ref:
        raise ImageNotReadable(f"{reference}: the registry's manifest has the digest {digest}, not {ref}")
    manifest = json.loads(body)
    if manifest.get("mediaType") in (INDEX, DOCKER_LIST) or "manifests" in manifest:
        wanted = machine_architecture()
        found = [
            item["digest"]
            for item in manifest["manifests"]
            if item.get("platform", {}).get("os") == "linux" and item.get("platform", {}).get("architecture") == wanted
        ]
        if not found:
            raise ImageNotReadable(f"{reference} has no image for linux/{wanted}, the platform of this machine")
        return _manifest(reference, found[0])
    return manifest, digest


def _blob(reference: Reference, digest: str, destination: Path) -> None:
    """Download the blob ``digest`` to ``destination``, checking its digest."""
    algorithm, _, expected = digest.partition(":")
    if algorithm != "sha256":
        raise ImageNotReadable(f"{reference}: blob {digest} uses {algorithm}, the lab checks sha256 only")
    hashed = hashlib.sha256()
    with _get(f"{reference.base_url}/blobs/{digest}") as answer, open(destination, "wb") as out:
        while chunk := answer.read(1 << 20):
            hashed.update(chunk)
            out.write(chunk)
    if hashed.hexdigest() != expected:
        raise ImageNotReadable(f"{reference}: blob {digest} arrived with the digest sha256:{hashed.hexdigest()}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def apply_layer(layer: Path, root: Path) -> None:
    """Unpack the layer tarball ``layer`` over ``root`` as an image's layers stack: its whiteouts (``.wh.NAME``)
    remove NAME of the layers below, an opaque whiteout (``.wh..wh..opq``) its directory's contents; device nodes
    and FIFOs are left out (a process of this machine uses the machine's /dev)."""
    with tarfile.open(layer, mode="r:*") as archive:
        members = archive.getmembers()
        kept = []
        for member in members:
            path = Path(member.name.lstrip("/"))
            if path.name == OPAQUE:
                directory = root / path.parent
                for child in directory.iterdir() if directory.is_dir() else ():
                    _remove(child)
            elif path.name.startswith(WHITEOUT):
                _remove(root / path.parent / path.name[len(WHITEOUT) :])
            elif member.isdev():
                continue
            else:
                existing = root / path
                if existing.is_symlink():  # a file replaces the link rather than writing through it
                    if not member.isdir():
                        _remove(existing)
                elif existing.exists() and member.isdir() != existing.is_dir():
                    _remove(existing)
                kept.append(member)
        archive.extractall(root, members=kept, filter="tar")


def _unpack(reference: Reference, manifest: dict, entry: str) -> None:
    directory = Path(entry)
    root = directory / "rootfs"
    root.mkdir()
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        config_path = Path(scratch) / "config"
        _blob(reference, manifest["config"]["digest"], config_path)
        config = json.loads(config_path.read_text())
        architecture = config.get("architecture", "")
        if architecture and architecture != machine_architecture():
            raise ImageNotReadable(
                f"{reference} is a linux/{architecture} image: the lab runs its processes on this machine, which is "
                f"linux/{machine_architecture()} (ecr_push_platform builds for the controller's own by default)"
            )
        for layer in manifest["layers"]:
            if "zstd" in layer.get("mediaType", ""):
                raise ImageNotReadable(f"{reference}: a zstd layer ({layer['digest']}): the lab reads gzip and tar")
            path = Path(scratch) / "layer"
            _blob(reference, layer["digest"], path)
            apply_layer(path, root)
            path.unlink()
        (directory / "config.json").write_text(json.dumps(config))


def pull(text: str, cache_dir: Path = IMAGE_CACHE) -> Image:
    """The image ``text`` (a task definition's ``image``), unpacked in ``cache_dir`` once per manifest digest."""
    reference = Reference.parse(text)
    digest = reference.digest
    if digest is None:  # a tag: the registry says which manifest it names now
        digest = _manifest(reference, reference.tag or "latest")[1]

    def fill(entry: str) -> None:
        _unpack(reference, _manifest(reference, digest)[0], entry)

    try:
        entry, _ = lambda_zip.cache_entry(str(cache_dir), _key(digest), fill, error=ImageNotReadable)
    except (OSError, tarfile.TarError) as error:
        raise ImageNotReadable(f"{reference}: unpacking it failed: {error}") from error
    config = json.loads((Path(entry) / "config.json").read_text()).get("config") or {}
    return Image(
        reference=text,
        digest=digest,
        root=Path(entry) / "rootfs",
        environment=dict(item.partition("=")[::2] for item in config.get("Env") or []),
        workdir=config.get("WorkingDir") or "/",
        entrypoint=list(config.get("Entrypoint") or []),
        cmd=list(config.get("Cmd") or []),
    )


def _key(digest: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "-", digest)


def image_path(image: Image, path: str) -> str:
    """The local path of the image's absolute ``path`` when the image holds it, else ``path`` unchanged."""
    if not path.startswith("/") or path == "/":
        return path
    local = image.root / path.lstrip("/")
    return str(local) if os.path.lexists(local) else path
