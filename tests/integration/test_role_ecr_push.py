"""The ecr_push role against the local AWS and a local OCI registry standing in for ECR's endpoint.

moto's ECR has no registry behind it, so the image goes to Debian's docker-registry on loopback
(ecr_push_registry_override), built by buildah from a base image made by scripts/local-base-image.sh (no public
registry is reachable here). The repository and its settings are asserted in moto; the image in the registry.
"""

from __future__ import annotations

import calendar
import io
import json
import os
import shutil
import subprocess
import urllib.request
import zipfile

import pytest

from lab.builder import app_zip, describe_app
from tests.support.ansible_run import ROOT
from tests.support.app_support import python_project
from tests.support.infra_roles import apply_role
from tests.support.local_registry import needs_image_tools

pytestmark = [pytest.mark.integration, needs_image_tools]

STACK = "ecrstack"
MANIFEST_TYPES = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"


def manifest_digest(registry: str, repository: str, tag: str) -> str:
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}", method="HEAD", headers={"Accept": MANIFEST_TYPES}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.headers["Docker-Content-Digest"]


def image_platform(registry: str, repository: str, digest: str) -> tuple[str, str]:
    """(os, architecture) of the image's configuration, as the registry serves it."""
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{digest}", headers={"Accept": MANIFEST_TYPES}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        config = json.load(response)["config"]["digest"]
    with urllib.request.urlopen(f"http://{registry}/v2/{repository}/blobs/{config}", timeout=5) as response:
        image = json.load(response)
    return image["os"], image["architecture"]


def registry_tags(registry: str, repository: str) -> list[str]:
    with urllib.request.urlopen(f"http://{registry}/v2/{repository}/tags/list", timeout=5) as response:
        return sorted(json.load(response)["tags"])


def test_build_push_skip_rebuild_then_absent_twice(local_aws, aws_client, registry, base_image, tmp_path):
    ecr = aws_client("ecr")
    app = tmp_path / "app"
    shutil.copytree(ROOT / "files" / "app", app, ignore=shutil.ignore_patterns("__pycache__"))
    role_vars = {
        "ecr_push_stack_name": STACK,
        "ecr_push_app_dir": str(app),
        "ecr_push_registry_override": registry,
        "ecr_push_base_image": base_image,
        "ecr_push_builder": "buildah",
    }
    repository = f"{STACK}-app"

    first = apply_role("ecr_push", local_aws.endpoint, role_vars)
    assert first.changed > 0
    uri = first.facts["ecr_push__image_uri"]
    tag = first.facts["ecr_push__image_tag"]
    assert tag.startswith("src-")
    # The image by its digest alone (repository@sha256:...): a tag beside the digest would be ignored.
    digest = manifest_digest(registry, repository, tag)
    assert uri == f"{registry}/{repository}@{digest}" and first.facts["ecr_push__image_digest"] == digest
    assert registry_tags(registry, repository) == [tag]
    # Built for the task's platform by default, whatever the controller's.
    assert first.facts["ecr_push__platform"] == "linux/amd64"
    assert image_platform(registry, repository, digest) == ("linux", "amd64")

    [repo] = ecr.describe_repositories(repositoryNames=[repository])["repositories"]
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    assert repo["imageTagMutability"] == "IMMUTABLE"
    policy = json.loads(ecr.get_lifecycle_policy(repositoryName=repository)["lifecyclePolicyText"])
    assert [rule["selection"]["tagStatus"] for rule in policy["rules"]] == ["untagged", "any"]
    assert policy["rules"][1]["selection"]["countNumber"] == 10

    # Unchanged sources: the tag is in the registry, nothing is built or pushed (both would report a change).
    second = apply_role("ecr_push", local_aws.endpoint, role_vars)
    assert second.changed == 0, second.output[-4000:]
    assert second.facts["ecr_push__image_uri"] == uri

    # A changed source is a new tag, built and pushed next to the old one.
    (app / "app.py").write_text((app / "app.py").read_text() + "\n# changed\n")
    checked = apply_role("ecr_push", local_aws.endpoint, role_vars, check=True)
    assert checked.changed > 0 and registry_tags(registry, repository) == [tag]
    third = apply_role("ecr_push", local_aws.endpoint, role_vars)
    assert third.changed > 0
    new_tag = third.facts["ecr_push__image_tag"]
    assert new_tag != tag and registry_tags(registry, repository) == sorted([tag, new_tag])

    # No build at all: the given image is published as is.
    given = {"ecr_push_stack_name": STACK, "ecr_push_build": False, "ecr_push_image_uri": uri}
    skipped = apply_role("ecr_push", local_aws.endpoint, given)
    assert skipped.changed == 0 and skipped.facts["ecr_push__image_uri"] == uri

    absent = {"ecr_push_stack_name": STACK, "ecr_push_state": "absent"}
    assert apply_role("ecr_push", local_aws.endpoint, absent).changed > 0
    assert ecr.describe_repositories()["repositories"] == []
    assert apply_role("ecr_push", local_aws.endpoint, absent).changed == 0


def buildah(*argv: str) -> str:
    completed = subprocess.run(
        ["buildah", "--storage-driver", "vfs", *argv],
        env={**os.environ, "BUILDAH_ISOLATION": "chroot"},
        stdin=subprocess.DEVNULL,  # buildah run would make a shared stdin non-blocking (ansible-playbook refuses that)
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def local_reference(run) -> str:
    """The tagged name of the image a role run built and kept (``ecr_push__image_uri`` names it by digest)."""
    return f"{run.facts['ecr_push__image_uri'].partition('@')[0]}:{run.facts['ecr_push__image_tag']}"


def test_an_app_without_a_dockerfile_gets_the_recipe_and_an_own_dockerfile_wins(
    local_aws, registry, base_image, tmp_path
):
    app = tmp_path / "flask"
    shutil.copytree(ROOT / "examples" / "flask", app, ignore=shutil.ignore_patterns("__pycache__"))
    (app / "app.py").chmod(0o600)  # readable by the image's user all the same
    role_vars = {
        "ecr_push_stack_name": STACK,
        "ecr_push_app_dir": str(app),
        "ecr_push_app_requirements": str(app / "requirements.txt"),
        "ecr_push_app_health_path": "/health",
        "ecr_push_app_port": 9000,
        "ecr_push_registry_override": registry,
        "ecr_push_base_image": base_image,
        "ecr_push_builder": "buildah",
        "ecr_push_keep_local_image": True,
    }
    built = apply_role("ecr_push", local_aws.endpoint, role_vars)
    reference = local_reference(built)
    config = json.loads(buildah("inspect", "--type", "image", reference))["Docker"]["config"]
    environment = dict(item.split("=", 1) for item in config["Env"])
    assert config["Cmd"] == ["python", "/opt/spillover/serve.py"]
    assert config["User"] == "10001:10001"
    assert {
        key: environment[key] for key in ("APP_DIR", "APP_CALLABLE", "APP_INTERFACE", "APP_HEALTH_PATH", "PORT")
    } == {
        "APP_DIR": "/var/task",
        "APP_CALLABLE": "app:app",
        "APP_INTERFACE": "wsgi",
        "APP_HEALTH_PATH": "/health",
        "PORT": "9000",
    }
    assert "APP_HEALTH_PATH" in " ".join(config["Healthcheck"]["Test"])  # /health, from the environment above
    container = buildah("from", reference).strip()
    try:
        # The app's requirements and the server are installed; the app's files are there, readable by the user.
        imported = buildah(
            "run",
            "--user",
            "10001:10001",
            container,
            "--",
            "python",
            "-c",
            "import flask, granian.server, app; print(app.app.name)",
        )
        assert imported.strip() == "app"
    finally:
        buildah("rm", container)

    # Another callable is another image; the same sources again are the same tag (no build, no push).
    again = apply_role("ecr_push", local_aws.endpoint, role_vars)
    assert again.changed == 0 and again.facts["ecr_push__image_uri"] == built.facts["ecr_push__image_uri"]
    other = apply_role("ecr_push", local_aws.endpoint, {**role_vars, "ecr_push_app_callable": "app:application"})
    assert other.facts["ecr_push__image_tag"] != built.facts["ecr_push__image_tag"]

    (app / "Dockerfile").write_text(f'FROM {base_image}\nCOPY app.py /srv/\nCMD ["python", "/srv/app.py"]\n')
    own = apply_role("ecr_push", local_aws.endpoint, role_vars)
    config = json.loads(buildah("inspect", "--type", "image", local_reference(own)))
    assert config["Docker"]["config"]["Cmd"] == ["python", "/srv/app.py"]
    for run in (built, other, own):
        buildah("rmi", local_reference(run))


# Run in the image as its user: (size, modification time) of some of /var/task's entries, and every entry of
# /var/task whose time is not the zip's.
STAT_TASK = """
import json, os, sys
root = "/var/task"
entries = {path: os.lstat(os.path.join(root, path)) for path in sys.argv[1:]}
others = [
    os.path.relpath(os.path.join(directory, name), root)
    for directory, subdirs, files in os.walk(root)
    for name in ["."] + subdirs + files
    if os.lstat(os.path.join(directory, name)).st_mtime != 315532800
]
sizes_and_times = {path: [found.st_size, found.st_mtime] for path, found in entries.items()}
print(json.dumps({"entries": sizes_and_times, "others": others}))
"""


def run_in_image(reference: str, *command: str) -> str:
    container = buildah("from", reference).strip()
    try:
        return buildah("run", "--user", "10001:10001", container, "--", *command)
    finally:
        buildah("rm", container)


def test_the_image_has_the_apps_files_where_and_when_the_zip_has_them(local_aws, registry, base_image, tmp_path):
    """Lambda unpacks the zip into /var/task, every entry dated 1980-01-01 UTC; the image lays the app and its packages
    out at the same place with the same time, so a static file's Last-Modified and ETag agree on both runtimes."""
    app = tmp_path / "flask"
    shutil.copytree(ROOT / "examples" / "flask", app, ignore=shutil.ignore_patterns("__pycache__"))
    (app / "static").mkdir()
    (app / "static" / "logo.svg").write_text("<svg/>\n")
    for path in [app, *app.rglob("*")]:
        os.utime(path, (1_900_000_000, 1_900_000_000))  # the controller's times: not what either runtime shows
    role_vars = {
        "ecr_push_stack_name": STACK,
        "ecr_push_app_dir": str(app),
        "ecr_push_app_requirements": str(app / "requirements.txt"),
        "ecr_push_registry_override": registry,
        "ecr_push_base_image": base_image,
        "ecr_push_builder": "buildah",
        "ecr_push_keep_local_image": True,
    }
    reference = local_reference(apply_role("ecr_push", local_aws.endpoint, role_vars))
    paths = ["static/logo.svg", "app.py", "flask/__init__.py"]
    try:
        image = json.loads(run_in_image(reference, "python", "-c", STAT_TASK, *paths))
    finally:
        buildah("rmi", reference)
    assert image["others"] == []  # every file and directory of /var/task, byte code too

    with zipfile.ZipFile(io.BytesIO(app_zip(describe_app(app)))) as archive:
        in_zip = {path: archive.getinfo(path) for path in paths}
    for path in paths:
        zipped = [in_zip[path].file_size, calendar.timegm((*in_zip[path].date_time, 0, 0, 0))]
        assert image["entries"][path][1] == zipped[1] == 315532800, path
    for path in ("static/logo.svg", "app.py"):  # the app's own bytes, on both
        assert image["entries"][path][0] == in_zip[path].file_size == (app / path).stat().st_size


def test_a_python_projects_image_installs_its_wheel_and_none_of_its_sources(local_aws, registry, base_image, tmp_path):
    app = python_project(tmp_path)
    role_vars = {
        "ecr_push_stack_name": STACK,
        "ecr_push_app_dir": str(app),
        "ecr_push_app_requirements": "",
        "ecr_push_app_callable": "orders:app",
        "ecr_push_registry_override": registry,
        "ecr_push_base_image": base_image,
        "ecr_push_builder": "buildah",
        "ecr_push_keep_local_image": True,
    }
    reference = local_reference(apply_role("ecr_push", local_aws.endpoint, role_vars))
    script = "import os, orders, bottle; print(orders.__file__, bottle.__file__, sorted(os.listdir('/var/task')))"
    try:
        found = run_in_image(reference, "python", "-c", script).split(" ", 2)
    finally:
        buildah("rmi", reference)
    assert found[:2] == ["/var/task/orders/__init__.py", "/var/task/bottle.py"]
    assert "pyproject.toml" not in found[2] and "orders-1.4.0.dist-info" in found[2]
