"""The roles that build files (the app and scaler zips) write nothing inside the installed collection.

An installed collection may be read-only (an execution environment). The tarball is installed, made read-only, and
the lambda_function and scaler roles run from it, with their default build directories, against the local AWS; the
zips land in the user's cache (a private HOME here) and the installed tree is byte for byte what was installed.
"""

from __future__ import annotations

import hashlib
import shutil
import stat
from pathlib import Path

import pytest

from tests.support.infra_roles import apply_role

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
LISTENER = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:listener/app/rostack/0123456789abcdef/0123456789abcdef"
TARGET_GROUP = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/rostack-%s/0123456789abcdef"


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every path under ``root`` with its mode and (for files) the SHA-256 of its bytes."""
    tree = {}
    for path in sorted(root.rglob("*")):
        content = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        tree[str(path.relative_to(root))] = (stat.S_IMODE(path.lstat().st_mode), content)
    return tree


def make_read_only(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(stat.S_IMODE(path.lstat().st_mode) & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@pytest.fixture
def read_only_collection(installed_collection, tmp_path_factory) -> Path:
    """A read-only installed copy of the collection: its collections root."""
    root = tmp_path_factory.mktemp("read-only") / "collections"
    # A copy of the session's installation, so that making it read-only touches no other test's tree.
    shutil.copytree(installed_collection, root, symlinks=True)
    make_read_only(root)
    yield root
    for path in [root, *root.rglob("*")]:
        path.chmod(stat.S_IMODE(path.lstat().st_mode) | stat.S_IWUSR)


def test_the_roles_build_their_zips_outside_a_read_only_collection(local_aws, read_only_collection, tmp_path):
    home = tmp_path / "home"
    cache = home / ".cache" / "spillover.lambda_ecs"
    cache.mkdir(parents=True)
    # The vendored requirement set the lambda_zip tests keep (same module, same key), so pip need not run again.
    vendored = ROOT / "build" / "test-cache" / "lambda-zip"
    vendored.mkdir(parents=True, exist_ok=True)
    (cache / "lambda_zip").symlink_to(vendored, target_is_directory=True)
    env = {
        "ANSIBLE_COLLECTIONS_PATH": str(read_only_collection),
        "HOME": str(home),
        # A read-only tree gets no byte code anyway; root (as in CI containers) writes despite the modes, so Python
        # is told not to try, and the snapshot shows what the roles themselves write.
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    installed = read_only_collection / "ansible_collections" / "spillover" / "lambda_ecs"
    before = snapshot(installed)
    assert all(not mode & stat.S_IWUSR for mode, _ in before.values())

    function_vars = {"lambda_function_stack_name": "rostack"}
    scaler_vars = {
        "scaler_stack_name": "rostack",
        "scaler_cluster_name": "rostack",
        "scaler_service_name": "rostack-app",
        "scaler_listener_arn": LISTENER,
        "scaler_lambda_target_group_arn": TARGET_GROUP % "lambda",
        "scaler_ecs_target_group_arn": TARGET_GROUP % "ecs",
        "scaler_spill_alarm_names": ["rostack-spill-throttles"],
    }
    first = [
        apply_role("lambda_function", local_aws.endpoint, function_vars, env=env),
        apply_role("scaler", local_aws.endpoint, scaler_vars, env=env),
    ]
    assert all(run.changed > 0 for run in first)

    # Both zips are in the user's cache, in the one directory of this copy of the collection.
    zips = sorted(path.relative_to(cache) for path in cache.glob("lambda/*/*.zip"))
    assert [path.name for path in zips] == ["rostack-app.zip", "rostack-scaler.zip"]
    assert zips[0].parent == zips[1].parent
    assert snapshot(installed) == before

    # A second run finds its zips in the cache: nothing changes, and still nothing is written into the collection.
    second = [
        apply_role("lambda_function", local_aws.endpoint, function_vars, env=env),
        apply_role("scaler", local_aws.endpoint, scaler_vars, env=env),
    ]
    assert [run.changed for run in second] == [0, 0], second[0].output[-3000:] + second[1].output[-3000:]
    assert snapshot(installed) == before
