"""The README's commands, typed into a plain shell in the repository: no make, no ANSIBLE_* variable, no AWS_* one.

The committed ansible.cfg (collections_path = collections, where a committed link names this working tree) is all
that makes spillover.lambda_ecs resolve, so a copy of the collection in ~/.ansible/collections is never used, and
nothing (not molecule either) installs one there.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.local_registry import needs_image_tools
from tests.support.stack_leftovers import stack_leftovers

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
RECAP = re.compile(r"^local\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
README_PLAYBOOKS = (
    "preflight.yml",
    "site.yml",
    "status.yml",
    "shift.yml",
    "teardown.yml",
    "deployer_policy.yml",
    "deployer_bootstrap.yml",
)


def plain_shell(command: str, home: Path, **variables: str) -> subprocess.CompletedProcess:
    """``command`` run by bash in the repository, in an environment with nothing but HOME, PATH and ``variables``."""
    env = {"HOME": str(home), "PATH": f"{VENV_BIN}:/usr/bin:/bin", "LC_ALL": "C.UTF-8", **variables}
    return subprocess.run(
        ["env", "-i", *(f"{key}={value}" for key, value in env.items()), "bash", "-c", command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1200,
        check=False,
    )


def recap(completed: subprocess.CompletedProcess) -> tuple[int, int]:
    """``(ok, changed)`` of the host ``local``; fails the test on a failed run."""
    output = completed.stdout + completed.stderr
    found = RECAP.search(completed.stdout)
    assert completed.returncode == 0 and found, output[-6000:]
    ok, changed, unreachable, failed = (int(value) for value in found.groups())
    assert unreachable == failed == 0, output[-6000:]
    return ok, changed


def plant_stale_copy(home: Path) -> Path:
    """A copy of the collection without its roles in ``~/.ansible/collections``: the kind a Galaxy install leaves."""
    stale = home / ".ansible" / "collections" / "ansible_collections" / "spillover" / "lambda_ecs"
    stale.mkdir(parents=True)
    shutil.copy(ROOT / "galaxy.yml", stale / "galaxy.yml")
    shutil.copytree(ROOT / "meta", stale / "meta")
    return stale


def test_the_makefile_molecule_and_ansible_cfg_agree_on_the_collections_path():
    config = configparser.ConfigParser()
    config.read(ROOT / "ansible.cfg")
    committed = (ROOT / config["defaults"]["collections_path"]).resolve()
    assert (committed / "ansible_collections" / "spillover" / "lambda_ecs").resolve() == ROOT
    make = subprocess.run(
        ["make", "--no-print-directory", "-s", "-f", "-", "show"],
        input="include Makefile\nshow:\n\t@echo $$ANSIBLE_COLLECTIONS_PATH\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert Path(make.stdout.strip()) == committed
    molecule = (ROOT / "extensions" / "molecule" / "config.yml").read_text()
    assert (
        "ANSIBLE_COLLECTIONS_PATH: ${MOLECULE_PROJECT_DIRECTORY}/" + config["defaults"]["collections_path"] in molecule
    )


def test_readme_commands_resolve_the_working_tree_not_a_copy_in_the_home(tmp_path):
    home = tmp_path / "home"
    stale = plant_stale_copy(home)
    commands = " && ".join(
        f"ansible-playbook -i inventories/local playbooks/{playbook} --syntax-check" for playbook in README_PLAYBOOKS
    )
    completed = plain_shell(commands, home)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.count("playbook: playbooks/") == len(README_PLAYBOOKS)

    # Where Ansible looks for collections, from the same plain shell: the working tree's link, not the home's copy.
    listed = plain_shell("ansible-galaxy collection list spillover.lambda_ecs", home)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert f"# {ROOT / 'collections' / 'ansible_collections'}" in listed.stdout
    assert str(stale.parents[2]) not in listed.stdout


def test_molecule_installs_nothing_into_the_home_collections(tmp_path):
    home = tmp_path / "home"
    completed = plain_shell("molecule syntax -s default", home)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-6000:]
    assert "converge.yml" in output
    home_collections = home / ".ansible" / "collections" / "ansible_collections"
    assert not (home_collections / "spillover").exists(), sorted(os.listdir(home_collections))


@pytest.mark.slow
@needs_image_tools
def test_readme_commands_deploy_show_shift_and_tear_down_from_a_plain_shell(
    local_aws, aws_client, registry, base_image
):
    # The README's commands against this test's local AWS and registry (the inventory reads their ports); the real
    # home, as a user's shell has it (the image builder keeps its storage there when not run as root).
    ports = {"LOCAL_AWS_PORT": local_aws.endpoint.rsplit(":", 1)[1], "LOCAL_REGISTRY_PORT": registry.rsplit(":", 1)[1]}
    home = Path.home()

    def readme(playbook: str, *extra: str) -> subprocess.CompletedProcess:
        command = shlex.join(["ansible-playbook", "-i", "inventories/local", f"playbooks/{playbook}", *extra])
        return plain_shell(command, home, **ports)

    assert recap(readme("site.yml"))[1] > 0

    status = readme("status.yml")
    recap(status)
    assert '"spillover-local-lambda": 100' in status.stdout and '"spillover-local-ecs": 0' in status.stdout
    assert '"spillover-local-spill-throttles": ' in status.stdout
    assert '"desired": "0"' in status.stdout or '"desired": 0' in status.stdout
    dashboard = "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/"
    assert f'"dashboard": "{dashboard}spillover-local"' in status.stdout

    # No ECS target is healthy: a positive share is refused and nothing changes; 0 % is what the listener has.
    refused = readme("shift.yml", "-e", "ecs_share=50")
    assert refused.returncode != 0
    assert "healthy" in refused.stdout, refused.stdout[-3000:]
    assert recap(readme("shift.yml", "-e", "ecs_share=0"))[1] == 0

    # Deploy again: no change (the zips are found in the user's cache, not rebuilt inside a copy of the collection).
    assert recap(readme("site.yml"))[1] == 0

    assert recap(readme("teardown.yml"))[1] > 0
    assert stack_leftovers(aws_client, "spillover-local") == []
