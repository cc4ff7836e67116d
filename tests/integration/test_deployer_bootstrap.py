"""The roles' permissions boundary is the administrator's: playbooks/deployer_bootstrap.yml creates it with the
deployer policy's parts and attaches them to the deploying role; site.yml's boundary check
(playbooks/tasks/permissions_boundary.yml) only reads it as the deployer, whose policy the behaviour layer's IAM
engine enforces, and fails before anything is created when it is missing or not current; the bootstrap's ``absent``
removes what teardown.yml leaves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest

from tests.support.ansible_run import ROOT, run_playbook
from tests.support.aws_quirks.layer import QuirksLayer
from tests.support.aws_quirks.rules import IamScoping
from tests.support.aws_quirks.runner import DEPLOYER, DEPLOYER_ROLE, _is_write
from tests.support.local_aws import REGION
from tests.support.stack_leftovers import bootstrap_leftovers, stack_leftovers

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # several playbook runs each

ACCOUNT, STACK = "123456789012", "boot"  # the local AWS's account of the inventory's credentials
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{DEPLOYER_ROLE}"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/{STACK}-boundary"
RECAP = re.compile(r"^local\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
    ],
}


def play(playbook: Path | str, endpoint: str, check: bool = False, **extra) -> tuple[int, int, str]:
    """(changed, failed, output) of ``playbook`` on the local inventory's host, against ``endpoint``."""
    completed = run_playbook(
        playbook,
        inventory=ROOT / "inventories" / "local",
        extra_vars={"spillover_stack_name": STACK, **extra},
        check=check,
        env={"LOCAL_AWS_PORT": endpoint.rsplit(":", 1)[1]},
    )
    output = completed.stdout + completed.stderr
    recap = RECAP.search(completed.stdout)
    assert recap, output[-4000:]
    return int(recap.group(2)), int(recap.group(4)), output


def bootstrap(endpoint: str, check: bool = False, **extra) -> tuple[int, int, str]:
    return play(ROOT / "playbooks" / "deployer_bootstrap.yml", endpoint, check, **extra)


def boundary_check(endpoint: str, **extra) -> tuple[int, int, str]:
    return play(ROOT / "tests" / "integration" / "playbooks" / "permissions_boundary.yml", endpoint, **extra)


@pytest.fixture
def printed(tmp_path) -> dict:
    """The deployer policy's parts and the roles' boundary, as playbooks/deployer_policy.yml writes them."""
    completed = run_playbook(
        ROOT / "playbooks" / "deployer_policy.yml",
        inventory=ROOT / "inventories" / "local",
        extra_vars={
            "spillover_stack_name": STACK,
            "spillover_aws_account_id": ACCOUNT,
            "spillover_aws_assume_role_arn": ROLE_ARN,
            "deployer_policy_dir": str(tmp_path),
        },
    )
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-3000:]
    parts = [json.loads(path.read_text()) for path in sorted(tmp_path.glob(f"{STACK}-deployer-policy-*.json"))]
    return {"parts": parts, "boundary": json.loads((tmp_path / f"{STACK}-boundary-policy.json").read_text())}


@pytest.fixture
def iam(local_aws):
    """The administrator's IAM client (the inventory's credentials), with the deploying role already made."""
    client = boto3.client("iam", region_name=REGION, endpoint_url=local_aws.endpoint)
    client.create_role(RoleName=DEPLOYER_ROLE, AssumeRolePolicyDocument=json.dumps(TRUST))
    return client


def document(iam, arn: str) -> dict:
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]


def attached(iam) -> list[str]:
    return sorted(p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=DEPLOYER_ROLE)["AttachedPolicies"])


def test_an_administrator_equips_the_deployer_and_removes_it_after_teardown(local_aws, iam, printed):
    endpoint = local_aws.endpoint
    leftovers = lambda: bootstrap_leftovers(lambda service: boto3.client(service, endpoint_url=endpoint), STACK)  # noqa: E731
    changed, failed, output = bootstrap(endpoint, check=True, spillover_aws_assume_role_arn=ROLE_ARN)
    assert (failed, changed > 0) == (0, True), output[-4000:]
    assert leftovers() == [] and attached(iam) == []  # check mode wrote nothing

    changed, failed, output = bootstrap(endpoint, spillover_aws_assume_role_arn=ROLE_ARN)
    assert (failed, changed > 0) == (0, True), output[-4000:]
    parts = [f"{STACK}-deployer-policy-{n}" for n in range(1, len(printed["parts"]) + 1)]
    assert attached(iam) == parts
    assert [document(iam, f"arn:aws:iam::{ACCOUNT}:policy/{name}") for name in parts] == printed["parts"]
    assert document(iam, BOUNDARY) == printed["boundary"]
    # The role's trust policy is the administrator's, untouched.
    assert iam.get_role(RoleName=DEPLOYER_ROLE)["Role"]["AssumeRolePolicyDocument"] == TRUST
    changed, failed, output = bootstrap(endpoint, spillover_aws_assume_role_arn=ROLE_ARN)
    assert (changed, failed) == (0, 0), output[-4000:]

    # The boundary and the parts are no resource of the stack: a torn-down stack leaves them, the bootstrap's absent
    # removes them.
    assert stack_leftovers(lambda service: boto3.client(service, endpoint_url=endpoint), STACK) == []
    assert sorted(leftovers()) == sorted(f"IAM policy {name}" for name in [*parts, f"{STACK}-boundary"])
    absent = {"spillover_aws_assume_role_arn": ROLE_ARN, "deployer_bootstrap_state": "absent"}
    changed, failed, output = bootstrap(endpoint, **absent)
    assert (failed, changed > 0) == (0, True), output[-4000:]
    assert leftovers() == [] and attached(iam) == []
    changed, failed, output = bootstrap(endpoint, **absent)
    assert (changed, failed) == (0, 0), output[-4000:]


@pytest.fixture
def enforced(local_aws):
    """The layer, enforcing the deploying role's policy (the parts the bootstrap attached) on its calls."""
    rule = IamScoping(DEPLOYER, [ROLE_ARN])
    with QuirksLayer(local_aws.endpoint, [rule]) as layer:
        yield layer, rule


def test_site_only_reads_a_current_boundary_and_the_deployer_may_not_write_one(local_aws, iam, printed, enforced):
    layer, rule = enforced
    changed, failed, output = bootstrap(local_aws.endpoint, spillover_aws_assume_role_arn=ROLE_ARN)
    assert failed == 0, output[-4000:]
    deployer = {"spillover_aws_assume_role_arn": ROLE_ARN}

    changed, failed, output = boundary_check(layer.endpoint, **deployer)
    assert (changed, failed) == (0, 0), output[-4000:]
    assert rule.denials == {}
    assert rule.coverage  # the deployer's calls were checked
    writes = [f"{s}:{o}" for _key, s, o, _status in layer.exchanges if _is_write(o) and s == "iam"]
    assert writes == []

    # A boundary an earlier version wrote, or one widened by hand: the deployer may not put it right.
    wider = json.loads(json.dumps(printed["boundary"]))
    wider["Statement"].append({"Sid": "Everything", "Effect": "Allow", "Action": "*", "Resource": "*"})
    iam.create_policy_version(PolicyArn=BOUNDARY, PolicyDocument=json.dumps(wider), SetAsDefault=True)
    changed, failed, output = boundary_check(layer.endpoint, **deployer)
    assert failed == 1, output[-4000:]
    assert f"The permissions boundary of the stack's roles, {BOUNDARY}, is not the one this version" in output
    assert "playbooks/deployer_bootstrap.yml -l local" in output and "Nothing of the stack was created" in output
    # Refused by IAM at amazon.aws.iam_managed_policy's first call (it finds the policy by name: iam:ListPolicies).
    assert "is not authorized to perform: iam:" in output and rule.denials
    assert document(iam, BOUNDARY) == wider

    for version in iam.list_policy_versions(PolicyArn=BOUNDARY)["Versions"]:
        if not version["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=BOUNDARY, VersionId=version["VersionId"])
    iam.delete_policy(PolicyArn=BOUNDARY)
    changed, failed, output = boundary_check(layer.endpoint, **deployer)
    assert failed == 1 and f"{BOUNDARY}, does not exist" in output, output[-4000:]
    assert sum(rule.denials.values()) == 2

    # With an administrator's credentials (a local demo), the check writes it, and then only reads it.
    changed, failed, output = boundary_check(layer.endpoint)
    assert (changed, failed) == (1, 0), output[-4000:]
    assert document(iam, BOUNDARY) == printed["boundary"]
    assert boundary_check(layer.endpoint)[:2] == (0, 0)
