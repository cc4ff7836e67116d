"""The IAM engine's condition keys that the deployer policy relies on (tests/support/aws_quirks/iam.py), as AWS fills
them: ``iam:PermissionsBoundary`` (CreateRole's and PutRolePermissionsBoundary's parameter; the role's current
boundary for PutRolePolicy, DeleteRolePolicy and the other role actions that support the key), ``lambda:Principal``
(AddPermission's Principal), ``ec2:ResourceTag/<key>`` (an existing EC2 resource's tags), ``aws:RequestTag/<key>`` on
EC2 creates, and a principal's own permissions boundary."""

from __future__ import annotations

from tests.support.aws_quirks.iam import Principal, checks_for, request_context, resource_context
from tests.support.aws_quirks.wire import Request

ACCOUNT, REGION = "111122223333", "eu-west-1"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/s-boundary"
OTHER_BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/wide-open"
PRINCIPAL = Principal(f"arn:aws:iam::{ACCOUNT}:role/deploy", f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/s", ACCOUNT)
OWN_GROUP, OTHER_GROUP, NEW_VPC = "sg-0a1b2c3d4e5f60718", "sg-0ffffffffffffffff", "vpc-0a1b2c3d4e5f60718"


class State:
    """The local AWS as the engine reads it: roles' boundaries and EC2 resources' tags."""

    def __init__(self):
        self.boundaries = {"s-app-lambda": BOUNDARY, "legacy": None}
        self.tags = {OWN_GROUP: {"spillover:stack": "s"}, OTHER_GROUP: {"spillover:stack": "t"}, NEW_VPC: {}}
        self.reads: list[str] = []

    def role_boundary(self, role_name: str) -> str | None:
        self.reads.append(f"role {role_name}")
        return self.boundaries.get(role_name)

    def ec2_tags(self, resource_id: str) -> dict[str, str]:
        self.reads.append(f"ec2 {resource_id}")
        return self.tags.get(resource_id, {})


def request(service: str, operation: str, params: dict) -> Request:
    return Request("POST", "/", {}, b"", service, operation, "ASIAKEY", REGION, params)


def allow(actions: list[str], resources: list[str], condition: dict | None = None) -> dict:
    statement = {"Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def decide(policy: dict, service: str, operation: str, params: dict, state=None, boundary=None) -> list:
    return [
        (check.action, check.allowed)
        for check in checks_for(request(service, operation, params), PRINCIPAL, [policy], state or State(), boundary)
    ]


ROLES = [f"arn:aws:iam::{ACCOUNT}:role/s-app-lambda", f"arn:aws:iam::{ACCOUNT}:role/legacy"]
BOUNDED = allow(
    ["iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary"],
    ROLES,
    {"ArnEquals": {"iam:PermissionsBoundary": BOUNDARY}},
)


def test_create_role_gives_its_boundary_parameter():
    with_boundary = request("iam", "CreateRole", {"RoleName": "s-app-lambda", "PermissionsBoundary": BOUNDARY})
    assert request_context(with_boundary)["iam:PermissionsBoundary"] == [BOUNDARY]
    assert "iam:PermissionsBoundary" not in request_context(request("iam", "CreateRole", {"RoleName": "x"}))
    assert decide(BOUNDED, "iam", "CreateRole", {"RoleName": "s-app-lambda", "PermissionsBoundary": BOUNDARY}) == [
        ("iam:CreateRole", True)
    ]
    assert decide(BOUNDED, "iam", "CreateRole", {"RoleName": "s-app-lambda"}) == [("iam:CreateRole", False)]
    other = {"RoleName": "s-app-lambda", "PermissionsBoundary": OTHER_BOUNDARY}
    assert decide(BOUNDED, "iam", "CreateRole", other) == [("iam:CreateRole", False)]


def test_role_policy_writes_give_the_roles_current_boundary_read_from_the_local_aws():
    state = State()
    put = {"RoleName": "s-app-lambda", "PolicyName": "p", "PolicyDocument": "{}"}
    assert decide(BOUNDED, "iam", "PutRolePolicy", put, state) == [("iam:PutRolePolicy", True)]
    assert state.reads == ["role s-app-lambda"]
    # A role without a boundary has no iam:PermissionsBoundary: the condition does not hold.
    assert decide(BOUNDED, "iam", "PutRolePolicy", {**put, "RoleName": "legacy"}) == [("iam:PutRolePolicy", False)]
    assert decide(BOUNDED, "iam", "DeleteRolePolicy", {"RoleName": "legacy", "PolicyName": "p"}) == [
        ("iam:DeleteRolePolicy", False)
    ]
    # PutRolePermissionsBoundary is decided on the boundary it sets, not the one the role has.
    setting = {"RoleName": "legacy", "PermissionsBoundary": BOUNDARY}
    assert decide(BOUNDED, "iam", "PutRolePermissionsBoundary", setting) == [("iam:PutRolePermissionsBoundary", True)]
    replacing = {"RoleName": "s-app-lambda", "PermissionsBoundary": OTHER_BOUNDARY}
    assert decide(BOUNDED, "iam", "PutRolePermissionsBoundary", replacing) == [
        ("iam:PutRolePermissionsBoundary", False)
    ]
    # Actions without the key never get it: no role lookup.
    state = State()
    request_context(request("iam", "UpdateAssumeRolePolicy", {"RoleName": "s-app-lambda"}), state)
    assert state.reads == []


def test_add_permission_gives_its_principal():
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:s-app"
    policy = allow(
        ["lambda:AddPermission"],
        [function],
        {"StringEquals": {"lambda:Principal": "elasticloadbalancing.amazonaws.com"}},
    )
    grant = {"FunctionName": "s-app", "StatementId": "alb", "Action": "lambda:InvokeFunction"}
    elb = {**grant, "Principal": "elasticloadbalancing.amazonaws.com"}
    assert request_context(request("lambda", "AddPermission", elb))["lambda:Principal"] == [elb["Principal"]]
    assert decide(policy, "lambda", "AddPermission", elb) == [("lambda:AddPermission", True)]
    anyone = {**grant, "Principal": "*"}
    assert decide(policy, "lambda", "AddPermission", anyone) == [("lambda:AddPermission", False)]
    account = {**grant, "Principal": "444455556666"}
    assert decide(policy, "lambda", "AddPermission", account) == [("lambda:AddPermission", False)]


def test_an_existing_ec2_resource_gives_its_tags_and_a_new_one_none():
    state = State()
    own = f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{OWN_GROUP}"
    assert resource_context(own, state) == {
        "ec2:ResourceTag/spillover:stack": ["s"],
        "aws:ResourceTag/spillover:stack": ["s"],
    }
    assert resource_context(f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/*", state) == {}
    assert resource_context(f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:s-app", state) == {}
    assert state.reads == [f"ec2 {OWN_GROUP}"]


TAGGED = {"StringEquals": {"ec2:ResourceTag/spillover:stack": "s"}}
GROUPS = [f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/*"]


def test_ec2_changes_and_deletes_are_decided_on_the_resources_tags():
    policy = allow(["ec2:DeleteSecurityGroup", "ec2:RevokeSecurityGroupIngress"], GROUPS, TAGGED)
    assert decide(policy, "ec2", "DeleteSecurityGroup", {"GroupId": OWN_GROUP}) == [("ec2:DeleteSecurityGroup", True)]
    assert decide(policy, "ec2", "DeleteSecurityGroup", {"GroupId": OTHER_GROUP}) == [
        ("ec2:DeleteSecurityGroup", False)
    ]
    assert decide(policy, "ec2", "RevokeSecurityGroupIngress", {"GroupId": OTHER_GROUP}) == [
        ("ec2:RevokeSecurityGroupIngress", False)
    ]


def test_an_ec2_create_tags_only_what_it_creates_and_asks_for_the_stacks_tag():
    vpc = f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/*"
    state = State()
    state.tags[NEW_VPC] = {"spillover:stack": "s"}
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            *allow(["ec2:CreateSecurityGroup"], GROUPS, {"StringEquals": {"aws:RequestTag/spillover:stack": "s"}})[
                "Statement"
            ],
            *allow(["ec2:CreateSecurityGroup"], [vpc], TAGGED)["Statement"],
            *allow(
                ["ec2:CreateTags"],
                GROUPS,
                {"StringEquals": {"aws:RequestTag/spillover:stack": "s", "ec2:CreateAction": "CreateSecurityGroup"}},
            )["Statement"],
        ],
    }
    create = {
        "GroupName": "s-alb",
        "GroupDescription": "d",
        "VpcId": NEW_VPC,
        "TagSpecification": [{"ResourceType": "security-group", "Tag": [{"Key": "spillover:stack", "Value": "s"}]}],
    }
    checks = checks_for(request("ec2", "CreateSecurityGroup", create), PRINCIPAL, [policy], state)
    assert [(c.action, c.allowed) for c in checks] == [("ec2:CreateSecurityGroup", True), ("ec2:CreateTags", True)]
    # The tag-on-create check is on the new group only, not on the VPC it is made in.
    assert checks[1].resources == GROUPS
    # Without the tag, or in a VPC that is not the stack's, the create is denied.
    untagged = {key: value for key, value in create.items() if key != "TagSpecification"}
    assert decide(policy, "ec2", "CreateSecurityGroup", untagged, state) == [("ec2:CreateSecurityGroup", False)]
    state.tags[NEW_VPC] = {"spillover:stack": "t"}
    assert decide(policy, "ec2", "CreateSecurityGroup", create, state)[0] == ("ec2:CreateSecurityGroup", False)
    # Tagging an existing group with the stack's tag is no tag-on-create: the group is not made the stack's so.
    adopt = {"ResourceId": [OTHER_GROUP], "Tag": [{"Key": "spillover:stack", "Value": "s"}]}
    assert decide(policy, "ec2", "CreateTags", adopt, state) == [("ec2:CreateTags", False)]


def test_a_principals_permissions_boundary_caps_what_its_policies_allow():
    everything = allow(["*"], ["*"])
    boundary = [allow(["logs:PutLogEvents"], [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/s-app:*"])]
    log = {"logGroupName": "/aws/lambda/s-app", "logStreamName": "x", "logEvents": []}
    assert decide(everything, "logs", "PutLogEvents", log, boundary=boundary) == [("logs:PutLogEvents", True)]
    assert decide(everything, "iam", "CreateUser", {"UserName": "x"}, boundary=boundary) == [("iam:CreateUser", False)]
    [check] = checks_for(request("iam", "CreateUser", {"UserName": "x"}), PRINCIPAL, [everything], State(), boundary)
    assert check.message.endswith("because no permissions boundary allows the iam:CreateUser action")
    # Without a boundary the identity policies decide alone.
    assert decide(everything, "iam", "CreateUser", {"UserName": "x"}) == [("iam:CreateUser", True)]


def test_an_action_level_check_takes_the_resources_tags_as_unknown_not_absent():
    # DisassociateRouteTable names only an association: AWS resolves the route table, the engine cannot, and checks
    # the action alone; a condition on the table's tags is then no reason to deny.
    tables = [f"arn:aws:ec2:{REGION}:{ACCOUNT}:route-table/*"]
    policy = allow(["ec2:DisassociateRouteTable"], tables, TAGGED)
    [check] = checks_for(
        request("ec2", "DisassociateRouteTable", {"AssociationId": "rtbassoc-0a1b"}), PRINCIPAL, [policy]
    )
    assert (check.allowed, check.derived) == (True, False)
    # Other conditions still hold or fail as they are.
    requested = allow(["ec2:DisassociateRouteTable"], tables, {"StringEquals": {"aws:RequestTag/spillover:stack": "s"}})
    [check] = checks_for(
        request("ec2", "DisassociateRouteTable", {"AssociationId": "rtbassoc-0a1b"}), PRINCIPAL, [requested]
    )
    assert check.allowed is False
