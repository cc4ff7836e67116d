"""The ecr_push role against the local AWS and a local OCI registry standing in for ECR's endpoint.

moto's ECR has no registry behind it, so the image goes to Debian's docker-registry on loopback
(ecr_push_registry_override), built by buildah from a base image made by scripts/local-base-image.sh (no public
registry is reachable here). The repository and its settings are asserted in moto; the image in the registry.
"""

from __future__ import annotations

import json
import shutil
import urllib.request

import pytest

from tests.support.ansible_run import ROOT
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
    (app / "serve.py").write_text((app / "serve.py").read_text() + "\n# changed\n")
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
