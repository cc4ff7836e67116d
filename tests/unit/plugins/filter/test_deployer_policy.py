"""spillover.lambda_ecs.deployer_policy: the least-privilege IAM policy of the role that deploys one stack.

Checked with parliament and against parliament's database of IAM actions (the resource types AWS authorizes each
action on, from the Service Authorization Reference): every resource is of a type its actions are authorized on, and
"*" is used only for actions that have no resource type. That the policy grants every call a deploy makes is proven
by ``make aws-quirks``, whose behaviour layer enforces it on the deploy (tests/support/aws_quirks).
"""

from __future__ import annotations

import json
import sys

import jinja2
import pytest

from tests.support.ansible_run import ROOT, link_collection
from tests.support.aws_quirks.iam import evaluate, matches_format, privilege
from tests.support.iam_policies import grants, parliament_findings

sys.path.insert(0, str(link_collection()))

from ansible.errors import AnsibleFilterError
from ansible_collections.spillover.lambda_ecs.plugins.filter import boundary_policy as boundary_filter
from ansible_collections.spillover.lambda_ecs.plugins.filter import deployer_policy_parts as parts_filter
from ansible_collections.spillover.lambda_ecs.plugins.filter.deployer_policy import (
    FilterModule,
    boundary_policy,
    deployer_policy,
    deployer_policy_parts,
)
from ansible_collections.spillover.lambda_ecs.plugins.filter.scaler_policy import scaler_policy

ACCOUNT, REGION = "000123456789", "eu-west-1"


def names(stack: str = "shop", create_vpc: bool = True, region: str = REGION) -> dict:
    """What the roles' names entry points publish for ``stack`` (playbooks/tasks/names.yml)."""
    return {
        "account_id": ACCOUNT,
        "region": region,
        "network": {
            "stack": stack,
            "alb_security_group": f"{stack}-alb",
            "task_security_group": f"{stack}-tasks",
            "vpc": stack if create_vpc else "vpc-0123456789abcdef0",
            "create_vpc": create_vpc,
            "flow_logs": "none",
            "flow_logs_role": f"{stack}-flow-logs",
            "flow_logs_log_group": f"/vpc/{stack}-flow-logs",
            "private_subnets": False,
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
        "permissions_boundary": {"name": f"{stack}-boundary", "arn": ""},
    }


def own_findings(policy: dict) -> list[str]:
    """Parliament's findings (its community auditors' apart), less the one it makes of CreateOnlyWithTheStackTag:
    parliament wants each statement to name every resource type of its actions, while AWS authorizes each resource
    of a call on its own, against every statement. The subnet and route table a call creates are authorized by their
    requested tag there, the VPC they go in by its tag in StackTaggedNetwork; a VPC in a statement with
    aws:RequestTag would let them into any VPC."""
    own = []
    for finding in parliament_findings(policy, community=False):
        # The alb role writes the policy of the access logs bucket it creates (log delivery's grant): a deployer that
        # may write a bucket policy may grant itself that bucket's objects. Bounded to that one bucket, which holds
        # the load balancer's logs only; S3 has no condition key on a bucket policy's content.
        bucket = f":s3:::shop-alb-logs-{ACCOUNT} "
        if finding.issue == "RESOURCE_POLICY_PRIVILEGE_ESCALATION" and bucket in str(finding):
            continue
        mismatched = {item["action"] for item in finding.detail} if finding.issue == "RESOURCE_MISMATCH" else set()
        if mismatched and mismatched <= {"ec2:CreateSubnet", "ec2:CreateRouteTable"}:
            assert all(item["required_format"] == "arn:*:ec2:*:*:vpc/*" for item in finding.detail)
            continue
        own.append(str(finding))
    return own


WEB_ACL = f"arn:aws:wafv2:{REGION}:{ACCOUNT}:regional/webacl/shop-acl/a1b2c3d4-5678-90ab-cdef-000000000000"
# The alb role's options (alb__names): access logs in the bucket the role creates, and a WAF web ACL.
ALB_OPTIONS = {"access_logs": True, "access_logs_bucket": "", "web_acl_arn": WEB_ACL}
LOGS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ENVIRONMENT_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/mrk-5678abcd12ab34cd56ef1234567890ab"


def with_alb(data: dict, **alb) -> dict:
    return {**data, "alb": {**data["alb"], **alb}}


def with_kms_keys(data: dict, logs: str = LOGS_KEY, lambda_environment: str = ENVIRONMENT_KEY) -> dict:
    return {**data, "kms_keys": {"logs": logs, "lambda_environment": lambda_environment}}


# The stacks the policy's shape is checked on: with a created VPC or the user's, and with the paid options.
SHAPES = pytest.mark.parametrize(
    "create_vpc,alb_options,kms",
    [(True, {}, False), (False, {}, False), (True, ALB_OPTIONS, False), (True, {}, True), (False, {}, True)],
    ids=["created-vpc", "own-vpc", "alb-options", "kms-keys", "own-vpc-kms-keys"],
)


def shaped(create_vpc: bool, alb_options: dict, kms: bool) -> dict:
    data = with_alb(names(create_vpc=create_vpc), **alb_options)
    return with_kms_keys(data) if kms else data


@SHAPES
def test_parliament_finds_nothing_but_what_a_deployer_is(create_vpc, alb_options, kms):
    policy = deployer_policy(shaped(create_vpc, alb_options, kms))
    assert own_findings(policy) == []
    # Parliament's community auditors name what deploying the stack is: it creates roles and passes them (to Lambda
    # and ECS tasks, each to its own service), lets the load balancer and the rules invoke the functions, updates the
    # functions' code, and logs the builder in to ECR. Nothing else.
    issues = {finding.issue for finding in parliament_findings(policy)} - {"RESOURCE_MISMATCH"}
    # With the access logs bucket the role creates, it also writes that bucket's policy (own_findings).
    bucket_policy = {"RESOURCE_POLICY_PRIVILEGE_ESCALATION"} if alb_options.get("access_logs") else set()
    assert issues == {"PERMISSIONS_MANAGEMENT_ACTIONS", "PRIVILEGE_ESCALATION", "CREDENTIALS_EXPOSURE", *bucket_policy}


@SHAPES
def test_every_action_is_granted_on_its_own_resource_types_and_star_only_where_it_has_none(
    create_vpc, alb_options, kms
):
    for statement in deployer_policy(shaped(create_vpc, alb_options, kms))["Statement"]:
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


@pytest.mark.parametrize("stack", ["shop", "a" * 25])
@pytest.mark.parametrize("create_vpc", [True, False])
def test_the_parts_hold_the_whole_policy_each_within_a_managed_policy(stack, create_vpc):
    # IAM allows 6,144 characters (whitespace left out) per managed policy, and 10 managed policies per role by
    # default. The longest stack name AWS takes (tests/integration/test_stack_name.py): 25 characters.
    data = names(stack, create_vpc=create_vpc, region="ap-southeast-3")
    parts = deployer_policy_parts(data)
    assert 1 <= len(parts) <= 3
    assert all(len(json.dumps(part, separators=(",", ":"))) <= 6144 for part in parts)
    assert [s for part in parts for s in part["Statement"]] == deployer_policy(data)["Statement"]
    assert all(part["Version"] == "2012-10-17" for part in parts)


def test_the_parts_hold_the_policy_with_kms_keys_for_the_longest_stack():
    data = with_kms_keys(names("a" * 25, create_vpc=True, region="ap-southeast-3"))
    parts = deployer_policy_parts(data)
    assert 1 <= len(parts) <= 3
    assert all(len(json.dumps(part, separators=(",", ":"))) <= 6144 for part in parts)


def test_a_long_stack_needs_more_than_one_part():
    # The whole policy of the longest stack name is beyond a role's 10,240 characters of inline policies: hence parts.
    data = names("a" * 25, create_vpc=True, region="ap-southeast-3")
    assert len(json.dumps(deployer_policy(data), separators=(",", ":"))) > 10240
    assert len(deployer_policy_parts(data)) > 1


BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/shop-boundary"
ROLES = {f"arn:aws:iam::{ACCOUNT}:role/{name}" for name in ("shop-app-lambda", "shop-scaler", "shop-app-task-exec")}


def test_roles_are_created_and_given_policies_only_with_the_stacks_boundary():
    policy = deployer_policy(names())
    bounded = {"iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary"}
    for statement in policy["Statement"]:
        if bounded & set(statement["Action"]):
            assert set(statement["Action"]) == bounded
            assert set(statement["Resource"]) == ROLES
            assert statement["Condition"] == {"ArnEquals": {"iam:PermissionsBoundary": BOUNDARY}}
    found = grants(policy)
    assert bounded <= set(found)
    # What would lift or bypass the boundary, or let another principal assume a role, is not granted at all.
    for action in (
        "iam:DeleteRolePermissionsBoundary",
        "iam:UpdateAssumeRolePolicy",
        "iam:AttachRolePolicy",
        "iam:DetachRolePolicy",
    ):
        assert action not in found


def policy_actions(found: dict[str, set[str]]) -> dict[str, set[str]]:
    """The grants of IAM actions that AWS authorizes on a managed policy (parliament's resource type ``policy``)."""
    return {
        action: resources
        for action, resources in found.items()
        if action.startswith("iam:") and any(kind["resource_type"] == "policy*" for kind in privilege(action) or [])
    }


@pytest.mark.parametrize("named", ["", "arn:aws:iam::000123456789:policy/security/org-boundary"], ids=["stack", "own"])
def test_the_deployer_may_only_read_the_boundary_and_writes_no_policy(named):
    """The stack's boundary (which an administrator creates, playbooks/deployer_bootstrap.yml) or the user's own: the
    deployer reads it and writes no managed policy, so it cannot widen the boundary and then a role."""
    policy = deployer_policy({**names(), "permissions_boundary": {"name": "shop-boundary", "arn": named}})
    boundary = named or BOUNDARY
    assert policy_actions(grants(policy)) == {"iam:GetPolicy": {boundary}, "iam:GetPolicyVersion": {boundary}}
    [bounded] = [s for s in policy["Statement"] if "iam:CreateRole" in s["Action"]]
    assert bounded["Condition"] == {"ArnEquals": {"iam:PermissionsBoundary": boundary}}
    # Nor does it list policies: it reads the boundary by its ARN.
    assert "iam:ListPolicies" not in grants(policy)


def test_functions_may_be_invoked_only_by_the_principal_the_stack_wires_to_them():
    policy = deployer_policy(names())
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
    adds = {
        tuple(s["Resource"]): s["Condition"]
        for s in policy["Statement"]
        if "lambda:AddPermission" in s["Action"] and s["Action"] == ["lambda:AddPermission"]
    }
    assert adds == {
        (arn + "shop-app",): {"StringEquals": {"lambda:Principal": "elasticloadbalancing.amazonaws.com"}},
        (arn + "shop-scaler",): {"StringEquals": {"lambda:Principal": "events.amazonaws.com"}},
    }
    assert sum("lambda:AddPermission" in s["Action"] for s in policy["Statement"]) == 2


def test_without_the_alb_options_the_deployer_has_no_s3_and_no_waf_grant():
    found = grants(deployer_policy(names()))
    assert not [action for action in found if action.startswith(("s3:", "wafv2:", "elasticloadbalancing:SetWebAcl"))]


def test_access_logs_in_the_bucket_the_role_creates_grant_that_bucket_only():
    found = grants(deployer_policy(with_alb(names("Shop"), access_logs=True, access_logs_bucket="")))
    bucket = f"arn:aws:s3:::shop-alb-logs-{ACCOUNT}"
    s3 = {action: resources for action, resources in found.items() if action.startswith("s3:")}
    # Created, configured as the role configures it, emptied and deleted by teardown: nothing else, nowhere else.
    assert s3.pop("s3:DeleteObject") == {f"{bucket}/*"}
    assert {action: resources for action, resources in s3.items() if resources != {bucket}} == {}
    assert {"s3:CreateBucket", "s3:DeleteBucket", "s3:PutBucketPolicy", "s3:PutEncryptionConfiguration"} <= set(s3)
    assert not {"s3:PutObject", "s3:GetObject", "s3:PutBucketAcl", "s3:DeleteBucketPolicy"} & set(found)


def test_access_logs_in_a_bucket_of_the_users_own_grant_nothing_on_it():
    found = grants(deployer_policy(with_alb(names(), access_logs=True, access_logs_bucket="org-logs")))
    assert not [action for action in found if action.startswith("s3:")]


def test_the_web_acl_is_associated_with_the_stacks_load_balancer_only():
    found = grants(deployer_policy(with_alb(names(), web_acl_arn=WEB_ACL)))
    load_balancer = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/shop/*"
    assert found["wafv2:AssociateWebACL"] == found["wafv2:GetWebACLForResource"] == {WEB_ACL, load_balancer}
    assert found["wafv2:GetWebACL"] == {WEB_ACL}
    # Elastic Load Balancing's side of it has no resource type: AWS grants it on "*" only.
    assert found["elasticloadbalancing:SetWebAcl"] == {"*"}
    assert "wafv2:DisassociateWebACL" not in found


EC2_READS = ("ec2:Describe",)


@pytest.mark.parametrize("create_vpc", [True, False])
def test_every_ec2_write_is_conditioned_on_the_stacks_tag(create_vpc):
    policy = deployer_policy(names("shop", create_vpc=create_vpc))
    for statement in policy["Statement"]:
        writes = [a for a in statement["Action"] if a.startswith("ec2:") and not a.startswith(EC2_READS)]
        if not writes:
            continue
        if statement["Sid"] == "RevokeDefaultGroupRules":
            # The one exception: the created VPC's default group (EC2's, untagged) loses its rules; revokes only, on
            # groups of no stack.
            assert create_vpc and writes == ["ec2:RevokeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress"]
            assert statement["Resource"] == [f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/*"]
            assert statement["Condition"] == {"Null": {"ec2:ResourceTag/spillover:stack": "true"}}
            continue
        condition = statement["Condition"]["StringEquals"]
        # Requested on create, carried on change and delete.
        assert {condition.get("aws:RequestTag/spillover:stack"), condition.get("ec2:ResourceTag/spillover:stack")} == {
            "shop",
            None,
        }, statement["Sid"]
        # Tagging by request alone is tag-on-create only: an existing resource is tagged only if it is the stack's.
        if "ec2:CreateTags" in writes and "aws:RequestTag/spillover:stack" in condition:
            assert statement["Action"] == ["ec2:CreateTags"] and "ec2:CreateAction" in condition


def kms_verdict(policy: dict, action: str, resource: str, via: str | None = None) -> str:
    return evaluate([policy], action, resource, {"kms:ViaService": [via]} if via else {})


LOG_GROUP = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/shop-app"
OTHER_LOG_GROUP = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/shop-prod-app"
OTHER_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0000abcd-12ab-34cd-56ef-1234567890ab"
LAMBDA_SERVICE = f"lambda.{REGION}.amazonaws.com"


def test_the_named_kms_keys_are_used_only_as_the_stack_uses_them():
    policy = deployer_policy(with_kms_keys(names()))
    # The preflight describes both keys; nothing else of KMS is granted on the key of the logs, which CloudWatch Logs
    # uses itself.
    for key in (LOGS_KEY, ENVIRONMENT_KEY):
        assert kms_verdict(policy, "kms:DescribeKey", key) == "allow"
    for action in ("kms:Encrypt", "kms:Decrypt", "kms:CreateGrant", "kms:GenerateDataKey"):
        assert kms_verdict(policy, action, LOGS_KEY, via=LAMBDA_SERVICE) == "implicit deny", action
    # The key of the logs goes on the stack's log groups only; the removal is granted with or without keys.
    for group in (LOG_GROUP, f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/shop-app"):
        assert evaluate([policy], "logs:AssociateKmsKey", group, {}) == "allow"
        assert evaluate([policy], "logs:DisassociateKmsKey", group, {}) == "allow"
    assert evaluate([policy], "logs:AssociateKmsKey", OTHER_LOG_GROUP, {}) == "implicit deny"
    # The functions' key: Lambda encrypts, decrypts and creates the functions' grant with the deployer's permissions;
    # the deployer cannot use the key itself, through another service, nor use another key.
    for action in ("kms:CreateGrant", "kms:Encrypt", "kms:Decrypt"):
        assert kms_verdict(policy, action, ENVIRONMENT_KEY, via=LAMBDA_SERVICE) == "allow", action
        assert kms_verdict(policy, action, ENVIRONMENT_KEY) == "implicit deny", action
        assert kms_verdict(policy, action, ENVIRONMENT_KEY, via=f"s3.{REGION}.amazonaws.com") == "implicit deny"
        assert kms_verdict(policy, action, OTHER_KEY, via=LAMBDA_SERVICE) == "implicit deny", action
    # No administration of any key: its policy, grants' removal, deletion, disabling.
    for action in ("kms:PutKeyPolicy", "kms:RevokeGrant", "kms:ScheduleKeyDeletion", "kms:DisableKey"):
        for key in (LOGS_KEY, ENVIRONMENT_KEY):
            assert kms_verdict(policy, action, key, via=LAMBDA_SERVICE) == "implicit deny", action
    kms = {action: resources for action, resources in grants(policy).items() if action.startswith("kms:")}
    assert kms == {
        "kms:DescribeKey": {LOGS_KEY, ENVIRONMENT_KEY},
        "kms:CreateGrant": {ENVIRONMENT_KEY},
        "kms:Decrypt": {ENVIRONMENT_KEY},
        "kms:Encrypt": {ENVIRONMENT_KEY},
    }


def test_without_kms_keys_the_deployer_has_nothing_of_kms():
    granted = grants(deployer_policy(names()))
    assert not [action for action in granted if action.startswith("kms:")]
    assert "logs:AssociateKmsKey" not in granted
    assert "logs:DisassociateKmsKey" in granted
    # One key for both: described once, and each use as above.
    policy = deployer_policy(with_kms_keys(names(), lambda_environment=LOGS_KEY))
    assert grants(policy)["kms:DescribeKey"] == {LOGS_KEY}
    assert kms_verdict(policy, "kms:Encrypt", LOGS_KEY, via=LAMBDA_SERVICE) == "allow"
    # Only the logs' key: no use of KMS through Lambda.
    policy = deployer_policy(with_kms_keys(names(), lambda_environment=""))
    assert {action for action in grants(policy) if action.startswith("kms:")} == {"kms:DescribeKey"}


def test_bad_kms_keys_are_refused_naming_each():
    bad = {**names(), "kms_keys": {"logs": "alias/shop", "lambda_environment": 12, "other": LOGS_KEY}}
    with pytest.raises(AnsibleFilterError) as caught:
        deployer_policy(bad)
    message = str(caught.value)
    assert "kms_keys.logs must be empty or a KMS key ARN" in message
    assert "kms_keys.lambda_environment must be empty or a KMS key ARN" in message
    assert "kms_keys has an unknown key 'other'" in message
    with pytest.raises(AnsibleFilterError, match="kms_keys must be a dict"):
        deployer_policy({**names(), "kms_keys": LOGS_KEY})


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


def test_the_filters_are_registered():
    assert FilterModule().filters() == {"deployer_policy": deployer_policy}
    assert boundary_filter.FilterModule().filters() == {"boundary_policy": boundary_policy}
    assert parts_filter.FilterModule().filters() == {"deployer_policy_parts": deployer_policy_parts}


def role_policies(stack: str = "shop") -> dict[str, dict]:
    """The inline policies the roles give the stack's three roles, rendered as the roles render them."""
    data = names(stack)
    logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:"
    templates = ROOT / "roles"
    values = {
        "lambda_function__log_group_arn": logs + data["lambda_function"]["log_group"],
        "ecs_service__log_group_arn": logs + data["ecs_service"]["log_group"],
        "ecs_service__repository_arn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{data['ecr_push']['repository']}",
    }

    def render(path):
        return json.loads(jinja2.Template(path.read_text()).render(**values))

    elb = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}"
    listener = f"{elb}:listener/app/{stack}/50dc6c495c0c9188/f2f7dc8efc522ab2"
    scaler = {
        "account_id": ACCOUNT,
        "region": REGION,
        "cluster_name": data["ecs_service"]["cluster"],
        "service_name": data["ecs_service"]["service"],
        "listener_arns": [listener, f"{elb}:listener/app/{stack}/50dc6c495c0c9188/0443"],
        "lambda_target_group_arn": f"{elb}:targetgroup/{stack}-lambda/73e2d6bc24d8a067",
        "ecs_target_group_arn": f"{elb}:targetgroup/{stack}-ecs/0aa2d6bc24d8a067",
        "spill_alarm_names": data["alarms"][:3] + data["alarms"][4:5],
        "warm_alarm_names": [data["alarms"][3], data["alarms"][5]],
        "function_name": data["scaler"]["function"],
        "log_group_name": data["scaler"]["log_group"],
        "app_function_name": data["lambda_function"]["function"],
    }
    return {
        "app function": render(templates / "lambda_function" / "templates" / "execution_policy.json.j2"),
        "task execution": render(templates / "ecs_service" / "templates" / "task_execution_policy.json.j2"),
        "scaler": scaler_policy(scaler),
        "scaler on a rule": scaler_policy(
            {**scaler, "listener_arns": [listener], "rule_arn": listener.replace("listener/", "listener-rule/") + "/1"}
        ),
    }


def test_the_boundary_allows_every_grant_of_the_stacks_roles():
    # Each action of each role's policy, on each of its resources, with its statement's condition satisfied.
    boundary = [boundary_policy(names())]
    for role, policy in role_policies().items():
        for statement in policy["Statement"]:
            context = {
                key: [str(v) for v in (values if isinstance(values, list) else [values])]
                for keys in (statement.get("Condition") or {}).values()
                for key, values in keys.items()
            }
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            for action in actions:
                for resource in resources:
                    assert evaluate(boundary, action, resource, context) == "allow", (role, action, resource)


def test_the_boundary_grants_nothing_beyond_the_stacks_roles():
    boundary = boundary_policy(names())
    granted = grants(boundary)
    needed = {}
    for policy in role_policies().values():
        for action, resources in grants(policy).items():
            needed.setdefault(action, set()).update(resources)
    assert set(granted) == set(needed)
    # Nothing of IAM, no write outside the stack's names, and another stack's resources out of reach.
    assert not any(action.startswith(("iam:", "sts:")) for action in granted)
    other = "shop-prod"
    for action, resources in granted.items():
        assert not any(f"/{other}" in r or f":{other}" in r for r in resources), action
    # The last-move tag is the only tag the boundary lets a role write.
    [tagging] = [s for s in boundary["Statement"] if s["Action"] == ["elasticloadbalancing:AddTags"]]
    assert tagging["Condition"] == {"ForAllValues:StringEquals": {"aws:TagKeys": ["spillover:last-move"]}}
    assert own_findings(boundary) == []
    assert len(json.dumps(boundary, separators=(",", ":"))) <= 6144


def test_the_longest_stacks_boundary_fits_a_managed_policy():
    boundary = boundary_policy(names("a" * 25, create_vpc=True, region="ap-southeast-3"))
    assert len(json.dumps(boundary, separators=(",", ":"))) <= 6144


# The network role's paid options (issue 20): VPC flow logs and the created VPC's private subnets behind a NAT gateway.
OPTIONS = [
    pytest.param(create_vpc, flow_logs, private, id=f"{'created' if create_vpc else 'named'}-{flow_logs}-{private}")
    for create_vpc in (True, False)
    for flow_logs in ("cloud-watch-logs", "s3", "none")
    for private in ((False, True) if create_vpc else (False,))
    if flow_logs != "none" or private
]


def with_options(create_vpc: bool, flow_logs: str, private: bool, stack: str = "shop", region: str = REGION) -> dict:
    data = names(stack, create_vpc=create_vpc, region=region)
    data["network"].update(flow_logs=flow_logs, private_subnets=private)
    return data


@pytest.mark.parametrize(("create_vpc", "flow_logs", "private"), OPTIONS)
def test_the_network_options_grant_on_their_own_resource_types_each_ec2_write_on_the_stacks_tag(
    create_vpc, flow_logs, private
):
    data = with_options(create_vpc, flow_logs, private)
    without_options = {statement["Sid"] for statement in deployer_policy(names(create_vpc=create_vpc))["Statement"]}
    policy = deployer_policy(data)
    for statement in policy["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in statement["Action"]:
            named = [entry["resource_type"].rstrip("*") for entry in privilege(action) if entry["resource_type"]]
            prefix = action.split(":", 1)[0]
            if resources == ["*"]:
                assert named == [], f"{action} is on '*' though AWS authorizes it on {named}"
            else:
                assert any(matches_format(prefix, kind, r) for kind in named for r in resources), statement["Sid"]
        writes = [a for a in statement["Action"] if a.startswith("ec2:") and not a.startswith(EC2_READS)]
        if not writes or statement["Sid"] == "RevokeDefaultGroupRules":
            continue
        if statement["Sid"] == "FlowLogOfTheStackVpc" and not create_vpc:
            # A named VPC is the stack's by its ID, as the security groups' CreateSecurityGroup on it.
            assert statement["Resource"] == [f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/vpc-0123456789abcdef0"]
            continue
        condition = statement["Condition"]["StringEquals"]
        assert {condition.get("aws:RequestTag/spillover:stack"), condition.get("ec2:ResourceTag/spillover:stack")} == {
            "shop",
            None,
        }, statement["Sid"]
        if "aws:RequestTag/spillover:stack" in condition and statement["Sid"] not in without_options:
            # An option's create granted by its requested tag is granted on the type it makes only: aws:RequestTag is
            # in the context of every resource of the call (the subnet and address a NAT gateway goes in, the VPC of a
            # flow log), which are authorized by their own tag.
            assert (len(writes) == 1 and len(statement["Resource"]) == 1) or writes == ["ec2:CreateTags"], statement
    # Parliament finds what it finds of every deployer policy, and wants each create of an option to name in one
    # statement every resource type it requires: the options split them on purpose (above), as the network's creates.
    split = {"ec2:CreateSubnet", "ec2:CreateRouteTable", "ec2:CreateFlowLogs", "ec2:CreateNatGateway"}
    for finding in parliament_findings(policy, community=False):
        assert finding.issue == "RESOURCE_MISMATCH" and {item["action"] for item in finding.detail} <= split, finding
    issues = {finding.issue for finding in parliament_findings(policy)} - {"RESOURCE_MISMATCH"}
    assert issues == {"PERMISSIONS_MANAGEMENT_ACTIONS", "PRIVILEGE_ESCALATION", "CREDENTIALS_EXPOSURE"}
    assert own_findings(boundary_policy(data)) == []
    # The parts of the longest stack name hold it all, each within a managed policy.
    longest = with_options(create_vpc, flow_logs, private, stack="a" * 25, region="ap-southeast-3")
    parts = deployer_policy_parts(longest)
    assert len(parts) <= 4 and all(len(json.dumps(part, separators=(",", ":"))) <= 6144 for part in parts)
    assert len(json.dumps(boundary_policy(longest), separators=(",", ":"))) <= 6144


def test_the_network_options_are_off_by_default_and_grant_nothing_then():
    default = grants(deployer_policy(names()))
    option_actions = {
        "ec2:CreateFlowLogs",
        "ec2:DeleteFlowLogs",
        "ec2:DescribeFlowLogs",
        "ec2:AllocateAddress",
        "ec2:ReleaseAddress",
        "ec2:CreateNatGateway",
        "ec2:DeleteNatGateway",
        "logs:CreateLogDelivery",
    }
    assert not option_actions & set(default)
    assert f"arn:aws:iam::{ACCOUNT}:role/shop-flow-logs" not in {r for rs in default.values() for r in rs}
    # A names dict of before the options (no such keys) is the options off.
    bare = names()
    for key in ("flow_logs", "flow_logs_role", "flow_logs_log_group", "private_subnets"):
        del bare["network"][key]
    assert deployer_policy(bare) == deployer_policy(names())
    assert boundary_policy(bare) == boundary_policy(names())
    with pytest.raises(AnsibleFilterError, match=r"network\.flow_logs must be none, cloud-watch-logs or s3"):
        deployer_policy(with_options(True, "kinesis", False))


def test_flow_logs_to_cloudwatch_create_their_role_only_with_the_boundary_and_pass_only_it():
    found = grants(deployer_policy(with_options(False, "cloud-watch-logs", False)))
    role = f"arn:aws:iam::{ACCOUNT}:role/shop-flow-logs"
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/vpc/shop-flow-logs"
    assert found["iam:PassRole"] == ROLES | {role}
    assert found["logs:PutRetentionPolicy"] >= {group, group + ":*"}
    assert found["ec2:CreateFlowLogs"] == {
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/*",
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/vpc-0123456789abcdef0",
    }
    policy = [deployer_policy(with_options(False, "cloud-watch-logs", False))]
    create = {"iam:PermissionsBoundary": [BOUNDARY]}
    assert evaluate(policy, "iam:CreateRole", role, create) == "allow"
    assert evaluate(policy, "iam:CreateRole", role, {}) != "allow"
    assert evaluate(policy, "iam:PutRolePolicy", role, {"iam:PermissionsBoundary": ["arn:aws:iam::aws:policy/x"]}) != (
        "allow"
    )
    assert evaluate(policy, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/other", {}) != "allow"
    # To S3: no role, no log group; the caller's log delivery only.
    to_s3 = grants(deployer_policy(with_options(False, "s3", False)))
    assert to_s3["logs:CreateLogDelivery"] == {"*"} and to_s3["iam:PassRole"] == ROLES


def test_nat_gateways_are_created_only_in_the_stacks_subnets_with_its_address_and_tag():
    policy = [deployer_policy(with_options(True, "none", True))]
    ec2 = f"arn:aws:ec2:{REGION}:{ACCOUNT}"
    mine, theirs = {"ec2:ResourceTag/spillover:stack": ["shop"]}, {"ec2:ResourceTag/spillover:stack": ["shop-prod"]}
    request = {"aws:RequestTag/spillover:stack": ["shop"]}
    assert evaluate(policy, "ec2:CreateNatGateway", f"{ec2}:natgateway/*", request) == "allow"
    assert evaluate(policy, "ec2:CreateNatGateway", f"{ec2}:natgateway/*", {}) != "allow"
    assert evaluate(policy, "ec2:CreateNatGateway", f"{ec2}:subnet/subnet-1", {**request, **mine}) == "allow"
    assert evaluate(policy, "ec2:CreateNatGateway", f"{ec2}:subnet/subnet-1", {**request, **theirs}) != "allow"
    assert evaluate(policy, "ec2:CreateNatGateway", f"{ec2}:elastic-ip/eipalloc-1", {**request, **theirs}) != "allow"
    assert evaluate(policy, "ec2:AllocateAddress", f"{ec2}:elastic-ip/*", request) == "allow"
    assert evaluate(policy, "ec2:ReleaseAddress", f"{ec2}:elastic-ip/eipalloc-1", theirs) != "allow"
    assert evaluate(policy, "ec2:DeleteNatGateway", f"{ec2}:natgateway/nat-1", mine) == "allow"
    assert evaluate(policy, "ec2:DeleteNatGateway", f"{ec2}:natgateway/nat-1", theirs) != "allow"


def flow_logs_role_policy(group_arn: str) -> dict:
    """The inline policy roles/network/tasks/flow_logs.yml gives the flow logs role, rendered as the role does."""
    import yaml

    tasks = yaml.safe_load((ROOT / "roles" / "network" / "tasks" / "flow_logs.yml").read_text())
    [task] = [task for task in tasks if "amazon.aws.iam_policy" in task]
    document = json.dumps(task["vars"]["network__flow_logs_role_policy"])
    return json.loads(jinja2.Template(document).render(network__log_group_arn=group_arn))


def test_the_boundary_allows_the_flow_logs_roles_grants_and_only_with_that_option():
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/vpc/shop-flow-logs"
    policy = flow_logs_role_policy(group)
    boundary = [boundary_policy(with_options(True, "cloud-watch-logs", False))]
    for action, resources in grants(policy).items():
        for resource in resources:
            assert evaluate(boundary, action, resource, {}) == "allow", (action, resource)
    assert evaluate(boundary, "logs:PutLogEvents", group.replace("shop-flow", "other-flow") + ":log-stream:x", {}) != (
        "allow"
    )
    without = [boundary_policy(with_options(True, "s3", False))]
    assert evaluate(without, "logs:PutLogEvents", group + ":log-stream:x", {}) != "allow"
