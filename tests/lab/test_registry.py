"""lab/registry.py and lab/ecs.py's image_process: a task definition's image read from its registry (the layers
stacked with their whiteouts, the config's settings, digests checked, one unpacking per digest), and its container
as a process of this machine on the unpacked files."""

from __future__ import annotations

import shutil

import pytest

from lab.ecs import image_process, read_only_root_problem, start_container
from lab.registry import ImageNotReadable, machine_architecture, pull
from lab.stack import Container
from tests.support.local_registry import layer, local_registry, push_image

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not shutil.which("docker-registry"), reason="needs docker-registry (make debs)"),
]
ENVIRONMENT = ["PATH=/usr/local/bin:/bin", "APP_DIR=/app", "APP_HEALTH_PATH=/health", "GREETING=hello"]


def config(architecture: str | None = None, **settings) -> dict:
    return {
        "architecture": architecture or machine_architecture(),
        "os": "linux",
        "config": {"Env": ENVIRONMENT, "WorkingDir": "/app", "Cmd": ["serve", "/app/main.py"], **settings},
        "rootfs": {"type": "layers", "diff_ids": []},
    }


BASE = layer(
    {
        "usr/local/bin/serve": b"#!/bin/sh\n",
        "app/main.py": b"print('main')\n",
        "app/old.py": b"print('old')\n",
        "opt/data/a.txt": b"a",
        "opt/data/b.txt": b"b",
    },
    directories=("usr", "usr/local", "usr/local/bin", "app", "opt", "opt/data"),
    links={"app/settings.py": "main.py"},
)
# The app's layer: old.py removed, opt/data replaced by an opaque directory, main.py rewritten, the settings link
# replaced by a file of its own.
APP = layer(
    {
        "app/.wh.old.py": None,
        "opt/data/.wh..wh..opq": None,
        "opt/data/c.txt": b"c",
        "app/main.py": b"v2",
        "app/settings.py": b"DEBUG = False\n",
    }
)


def test_an_image_is_its_layers_stacked_with_their_whiteouts_and_its_configs_settings(tmp_path):
    with local_registry(tmp_path) as address:
        digest = push_image(address, "shop-app", "src-1", config(), [BASE, APP])
        image = pull(f"{address}/shop-app:src-1", tmp_path / "images")

    assert image.digest == digest
    files = sorted(str(path.relative_to(image.root)) for path in image.root.rglob("*") if path.is_file())
    assert files == ["app/main.py", "app/settings.py", "opt/data/c.txt", "usr/local/bin/serve"]
    assert (image.root / "app" / "main.py").read_bytes() == b"v2"
    assert not (image.root / "app" / "settings.py").is_symlink()
    assert image.environment == dict(item.split("=", 1) for item in ENVIRONMENT)
    assert (image.workdir, image.entrypoint, image.cmd) == ("/app", [], ["serve", "/app/main.py"])

    # Pinned by its digest (as site.yml pins the task definition's image), it is read again with the registry gone.
    again = pull(f"{address}/shop-app@{digest}", tmp_path / "images")
    assert (again.root, again.cmd) == (image.root, image.cmd)
    with pytest.raises(ImageNotReadable, match=rf"http://{address}/v2/shop-app/manifests/src-1 does not answer"):
        pull(f"{address}/shop-app:src-1", tmp_path / "images")


def test_an_image_the_lab_cannot_run_or_find_says_why(tmp_path):
    other = "arm64" if machine_architecture() == "amd64" else "amd64"
    with local_registry(tmp_path) as address:
        push_image(address, "shop-app", "foreign", config(other), [BASE])
        with pytest.raises(ImageNotReadable, match=f"is a linux/{other} image: the lab runs its processes on this"):
            pull(f"{address}/shop-app:foreign", tmp_path / "images")
        missing = "sha256:" + "0" * 64
        with pytest.raises(ImageNotReadable, match=f"/v2/shop-app/manifests/{missing} answered HTTP 404"):
            pull(f"{address}/shop-app@{missing}", tmp_path / "images")
    with pytest.raises(ImageNotReadable, match=r"python:3\.12-slim names no registry host"):
        pull("python:3.12-slim", tmp_path / "images")
    assert [path.name for path in (tmp_path / "images").iterdir()] == []  # nothing half-unpacked is kept


def test_the_container_runs_the_images_files_with_the_task_definitions_settings_over_the_images(tmp_path):
    with local_registry(tmp_path) as address:
        push_image(address, "shop-app", "src-1", config(), [BASE, APP])
        image = pull(f"{address}/shop-app:src-1", tmp_path / "images")
    root = image.root

    process = image_process(image, Container("app", 8080, {"GREETING": "hi", "PORT": "8080"}, [], []))
    # The command's first word found on the image's PATH; every absolute path the image holds is its unpacked copy.
    assert process.command == [str(root / "usr/local/bin/serve"), str(root / "app/main.py")]
    assert process.environment == {
        "PATH": f"{root / 'usr/local/bin'}:/bin",  # the image has no /bin: the path stays as it is
        "APP_DIR": str(root / "app"),
        "APP_HEALTH_PATH": "/health",
        "GREETING": "hi",
        "PORT": "8080",
    }
    assert process.cwd == root / "app"

    # A task definition's entry point replaces the image's and drops its CMD (as docker does); its command wins.
    assert image_process(image, Container("app", 8080, {}, ["/app/main.py"], [])).command == [str(root / "app/main.py")]
    assert image_process(image, Container("app", 8080, {}, [], ["serve", "--fast"])).command == [
        str(root / "usr/local/bin/serve"),
        "--fast",
    ]


# Tries to write in the app's directory, in the temporary directory and in its working directory (the image's
# /app), and says which it could.
PROBE = layer(
    {
        "usr/local/bin/probe": b"""#!/bin/sh
for name in APP_DIR TMPDIR; do
  eval place=\\$$name
  if { echo x > "$place/written"; } 2>/dev/null; then echo "$name writable"; else echo "$name read-only"; fi
done
if { echo x > written-here; } 2>/dev/null; then echo "WORKDIR writable"; else echo "WORKDIR read-only"; fi
"""
    },
    directories=("usr", "usr/local", "usr/local/bin", "app"),
)


@pytest.mark.parametrize("readonly_root", [True, False], ids=["read-only-root", "writable-root"])
def test_a_read_only_root_leaves_only_the_tasks_volumes_writable(tmp_path, readonly_root):
    """readonlyRootFilesystem, as Fargate runs it: the image's files cannot be written, a bind-mount volume without a
    host path (the ecs_service role's /tmp) can, and it is the task's own directory, not the image's."""
    if readonly_root and (problem := read_only_root_problem()):
        pytest.skip(f"this machine cannot give a process a read-only root: {problem}")
    with local_registry(tmp_path) as address:
        push_image(address, "shop-app", "probe", config(), [PROBE])
        image = pull(f"{address}/shop-app:probe", tmp_path / "images")
    task = Container("app", 8080, {"TMPDIR": "/tmp"}, ["probe"], [], readonly_root=readonly_root, mounts=("/tmp",))
    process = image_process(image, task)
    assert process.environment["TMPDIR"] == str(image.root / "tmp")  # the mount point, made as a runtime makes it

    log = tmp_path / "task-1.log"
    assert start_container(process, "127.0.0.1", 8080, log).wait(timeout=30) == 0
    volume = tmp_path / "task-1-volumes" / "tmp"
    if readonly_root:
        assert log.read_text().split("\n") == ["APP_DIR read-only", "TMPDIR writable", "WORKDIR read-only", ""]
        assert (volume / "written").read_text() == "x\n"
        assert not (image.root / "tmp" / "written").exists()  # written to the volume, not to the image's files
    else:
        assert log.read_text().split("\n") == ["APP_DIR writable", "TMPDIR writable", "WORKDIR writable", ""]
        assert (image.root / "app" / "written").exists() and not volume.exists()
