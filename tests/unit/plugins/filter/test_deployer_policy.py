"""spillover.lambda_ecs.deployer_policy: the least-privilege IAM policy of the role that deploys one stack.

Checked with parliament and against parliament's database of IAM actions (the resource types AWS authorizes each
action on, from the Service Authorization Reference): every resource is of a type its actions are authorized on, and
"*" is used only for actions that have no resource type. That the policy grants every call a deploy makes is proven
by ``make aws-quirks``, whose behaviour layer enforces it on the deploy (tests/support/aws_quirks).
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.support.ansible_run import link_collection
from tests.support.aws_quirks.iam import matches_format, privilege
from tests.support.iam_policies import grants, parliament_findings

sys.path.insert(0, str(link_collection()))

from ansible.errors import AnsibleFilterError
from ansible_collections.spillover.lambda_ecs.plugins.filter.deployer_policy import FilterModule, deployer_policy

ACCOUNT, REGION = "000123456789", "eu-west-1"


def names(stack: str = "shop", create_vpc: bool = True, region: str = REGION) -> dict:
    """What the roles' names entry points publish for ``stack`` (playbooks/tasks/names.yml)."""
    return {
        "account_id": ACCOUNT,
        "region": region,
        "network": {
            "alb_security_group": f"{stack}-alb",
            "task_security_group": f"{stack}-tasks",
            "vpc": stack if create_vpc else "vpc-0123456789abcdef0",
            "create_vpc": create_vpc,
        },
        "ecr_push": {"repository": f"{stack}-app"},
        "lambda_function": {
            "function": f"{stack}-app",
            "target_group": f"{stack}-lambda",
            "role": f"{stack}-app-lambda",
            "log_group": f"/aws/lambda/{stack}-app",
        },
        "ecs_service": {
            "cluster": stack,
            "service": f"{stack}-app",
            "target_group": f"{stack}-ecs",
            "task_family": f"{stack}-app",
            "task_execution_role": f"{stack}-app-task-exec",
            "log_group": f"/ecs/{stack}-app",
        },
        "alb": {"load_balancer": stack, "http_port": 80, "listener_ports": [80]},
        "scaler": {
            "function": f"{stack}-scaler",
            "log_group": f"/aws/lambda/{stack}-scaler",
            "role": f"{stack}-scaler",
        },
        "eventbridge": {"rules": [f"{stack}-alarm-state", f"{stack}-task-state", f"{stack}-schedule"]},
        "dashboard": {"dashboard": stack, "console_url": ""},
        "alarms": [
            f"{stack}-{name}"
            for name in (
                "spill-throttles",
                "spill-lambda-user-error",
                "spill-concurrency",
                "warm-concurrency",
                "spill-pressure",
                "warm-pressure",
            )
        ],
        "deployer_role_arn": f"arn:aws:iam::{ACCOUNT}:role/spillover-deploy",
    }


@pytest.mark.parametrize("create_vpc", [True, False])
def test_parliament_finds_nothing_but_what_a_deployer_is(create_vpc):
    policy = deployer_policy(names(create_vpc=create_vpc))
    assert [str(finding) for finding in parliament_findings(policy, community=False)] == []
    # Parliament's community auditors name what deploying the stack is: it creates roles and passes them (to Lambda
    # and ECS tasks, each to its own service), lets the load balancer and the rules invoke the functions, updates the
    # functions' code, and logs the builder in to ECR. Nothing else.
    issues = {finding.issue for finding in parliament_findings(policy)}
    assert issues == {"PERMISSIONS_MANAGEMENT_ACTIONS", "PRIVILEGE_ESCALATION", "CREDENTIALS_EXPOSURE"}


@pytest.mark.parametrize("create_vpc", [True, False])
def test_every_action_is_granted_on_its_own_resource_types_and_star_only_where_it_has_none(create_vpc):
    for statement in deployer_policy(names(create_vpc=create_vpc))["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        matched = set()
        for action in statement["Action"]:
            types = privilege(action)
            assert types is not None, f"{action} is not an IAM action"
            named = [entry["resource_type"].rstrip("*") for entry in types if entry["resource_type"]]
            if resources == ["*"]:
                assert named == [], f"{action} is on '*' though AWS authorizes it on {named}"
                continue
            assert named, f"{action} has no resource type: only '*' grants it"
            prefix = action.split(":", 1)[0]
            own = {r for r in resources if any(matches_format(prefix, kind, r) for kind in named)}
            assert own, f"{statement['Sid']}: no resource of {action}'s types {named} in {resources}"
            matched |= own
        if resources != ["*"]:
            assert matched == set(resources), f"{statement['Sid']}: {set(resources) - matched} serve no action"


def test_writes_are_scoped_to_the_stacks_names():
    found = grants(deployer_policy(names("shop")))
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
    assert found["lambda:CreateFunction"] == {arn + "shop-app", arn + "shop-scaler"}
    assert found["ecs:UpdateService"] == {f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/shop/shop-app"}
    assert found["ecs:RegisterTaskDefinition"] == {f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/shop-app:*"}
    # The listeners, and alb_path_rules' ECS-only rules: created on them, reordered and deleted as rules.
    listeners = {
        f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/shop/*/*",
        f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener-rule/app/shop/*/*/*",
    }
    for action in ("ModifyListener", "CreateRule", "DeleteRule", "SetRulePriorities"):
        assert found[f"elasticloadbalancing:{action}"] == listeners
    # The dashboard is global: no region in its ARN.
    assert {f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/shop"} <= found["cloudwatch:PutDashboard"]
    assert found["cloudwatch:PutDashboard"] == found["cloudwatch:DeleteDashboards"] == found["cloudwatch:GetDashboard"]
    assert found["ecr:PutImage"] == {f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/shop-app"}
    alarms = {f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}" for name in names("shop")["alarms"]}
    # One statement for the stack's alarms and its dashboard (the policy must fit IAM's inline limit).
    assert found["cloudwatch:PutMetricAlarm"] == alarms | {f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/shop"}
    assert found["iam:CreateRole"] == {
        f"arn:aws:iam::{ACCOUNT}:role/{name}" for name in ("shop-app-lambda", "shop-scaler", "shop-app-task-exec")
    }
    # Another stack of the same account and a longer name ("shop-prod") is out of reach.
    other = "shop-prod"
    for action, resources in found.items():
        assert not any(f"/{other}" in resource or f":{other}" in resource for resource in resources), action


@pytest.mark.parametrize("create_vpc", [True, False])
def test_the_update_and_tag_removal_paths_of_amazon_aws_modules_are_granted(create_vpc):
    found = grants(deployer_policy(names("shop", create_vpc=create_vpc)))
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
    functions = {arn + "shop-app", arn + "shop-scaler"}
    # amazon.aws.lambda's function_active/function_updated waiters before each UpdateFunctionConfiguration and
    # UpdateFunctionCode, then GetFunction of the version the update made (a qualified ARN).
    assert found["lambda:GetFunctionConfiguration"] == functions
    assert found["lambda:GetFunction"] == functions | {name + ":*" for name in functions}
    # ensure_ec2_tags removes the tags a run no longer sets: DeleteTags wherever CreateTags is granted.
    assert found["ec2:DeleteTags"] == found["ec2:CreateTags"]
    assert f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/*" in found["ec2:DeleteTags"]
    # ec2_vpc_route_table replaces a route whose target changed and purges the routes it does not set.
    route_writes = {"ec2:ReplaceRoute", "ec2:DeleteRoute"}
    assert route_writes <= set(found) if create_vpc else not route_writes & set(found)


def test_roles_are_passed_only_to_their_service_and_service_linked_roles_only_for_ecs_and_elb():
    policy = deployer_policy(names())
    passes = [s for s in policy["Statement"] if "iam:PassRole" in s["Action"]]
    assert {tuple(s["Resource"]): s["Condition"]["StringEquals"]["iam:PassedToService"] for s in passes} == {
        (f"arn:aws:iam::{ACCOUNT}:role/shop-app-lambda", f"arn:aws:iam::{ACCOUNT}:role/shop-scaler"): (
            "lambda.amazonaws.com"
        ),
        (f"arn:aws:iam::{ACCOUNT}:role/shop-app-task-exec",): "ecs-tasks.amazonaws.com",
    }
    assert all(s["Action"] == ["iam:PassRole"] for s in passes)
    [linked] = [s for s in policy["Statement"] if "iam:CreateServiceLinkedRole" in s["Action"]]
    assert linked["Action"] == ["iam:CreateServiceLinkedRole"]
    assert linked["Condition"]["StringEquals"]["iam:AWSServiceName"] == [
        "ecs.amazonaws.com",
        "elasticloadbalancing.amazonaws.com",
    ]
    # Each role's path names its service: the one statement grants no role to the other service.
    assert sorted(linked["Resource"]) == [
        f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS",
        f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/elasticloadbalancing.amazonaws.com/"
        "AWSServiceRoleForElasticLoadBalancing",
    ]


def test_a_stack_in_an_existing_vpc_gets_no_vpc_writes():
    created, given = grants(deployer_policy(names(create_vpc=True))), grants(deployer_policy(names(create_vpc=False)))
    vpc_writes = {"ec2:CreateVpc", "ec2:DeleteVpc", "ec2:CreateSubnet", "ec2:CreateRoute", "ec2:AttachInternetGateway"}
    assert vpc_writes <= set(created) and not vpc_writes & set(given)
    assert given["ec2:CreateSecurityGroup"] == {
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/*",
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/vpc-0123456789abcdef0",
    }


def test_the_preflight_may_simulate_only_the_deployer_itself():
    with_role = grants(deployer_policy(names()))
    assert with_role["iam:SimulatePrincipalPolicy"] == {f"arn:aws:iam::{ACCOUNT}:role/spillover-deploy"}
    without = {key: value for key, value in names().items() if key != "deployer_role_arn"}
    assert "iam:SimulatePrincipalPolicy" not in grants(deployer_policy(without))


def test_the_longest_stack_fits_one_inline_role_policy():
    # IAM allows 10,240 characters (whitespace left out) of inline policies per role.
    # The longest stack name AWS takes (tests/integration/test_stack_name.py): 25 characters.
    policy = deployer_policy(names("a" * 25, create_vpc=True, region="ap-southeast-3"))
    assert len(json.dumps(policy, separators=(",", ":"))) < 10240


def test_bad_input_is_refused_with_every_problem():
    bad = {**names(), "account_id": "12345", "region": "EU", "alb": {}, "surplus": 1}
    del bad["scaler"]
    bad["lambda_function"] = {"function": "shop-app"}
    with pytest.raises(AnsibleFilterError) as caught:
        deployer_policy(bad)
    message = str(caught.value)
    for expected in (
        "account_id must be",
        "region must be",
        "alb is required",
        "scaler is required",
        "lambda_function.role is required",
        "unknown key 'surplus'",
    ):
        assert expected in message
    with pytest.raises(AnsibleFilterError, match="expects a dict"):
        deployer_policy(["shop"])


def test_the_filter_is_registered():
    assert FilterModule().filters()["deployer_policy"] is deployer_policy
