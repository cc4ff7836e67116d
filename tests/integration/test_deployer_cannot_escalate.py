"""The deployer cannot make itself an administrator: its policy, as playbooks/deployer_policy.yml prints it and in the
parts the README says to attach, enforced by the behaviour layer's IAM engine (tests/support/aws_quirks/iam.py) on
the local AWS. Each escalation path of issue 20 is refused with AWS's access-denied answer, while the stack's own
calls pass; that the whole deploy passes under the same policy is ``make aws-quirks``'s proof."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.ansible_run import ROOT, run_playbook
from tests.support.aws_quirks.layer import QuirksLayer
from tests.support.aws_quirks.rules import IamScoping
from tests.support.aws_quirks.runner import DEPLOYER, DEPLOYER_ROLE, bootstrap_deployer
from tests.support.infra_roles import apply_role
from tests.support.local_aws import REGION

pytestmark = pytest.mark.integration
ACCOUNT, STACK = "111122223333", "esc"
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/{STACK}-boundary"
APP_ROLE, TASK_ROLE = f"{STACK}-app-lambda", f"{STACK}-app-task-exec"
ADMINISTRATOR = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def trust(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> dict:
    """The deployer policy's parts and the roles' boundary, as playbooks/deployer_policy.yml writes them."""
    return print_policy(tmp_path_factory)


def print_policy(tmp_path_factory, **options) -> dict:
    """The parts and the boundary of the stack with the inventory's settings and ``options``."""
    out = tmp_path_factory.mktemp("deployer-policy")
    completed = run_playbook(
        ROOT / "playbooks" / "deployer_policy.yml",
        inventory=ROOT / "inventories" / "local",
        extra_vars={
            "spillover_stack_name": STACK,
            "spillover_aws_account_id": ACCOUNT,
            "spillover_aws_region": REGION,
            "spillover_aws_assume_role_arn": f"arn:aws:iam::{ACCOUNT}:role/{DEPLOYER_ROLE}",
            "deployer_policy_dir": str(out),
            **options,
        },
    )
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-3000:]
    parts = [json.loads(path.read_text()) for path in sorted(out.glob(f"{STACK}-deployer-policy-*.json"))]
    assert parts
    return {"parts": parts, "boundary": json.loads((out / f"{STACK}-boundary-policy.json").read_text())}


def client(endpoint: str, service: str, credentials: dict | None = None):
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint, config=NO_RETRIES, **(credentials or {}))


def assume(endpoint: str, role_arn: str) -> dict:
    credentials = client(endpoint, "sts").assume_role(RoleArn=role_arn, RoleSessionName="escalate")["Credentials"]
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }


def denied(call, **kwargs) -> str:
    """The message of the access-denied answer ``call(**kwargs)`` must get."""
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response["Error"]
    assert error["Code"] in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"), error
    return error["Message"]


@pytest.fixture
def stack(local_aws, printed):
    """The enforced deployer, the boundary the administrator created with it and the app's role the deployer created
    with that boundary, through the layer."""
    yield from enforced(local_aws, printed)


# The network role's paid options (network_flow_logs, network_private_subnets) in the stack's created VPC.
NETWORK_OPTIONS = {"network_flow_logs": "cloud-watch-logs", "network_private_subnets": True}


@pytest.fixture(scope="module")
def printed_with_options(tmp_path_factory) -> dict:
    return print_policy(tmp_path_factory, **NETWORK_OPTIONS)


@pytest.fixture
def stack_with_options(local_aws, printed_with_options):
    yield from enforced(local_aws, printed_with_options)


def enforced(local_aws, printed):
    admin = assume(local_aws.endpoint, f"arn:aws:iam::{ACCOUNT}:role/admin")
    boundary = {"stack": STACK, "document": printed["boundary"]}
    deployer = bootstrap_deployer(client(local_aws.endpoint, "iam", admin), printed["parts"], boundary)
    app_role = f"arn:aws:iam::{ACCOUNT}:role/{APP_ROLE}"
    layer = QuirksLayer(local_aws.endpoint, [IamScoping(DEPLOYER, [deployer]), IamScoping("app", [app_role])])
    layer.start()
    credentials = assume(layer.endpoint, deployer)
    iam = client(layer.endpoint, "iam", credentials)
    tags = [{"Key": "spillover:stack", "Value": STACK}]
    # As site.yml does: the roles with the boundary the administrator made.
    iam.create_role(
        RoleName=APP_ROLE,
        AssumeRolePolicyDocument=trust("lambda.amazonaws.com"),
        PermissionsBoundary=BOUNDARY,
        Tags=tags,
    )
    try:
        yield {
            "layer": layer,
            "deployer": credentials,
            "admin": admin,
            "user": f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{DEPLOYER_ROLE}/escalate is not authorized to "
            "perform: ",
        }
    finally:
        layer.stop()


def test_the_deployer_cannot_make_the_apps_role_an_administrator(stack):
    layer, user = stack["layer"], stack["user"]
    iam = client(layer.endpoint, "iam", stack["deployer"])
    role = f"arn:aws:iam::{ACCOUNT}:role/{APP_ROLE}"
    administrator = "arn:aws:iam::aws:policy/AdministratorAccess"
    assert denied(iam.attach_role_policy, RoleName=APP_ROLE, PolicyArn=administrator).startswith(
        f"{user}iam:AttachRolePolicy on resource: {role}"
    )
    # Nor lift the boundary, replace it, or let another principal assume the role.
    assert f"{user}iam:DeleteRolePermissionsBoundary" in denied(iam.delete_role_permissions_boundary, RoleName=APP_ROLE)
    wider = f"arn:aws:iam::{ACCOUNT}:policy/wide-open"
    assert f"{user}iam:PutRolePermissionsBoundary" in denied(
        iam.put_role_permissions_boundary, RoleName=APP_ROLE, PermissionsBoundary=wider
    )
    assert f"{user}iam:UpdateAssumeRolePolicy" in denied(
        iam.update_assume_role_policy, RoleName=APP_ROLE, PolicyDocument=trust("ec2.amazonaws.com")
    )
    # An inline administrator policy is taken (the role has the stack's boundary), and the boundary caps it: the role
    # may do what the app needs and nothing of the administrator's.
    iam.put_role_policy(RoleName=APP_ROLE, PolicyName="administrator", PolicyDocument=json.dumps(ADMINISTRATOR))
    app = assume(layer.endpoint, role)
    message = denied(client(layer.endpoint, "iam", app).create_user, UserName="backdoor")
    assert message.endswith("because no permissions boundary allows the iam:CreateUser action")
    logs = client(layer.endpoint, "logs", app)
    logs.create_log_group(logGroupName=f"/aws/lambda/{STACK}-app")
    assert "logs:CreateLogGroup" in denied(logs.create_log_group, logGroupName="/aws/lambda/someone-else")
    # A role of the stack's name that has no boundary (made by someone else) gets no policy from the deployer.
    client(layer.upstream, "iam", stack["admin"]).create_role(
        RoleName=f"{STACK}-scaler", AssumeRolePolicyDocument=trust("lambda.amazonaws.com")
    )
    assert f"{user}iam:PutRolePolicy" in denied(
        iam.put_role_policy,
        RoleName=f"{STACK}-scaler",
        PolicyName="administrator",
        PolicyDocument=json.dumps(ADMINISTRATOR),
    )


def test_the_deployer_may_read_the_boundary_and_not_rewrite_widen_or_delete_it(stack):
    """The boundary is the administrator's (playbooks/deployer_bootstrap.yml): a deployer that could write it could
    widen it, then put an administrator policy on a stack role and run code as that role."""
    layer, user = stack["layer"], stack["user"]
    iam = client(layer.endpoint, "iam", stack["deployer"])
    version = iam.get_policy(PolicyArn=BOUNDARY)["Policy"]["DefaultVersionId"]
    current = iam.get_policy_version(PolicyArn=BOUNDARY, VersionId=version)["PolicyVersion"]["Document"]
    widened = {**current, "Statement": [*current["Statement"], *ADMINISTRATOR["Statement"]]}
    assert denied(
        iam.create_policy_version, PolicyArn=BOUNDARY, PolicyDocument=json.dumps(widened), SetAsDefault=True
    ).startswith(f"{user}iam:CreatePolicyVersion on resource: {BOUNDARY}")
    assert f"{user}iam:SetDefaultPolicyVersion" in denied(
        iam.set_default_policy_version, PolicyArn=BOUNDARY, VersionId="v1"
    )
    assert f"{user}iam:DeletePolicy" in denied(iam.delete_policy, PolicyArn=BOUNDARY)
    # Nor make a wider one of its own to create a stack role with: the roles take only the stack's boundary.
    assert f"{user}iam:CreatePolicy" in denied(
        iam.create_policy, PolicyName=f"{STACK}-wider", PolicyDocument=json.dumps(ADMINISTRATOR)
    )
    admin_iam = client(layer.upstream, "iam", stack["admin"])
    assert admin_iam.get_policy(PolicyArn=BOUNDARY)["Policy"]["DefaultVersionId"] == version
    assert [v["VersionId"] for v in admin_iam.list_policy_versions(PolicyArn=BOUNDARY)["Versions"]] == [version]


def test_the_deployer_cannot_create_a_role_without_the_boundary(stack):
    iam, user = client(stack["layer"].endpoint, "iam", stack["deployer"]), stack["user"]
    lambda_trust = trust("lambda.amazonaws.com")
    role = f"arn:aws:iam::{ACCOUNT}:role/{STACK}-scaler"
    assert denied(iam.create_role, RoleName=f"{STACK}-scaler", AssumeRolePolicyDocument=lambda_trust).startswith(
        f"{user}iam:CreateRole on resource: {role}"
    )
    other = f"arn:aws:iam::{ACCOUNT}:policy/wide-open"
    assert f"{user}iam:CreateRole" in denied(
        iam.create_role, RoleName=f"{STACK}-scaler", AssumeRolePolicyDocument=lambda_trust, PermissionsBoundary=other
    )
    # Only the stack's roles, boundary or not.
    assert f"{user}iam:CreateRole" in denied(
        iam.create_role, RoleName="backdoor", AssumeRolePolicyDocument=lambda_trust, PermissionsBoundary=BOUNDARY
    )
    # With the boundary, the stack's role is created.
    iam.create_role(RoleName=f"{STACK}-scaler", AssumeRolePolicyDocument=lambda_trust, PermissionsBoundary=BOUNDARY)


def test_the_deployer_cannot_pass_a_role_to_another_service(stack):
    layer, user = stack["layer"], stack["user"]
    # The task execution role is for ECS tasks, the app's role for Lambda: neither goes to the other service.
    function = {"FunctionName": f"{STACK}-app", "Runtime": "python3.12", "Handler": "app.handler"}
    task_role = f"arn:aws:iam::{ACCOUNT}:role/{TASK_ROLE}"
    message = denied(
        client(layer.endpoint, "lambda", stack["deployer"]).create_function,
        **function,
        Role=task_role,
        Code={"ZipFile": b"PK"},
    )
    assert message.startswith(f"{user}iam:PassRole on resource: {task_role}")
    app_role = f"arn:aws:iam::{ACCOUNT}:role/{APP_ROLE}"
    message = denied(
        client(layer.endpoint, "ecs", stack["deployer"]).register_task_definition,
        family=f"{STACK}-app",
        taskRoleArn=app_role,
        containerDefinitions=[{"name": "app", "image": "app", "memory": 512}],
    )
    assert message.startswith(f"{user}iam:PassRole on resource: {app_role}")


def test_the_deployer_lets_only_the_load_balancer_invoke_the_app_function(stack):
    functions = client(stack["layer"].endpoint, "lambda", stack["deployer"])
    grant = {"FunctionName": f"{STACK}-app", "Action": "lambda:InvokeFunction"}
    for principal in ("*", "s3.amazonaws.com", "444455556666", "events.amazonaws.com"):
        message = denied(functions.add_permission, **grant, StatementId="open", Principal=principal)
        assert f"{stack['user']}lambda:AddPermission" in message, principal


def test_the_deployer_cannot_touch_another_stacks_security_group(stack):
    layer, user = stack["layer"], stack["user"]
    admin_ec2 = client(layer.upstream, "ec2", stack["admin"])

    def tagged(resource_type: str, value: str) -> list[dict]:
        return [{"ResourceType": resource_type, "Tags": [{"Key": "spillover:stack", "Value": value}]}]

    other_vpc = admin_ec2.create_vpc(CidrBlock="10.9.0.0/16", TagSpecifications=tagged("vpc", "shop"))["Vpc"]["VpcId"]
    other = admin_ec2.create_security_group(
        GroupName="shop-alb", Description="d", VpcId=other_vpc, TagSpecifications=tagged("security-group", "shop")
    )["GroupId"]
    ec2 = client(layer.endpoint, "ec2", stack["deployer"])
    assert denied(ec2.delete_security_group, GroupId=other).startswith(
        f"{user}ec2:DeleteSecurityGroup on resource: arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{other}"
    )
    assert f"{user}ec2:RevokeSecurityGroupIngress" in denied(
        ec2.revoke_security_group_ingress, GroupId=other, IpPermissions=[{"IpProtocol": "-1"}]
    )
    # Nor adopt it by tagging it as its own, nor create a group in that stack's VPC.
    assert f"{user}ec2:CreateTags" in denied(
        ec2.create_tags, Resources=[other], Tags=[{"Key": "spillover:stack", "Value": STACK}]
    )
    assert f"{user}ec2:CreateSecurityGroup" in denied(
        ec2.create_security_group,
        GroupName=f"{STACK}-alb",
        Description="d",
        VpcId=other_vpc,
        TagSpecifications=tagged("security-group", STACK),
    )
    # Its own VPC and group, tagged with the stack, it creates and deletes.
    own_vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16", TagSpecifications=tagged("vpc", STACK))["Vpc"]["VpcId"]
    assert f"{user}ec2:CreateVpc" in denied(ec2.create_vpc, CidrBlock="10.7.0.0/16")
    own = ec2.create_security_group(
        GroupName=f"{STACK}-alb", Description="d", VpcId=own_vpc, TagSpecifications=tagged("security-group", STACK)
    )["GroupId"]
    ec2.delete_security_group(GroupId=own)
    # The default group EC2 made with its VPC carries no stack tag: the deployer may strip its rules (EC2.2), and only
    # revoke them; a group of another stack keeps its own (refused above).
    [default] = admin_ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [own_vpc]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"]
    ec2.revoke_security_group_egress(GroupId=default["GroupId"], IpPermissions=default["IpPermissionsEgress"])
    assert (
        admin_ec2.describe_security_groups(GroupIds=[default["GroupId"]])["SecurityGroups"][0]["IpPermissionsEgress"]
        == []
    )
    assert f"{user}ec2:DeleteSecurityGroup" in denied(ec2.delete_security_group, GroupId=default["GroupId"])


def test_with_a_web_acl_the_deployer_associates_it_with_its_own_load_balancer_only(local_aws, tmp_path_factory):
    """alb_web_acl_arn: the deployer policy printed with it lets the deployer put the stack's load balancer behind
    the web ACL, and no other load balancer of the account."""
    admin = assume(local_aws.endpoint, f"arn:aws:iam::{ACCOUNT}:role/admin")
    acl = client(local_aws.endpoint, "wafv2", admin).create_web_acl(
        Name=f"{STACK}-acl",
        Scope="REGIONAL",
        DefaultAction={"Allow": {}},
        VisibilityConfig={"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False, "MetricName": "acl"},
    )["Summary"]["ARN"]
    parts = print_policy(tmp_path_factory, alb_web_acl_arn=acl)["parts"]
    deployer = bootstrap_deployer(client(local_aws.endpoint, "iam", admin), parts)
    # The stack's load balancer and another stack's, made by the administrator.
    ec2, elbv2 = client(local_aws.endpoint, "ec2", admin), client(local_aws.endpoint, "elbv2", admin)
    vpc = ec2.create_vpc(CidrBlock="10.6.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.6.{index}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"][
            "SubnetId"
        ]
        for index, zone in enumerate("ab")
    ]
    own, other = (
        elbv2.create_load_balancer(Name=name, Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
        for name in (STACK, "shop")
    )
    with QuirksLayer(local_aws.endpoint, [IamScoping(DEPLOYER, [deployer])]) as layer:
        wafv2 = client(layer.endpoint, "wafv2", assume(layer.endpoint, deployer))
        user = f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{DEPLOYER_ROLE}/escalate is not authorized to perform: "
        assert denied(wafv2.associate_web_acl, WebACLArn=acl, ResourceArn=other).startswith(
            f"{user}wafv2:AssociateWebACL on resource: {other}"
        )
        assert f"{user}wafv2:DisassociateWebACL" in denied(wafv2.disassociate_web_acl, ResourceArn=own)
        wafv2.associate_web_acl(WebACLArn=acl, ResourceArn=own)
        assert wafv2.get_web_acl_for_resource(ResourceArn=own)["WebACL"]["ARN"] == acl


def test_the_deployer_uses_the_named_kms_keys_only_as_the_stack_does(local_aws, tmp_path_factory):
    admin = assume(local_aws.endpoint, f"arn:aws:iam::{ACCOUNT}:role/admin")
    admin_kms = client(local_aws.endpoint, "kms", admin)
    logs_key, environment_key, other_key = (admin_kms.create_key()["KeyMetadata"]["Arn"] for _ in range(3))
    parts = print_policy(
        tmp_path_factory, spillover_logs_kms_key_arn=logs_key, spillover_lambda_environment_kms_key_arn=environment_key
    )["parts"]
    deployer = bootstrap_deployer(client(local_aws.endpoint, "iam", admin), parts)
    layer = QuirksLayer(local_aws.endpoint, [IamScoping(DEPLOYER, [deployer])])
    layer.start()
    try:
        credentials = assume(layer.endpoint, deployer)
        user = f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{DEPLOYER_ROLE}/escalate is not authorized to perform: "
        kms, logs = client(layer.endpoint, "kms", credentials), client(layer.endpoint, "logs", credentials)
        # The preflight reads the keys it is given, and no other.
        for key in (logs_key, environment_key):
            assert kms.describe_key(KeyId=key)["KeyMetadata"]["Arn"] == key
        assert denied(kms.describe_key, KeyId=other_key).startswith(f"{user}kms:DescribeKey on resource: {other_key}")
        # The functions' key only through Lambda: not directly, even for a grant of its own.
        assert f"{user}kms:Encrypt" in denied(kms.encrypt, KeyId=environment_key, Plaintext=b"secret")
        assert f"{user}kms:CreateGrant" in denied(
            kms.create_grant, KeyId=environment_key, GranteePrincipal=deployer, Operations=["Decrypt"]
        )
        # Nothing of the keys' administration.
        assert f"{user}kms:ScheduleKeyDeletion" in denied(kms.schedule_key_deletion, KeyId=logs_key)
        assert f"{user}kms:PutKeyPolicy" in denied(
            kms.put_key_policy, KeyId=logs_key, PolicyName="default", Policy=json.dumps(ADMINISTRATOR)
        )
        # The stack's log group is created encrypted with the key; another's gets no key from the deployer.
        logs.create_log_group(logGroupName=f"/aws/lambda/{STACK}-app", kmsKeyId=logs_key)
        [group] = client(local_aws.endpoint, "logs", admin).describe_log_groups(
            logGroupNamePrefix=f"/aws/lambda/{STACK}-app"
        )["logGroups"]
        assert group["kmsKeyId"] == logs_key
        assert f"{user}logs:AssociateKmsKey" in denied(
            logs.associate_kms_key, logGroupName="/aws/lambda/someone-else", kmsKeyId=logs_key
        )
    finally:
        layer.stop()


def test_with_the_network_options_the_deployer_still_cannot_escalate_or_reach_another_stack(stack_with_options):
    layer, user = stack_with_options["layer"], stack_with_options["user"]
    admin_ec2 = client(layer.upstream, "ec2", stack_with_options["admin"])
    ec2 = client(layer.endpoint, "ec2", stack_with_options["deployer"])
    iam = client(layer.endpoint, "iam", stack_with_options["deployer"])

    def tagged(resource_type: str, value: str) -> list[dict]:
        return [{"ResourceType": resource_type, "Tags": [{"Key": "spillover:stack", "Value": value}]}]

    # The flow logs role: only with the stack's boundary, and passed only itself.
    flow_trust = trust("vpc-flow-logs.amazonaws.com")
    assert f"{user}iam:CreateRole" in denied(
        iam.create_role, RoleName=f"{STACK}-flow-logs", AssumeRolePolicyDocument=flow_trust
    )
    iam.create_role(RoleName=f"{STACK}-flow-logs", AssumeRolePolicyDocument=flow_trust, PermissionsBoundary=BOUNDARY)

    # Another stack's network: its subnet, address and NAT gateway are out of reach.
    other_vpc = admin_ec2.create_vpc(CidrBlock="10.9.0.0/16", TagSpecifications=tagged("vpc", "shop"))["Vpc"]["VpcId"]
    other_subnet = admin_ec2.create_subnet(
        VpcId=other_vpc, CidrBlock="10.9.0.0/24", TagSpecifications=tagged("subnet", "shop")
    )["Subnet"]["SubnetId"]
    other_address = admin_ec2.allocate_address(Domain="vpc", TagSpecifications=tagged("elastic-ip", "shop"))
    other_nat = admin_ec2.create_nat_gateway(
        SubnetId=other_subnet,
        AllocationId=other_address["AllocationId"],
        TagSpecifications=tagged("natgateway", "shop"),
    )["NatGateway"]["NatGatewayId"]
    assert denied(ec2.delete_nat_gateway, NatGatewayId=other_nat).startswith(
        f"{user}ec2:DeleteNatGateway on resource: arn:aws:ec2:{REGION}:{ACCOUNT}:natgateway/{other_nat}"
    )
    assert f"{user}ec2:ReleaseAddress" in denied(ec2.release_address, AllocationId=other_address["AllocationId"])
    own_address = ec2.allocate_address(Domain="vpc", TagSpecifications=tagged("elastic-ip", STACK))["AllocationId"]
    assert f"{user}ec2:AllocateAddress" in denied(ec2.allocate_address, Domain="vpc")
    # Its own tagged NAT gateway, in its own subnet, yes; in the other stack's subnet, no.
    assert f"{user}ec2:CreateNatGateway" in denied(
        ec2.create_nat_gateway,
        SubnetId=other_subnet,
        AllocationId=own_address,
        TagSpecifications=tagged("natgateway", STACK),
    )
    own_vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16", TagSpecifications=tagged("vpc", STACK))["Vpc"]["VpcId"]
    own_subnet = ec2.create_subnet(VpcId=own_vpc, CidrBlock="10.8.0.0/24", TagSpecifications=tagged("subnet", STACK))[
        "Subnet"
    ]["SubnetId"]
    own_nat = ec2.create_nat_gateway(
        SubnetId=own_subnet, AllocationId=own_address, TagSpecifications=tagged("natgateway", STACK)
    )["NatGateway"]["NatGatewayId"]
    ec2.delete_nat_gateway(NatGatewayId=own_nat)

    # A flow log only with the stack's tag, only of its own VPC; another stack's flow log it may not delete.
    flow_log = {
        "ResourceType": "VPC",
        "TrafficType": "REJECT",
        "LogGroupName": f"/vpc/{STACK}-flow-logs",
        "DeliverLogsPermissionArn": f"arn:aws:iam::{ACCOUNT}:role/{STACK}-flow-logs",
    }
    assert f"{user}ec2:CreateFlowLogs" in denied(
        ec2.create_flow_logs, ResourceIds=[other_vpc], TagSpecifications=tagged("vpc-flow-log", STACK), **flow_log
    )
    assert f"{user}ec2:CreateFlowLogs" in denied(ec2.create_flow_logs, ResourceIds=[own_vpc], **flow_log)
    created = ec2.create_flow_logs(ResourceIds=[own_vpc], TagSpecifications=tagged("vpc-flow-log", STACK), **flow_log)
    [own_log] = created["FlowLogIds"]
    # Nor with a role of someone else's to deliver with.
    assert f"{user}iam:PassRole" in denied(
        ec2.create_flow_logs,
        ResourceIds=[own_vpc],
        TagSpecifications=tagged("vpc-flow-log", STACK),
        **{**flow_log, "LogGroupName": "/vpc/other", "DeliverLogsPermissionArn": f"arn:aws:iam::{ACCOUNT}:role/admin"},
    )
    admin_log = admin_ec2.create_flow_logs(
        ResourceIds=[other_vpc], TagSpecifications=tagged("vpc-flow-log", "shop"), **flow_log
    )["FlowLogIds"][0]
    assert f"{user}ec2:DeleteFlowLogs" in denied(ec2.delete_flow_logs, FlowLogIds=[admin_log])
    ec2.delete_flow_logs(FlowLogIds=[own_log])


def test_the_network_role_with_its_options_deploys_and_tears_down_under_the_enforced_deployer(stack_with_options):
    """Every call the network role makes for its options is one the deployer policy grants: private subnets behind a
    NAT gateway and flow logs to CloudWatch Logs, created, run again, and deleted, as the enforced deployer."""
    layer, credentials = stack_with_options["layer"], stack_with_options["deployer"]
    session = {
        "infra_access_key": credentials["aws_access_key_id"],
        "infra_secret_key": credentials["aws_secret_access_key"],
        "infra_session_token": credentials["aws_session_token"],
    }
    role_vars = {
        "network_stack_name": STACK,
        "network_create_vpc": True,
        "network_permissions_boundary": BOUNDARY,
        **NETWORK_OPTIONS,
        **session,
    }
    assert apply_role("network", layer.endpoint, role_vars).changed > 0
    assert apply_role("network", layer.endpoint, role_vars).changed == 0
    assert apply_role("network", layer.endpoint, {**role_vars, "network_state": "absent"}).changed > 0


def test_without_the_options_grants_the_network_role_is_refused_its_nat_gateway(stack):
    """The deployer policy of a stack without the options: the same role, asked for private subnets, is refused."""
    credentials = stack["deployer"]
    role_vars = {
        "network_stack_name": STACK,
        "network_create_vpc": True,
        "network_private_subnets": True,
        "infra_access_key": credentials["aws_access_key_id"],
        "infra_secret_key": credentials["aws_secret_access_key"],
        "infra_session_token": credentials["aws_session_token"],
    }
    # Its first call of the option, DescribeAddresses, gets AWS's UnauthorizedOperation (ec2_eip_info's message
    # leaves AWS's answer out); the role's public network before it is granted.
    with pytest.raises(AssertionError, match=r"ok=\d+\s+changed=[1-9]\d*\s+unreachable=0\s+failed=1") as refused:
        apply_role("network", stack["layer"].endpoint, role_vars)
    assert "Error retrieving EIPs: Failed to describe addresses" in str(refused.value)
