"""playbooks/preflight.yml against the local AWS through the real-AWS behaviour layer, which answers what the local AWS
cannot (the account's Lambda settings, the region's built-in Fargate capacity providers, IAM's policy simulator).

Every run goes through the layer's recorder: the preflight only ever reads. Each failure names what to fix.
"""

from __future__ import annotations

import json
import re

import boto3
import pytest

from lab import builder
from tests.support.ansible_run import ROOT, run_playbook
from tests.support.aws_quirks.layer import QuirksLayer
from tests.support.aws_quirks.rules import EcsFargateProviders, IamPolicySimulator, LambdaQuota
from tests.support.aws_quirks.runner import _is_write
from tests.support.local_aws import REGION

pytestmark = pytest.mark.integration

PREFLIGHT = ROOT / "playbooks" / "preflight.yml"
STACK = "pre"
ACCOUNT = "123456789012"  # the local AWS's account of the test credentials
RECAP = re.compile(r"^local\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@pytest.fixture
def layer(local_aws):
    """``layer(quota=..., unavailable=...)``: the preflight's answers as AWS gives them."""
    started = []

    def start(quota: int = 1000, unavailable=()):
        rules = [IamPolicySimulator(), EcsFargateProviders(unavailable), LambdaQuota({ACCOUNT: quota})]
        started.append(QuirksLayer(local_aws.endpoint, rules).start())
        return started[-1]

    yield start
    for each in started:
        each.stop()


def preflight(layer, check: bool = False, **extra):
    completed = run_playbook(
        PREFLIGHT,
        inventory=ROOT / "inventories" / "local",
        extra_vars={"spillover_stack_name": STACK, "preflight_skip": [], **extra},
        check=check,
        env={"LOCAL_AWS_PORT": layer.endpoint.rsplit(":", 1)[1]},
    )
    output = completed.stdout + completed.stderr
    recap = RECAP.search(completed.stdout)
    assert recap, output[-4000:]
    writes = [f"{service}:{operation}" for _key, service, operation, _status in layer.exchanges if _is_write(operation)]
    assert writes == [], writes  # whatever the outcome, nothing is written
    return int(recap.group(2)), int(recap.group(4)), output


def client(endpoint: str, service: str, **credentials):
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint, **credentials)


@pytest.mark.parametrize("check", [False, True], ids=["run", "check-mode"])
def test_a_roomy_account_passes_every_check_and_nothing_is_written(layer, check):
    changed, failed, output = preflight(layer(), check=check)
    assert (changed, failed) == (0, 0), output[-4000:]
    assert "1000 concurrent executions, 989 left unreserved" in output  # the summary says what it read
    # The host's own credentials are the local AWS's (no deployment role): the simulator cannot take that caller.
    assert "The deployer's permissions were not checked: the policy simulator simulates IAM users and roles" in output


def test_a_new_accounts_quota_is_refused_with_the_numbers_and_how_to_ask_for_more(layer):
    _changed, failed, output = preflight(layer(quota=10))
    assert failed == 1
    assert "the account's quota is 10 concurrent executions" in output
    assert "L-B99A9384" in output and "--desired-value 111" in output


def test_a_region_without_fargate_spot_is_refused(layer):
    _changed, failed, output = preflight(layer(unavailable=["FARGATE_SPOT"]))
    assert failed == 1
    assert "ECS does not offer FARGATE_SPOT in us-east-1" in output


def own_vpc(aws_client, route: str | None) -> dict:
    """A VPC of one's own with two subnets whose main route table sends 0.0.0.0/0 to ``route`` (igw, nat or none)."""
    ec2 = aws_client("ec2")
    where = builder.network(ec2, REGION, "10.60.0.0/16", security_groups=())
    vpc, subnets = where.vpc_id, where.subnet_ids
    [main] = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "association.main", "Values": ["true"]}]
    )["RouteTables"]
    if route == "igw":
        gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
        ec2.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    elif route == "nat":
        allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
        nat = ec2.create_nat_gateway(SubnetId=subnets[0], AllocationId=allocation)["NatGateway"]["NatGatewayId"]
        ec2.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    return {"network_create_vpc": False, "network_vpc_id": vpc, "network_subnet_ids": subnets}


def test_subnets_with_a_route_to_an_internet_gateway_serve_tasks_with_public_ips(layer, aws_client):
    _changed, failed, output = preflight(layer(), **own_vpc(aws_client, "igw"))
    assert failed == 0, output[-4000:]


@pytest.mark.parametrize(
    ("route", "extra", "expected"),
    [
        (None, {}, "routes 0.0.0.0/0 to nowhere"),
        ("nat", {}, "add a route to an internet gateway"),
        ("igw", {"ecs_service_assign_public_ip": False, "alb_scheme": "internal"}, "through a NAT gateway"),
    ],
    ids=["no-route", "nat-for-public-ips", "igw-for-private-tasks"],
)
def test_subnets_that_do_not_reach_the_internet_as_the_tasks_need_are_refused(
    layer, aws_client, route, extra, expected
):
    _changed, failed, output = preflight(layer(), **own_vpc(aws_client, route), **extra)
    assert failed == 1 and expected in output


def test_subnets_of_another_vpc_or_one_zone_are_refused(layer, aws_client):
    network = own_vpc(aws_client, "igw")
    _changed, failed, output = preflight(
        layer(), **{**network, "network_subnet_ids": network["network_subnet_ids"][:1]}
    )
    assert failed == 1 and "in different availability zones" in output


def endpoints(aws_client, vpc: str, services: list[str]) -> None:
    """The VPC endpoints of ``services``: interface ones with private DNS, S3's a gateway on the main route table."""
    ec2 = aws_client("ec2")
    [main] = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "association.main", "Values": ["true"]}]
    )["RouteTables"]
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][0]["SubnetId"]
    for service in services:
        name = f"com.amazonaws.{REGION}.{service}"
        if service == "s3":
            ec2.create_vpc_endpoint(
                VpcId=vpc, ServiceName=name, VpcEndpointType="Gateway", RouteTableIds=[main["RouteTableId"]]
            )
        else:
            ec2.create_vpc_endpoint(
                VpcId=vpc, ServiceName=name, VpcEndpointType="Interface", SubnetIds=[subnet], PrivateDnsEnabled=True
            )


PRIVATE_TASKS = {"ecs_service_assign_public_ip": False, "alb_scheme": "internal"}


def test_private_tasks_reach_ecr_and_logs_through_the_vpcs_endpoints(layer, aws_client):
    network = own_vpc(aws_client, None)
    endpoints(aws_client, network["network_vpc_id"], ["ecr.api", "ecr.dkr", "logs", "s3"])
    _changed, failed, output = preflight(layer(), **network, **PRIVATE_TASKS)
    assert failed == 0, output[-4000:]


def test_private_tasks_without_a_nat_or_every_endpoint_are_refused_naming_what_is_missing(layer, aws_client):
    network = own_vpc(aws_client, None)
    endpoints(aws_client, network["network_vpc_id"], ["ecr.api", "ecr.dkr"])
    _changed, failed, output = preflight(layer(), **network, **PRIVATE_TASKS)
    assert failed == 1
    assert "through a NAT gateway (nat-...) or the VPC endpoints of ecr.api, ecr.dkr, logs, s3" in output
    assert "this subnet lacks logs, s3" in output


def test_tasks_in_private_subnets_of_their_own_behind_a_nat_beside_a_public_load_balancer(layer, aws_client):
    """network_task_subnet_ids: the load balancer's subnets route to the internet gateway, the tasks' to a NAT."""
    ec2 = aws_client("ec2")
    network = own_vpc(aws_client, "igw")
    vpc = network["network_vpc_id"]
    private = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.60.{100 + i}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate("ab")
    ]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    for subnet in private:
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    tasks = {**network, "network_task_subnet_ids": private, "ecs_service_assign_public_ip": False}
    _changed, failed, output = preflight(layer(), **tasks)
    assert failed == 1 and f"Subnet {private[0]} of network_task_subnet_ids" in output
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=network["network_subnet_ids"][0], AllocationId=allocation)["NatGateway"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat["NatGatewayId"])
    _changed, failed, output = preflight(layer(), **tasks)
    assert failed == 0, output[-4000:]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"network_flow_logs": "s3", "network_flow_logs_s3_arn": "arn:aws:s3:::logs/AWSLogs"},
            "network_flow_logs: s3 needs network_flow_logs_s3_arn, the ARN of a bucket",
        ),
        ({"network_flow_logs_s3_arn": "arn:aws:s3:::logs"}, "network_flow_logs_s3_arn is set but network_flow_logs is"),
        (
            {"network_create_vpc": False, "network_vpc_id": "vpc-1", "network_private_subnets": True},
            "network_private_subnets needs network_create_vpc: true",
        ),
        (
            {"network_private_subnets": True, "network_private_subnet_cidrs": ["10.80.10.0/24"]},
            "network_private_subnet_cidrs must have one CIDR per public subnet (network_subnet_cidrs: 2), got 1.",
        ),
        ({"network_task_subnet_ids": ["subnet-1", "subnet-2"]}, "network_task_subnet_ids is for a VPC you name"),
    ],
    ids=["s3-arn", "s3-arn-unused", "private-in-named-vpc", "private-cidrs", "task-subnets-in-created-vpc"],
)
def test_network_options_that_do_not_fit_are_refused_naming_the_variable(layer, options, expected):
    _changed, failed, output = preflight(layer(), preflight_skip=["network"], **options)
    assert failed == 1
    assert expected in output and "Nothing was created." in output


def test_an_image_platform_other_than_the_tasks_is_refused(layer):
    _changed, failed, output = preflight(layer(), ecs_service_platform="linux/arm64")
    assert failed == 1 and "differs from the image's platform" in output


def test_an_arm64_build_on_this_amd64_controller_without_emulation_is_refused(layer):
    # This machine is x86_64 without QEMU (binfmt_misc) and its base image is linux/amd64 only: what cannot be
    # built here is refused before anything is written (an arm64 image itself cannot be run here).
    _changed, failed, output = preflight(layer(), ecr_push_platform="linux/arm64")
    assert failed == 1
    assert "QEMU user emulation" in output or "is linux/amd64, not linux/arm64" in output


def test_arm64_tasks_on_fargate_spot_are_refused_before_anything_else(layer):
    spot = [{"capacity_provider": "FARGATE", "weight": 1, "base": 1}, {"capacity_provider": "FARGATE_SPOT"}]
    _changed, failed, output = preflight(
        layer(), ecr_push_platform="linux/arm64", ecs_service_capacity_provider_strategy=spot
    )
    assert failed == 1
    assert "Fargate does not run ARM64 Linux tasks on FARGATE_SPOT" in output
    assert (
        "Set ecr_push_platform to linux/amd64, or name FARGATE only in ecs_service_capacity_provider_strategy" in output
    )


def deployer(local_aws, policy: dict) -> str:
    """A deployment role the test credentials may assume, with ``policy``."""
    iam = client(local_aws.endpoint, "iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    arn = iam.create_role(RoleName="pre-deploy", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName="pre-deploy", PolicyName="deploy", PolicyDocument=json.dumps(policy))
    return arn


def rendered_policy(tmp_path, role_arn: str) -> dict:
    completed = run_playbook(
        ROOT / "playbooks" / "deployer_policy.yml",
        inventory=ROOT / "inventories" / "local",
        extra_vars={
            "spillover_stack_name": STACK,
            "spillover_aws_account_id": ACCOUNT,
            "spillover_aws_assume_role_arn": role_arn,
            "deployer_policy_dir": str(tmp_path),
        },
    )
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-3000:]
    # The parts playbooks/deployer_policy.yml writes, as one document (the local AWS takes any size inline).
    parts = sorted(tmp_path.glob(f"{STACK}-deployer-policy-*.json"))
    assert parts
    statements = [statement for part in parts for statement in json.loads(part.read_text())["Statement"]]
    return {"Version": "2012-10-17", "Statement": statements}


def test_the_deployer_policy_passes_the_permission_check(layer, local_aws, tmp_path):
    role = f"arn:aws:iam::{ACCOUNT}:role/pre-deploy"
    deployer(local_aws, rendered_policy(tmp_path, role))
    _changed, failed, output = preflight(layer(), spillover_aws_assume_role_arn=role)
    assert failed == 0, output[-4000:]
    assert "grants simulated for arn:aws:iam::123456789012:role/pre-deploy" in output


def test_a_deployer_without_a_grant_is_told_which_calls_it_may_not_make(layer, local_aws, tmp_path):
    role = f"arn:aws:iam::{ACCOUNT}:role/pre-deploy"
    policy = rendered_policy(tmp_path, role)
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "PassFunctionRolesToLambda"]
    deployer(local_aws, policy)
    _changed, failed, output = preflight(layer(), spillover_aws_assume_role_arn=role)
    assert failed == 1
    assert "may not make 2 of the deploy's calls" in output
    assert f"iam:PassRole on arn:aws:iam::{ACCOUNT}:role/pre-app-lambda" in output
    assert "playbooks/deployer_policy.yml prints it" in output


def test_a_permissions_boundary_that_does_not_exist_is_refused_naming_the_variable(layer):
    missing = f"arn:aws:iam::{ACCOUNT}:policy/org-boundary"
    _changed, failed, output = preflight(layer(), spillover_permissions_boundary_arn=missing)
    assert failed == 1
    assert f"spillover_permissions_boundary_arn names {missing}, which does not exist" in output
    assert f"DIR/{STACK}-boundary-policy.json" in output and "Nothing was created." in output


def test_a_permissions_boundary_that_is_no_policy_arn_is_refused_naming_the_variable(layer):
    _changed, failed, output = preflight(layer(), spillover_permissions_boundary_arn=f"arn:aws:iam::{ACCOUNT}:role/x")
    assert failed == 1
    assert "spillover_permissions_boundary_arn must be the ARN of an IAM managed policy" in output


def test_a_permissions_boundary_that_exists_passes(layer, aws_client):
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}
    boundary = aws_client("iam").create_policy(PolicyName="org-boundary", PolicyDocument=json.dumps(document))
    changed, failed, output = preflight(layer(), spillover_permissions_boundary_arn=boundary["Policy"]["Arn"])
    assert (changed, failed) == (0, 0), output[-4000:]


def test_the_load_balancers_access_logs_and_web_acl_settings_are_refused_each_named_before_anything(layer):
    bad = {
        "alb_access_logs_bucket": "Org_Logs",
        "alb_access_logs_prefix": "shop/AWSLogs/",
        "alb_web_acl_arn": f"arn:aws:wafv2:us-east-1:{ACCOUNT}:global/webacl/shop/a1b2c3d4",
    }
    _changed, failed, output = preflight(layer(), **bad)
    assert failed == 1
    flat = " ".join(output.split())
    assert "alb_access_logs_bucket must be an S3 bucket name" in flat and 'got \\"Org_Logs\\"' in flat
    assert 'alb_access_logs_prefix must not start or end with \\"/\\" nor contain \\"AWSLogs\\"' in flat
    assert "alb_web_acl_arn must be the ARN of a regional AWS WAF web ACL in the stack's region" in flat
    assert "Nothing was created." in flat


def test_a_web_acl_of_another_region_is_refused_and_a_good_one_passes(layer):
    other = f"arn:aws:wafv2:eu-west-1:{ACCOUNT}:regional/webacl/shop/a1b2c3d4"
    _changed, failed, output = preflight(layer(), alb_web_acl_arn=other)
    assert failed == 1 and "alb_web_acl_arn must be the ARN of a regional AWS WAF web ACL" in output
    good = {
        "alb_web_acl_arn": other.replace("eu-west-1", "us-east-1"),
        "alb_access_logs_bucket": "org-alb-logs",
        "alb_access_logs_prefix": "shop/prod",
    }
    changed, failed, output = preflight(layer(), **good)
    assert (changed, failed) == (0, 0), output[-4000:]


def test_usable_kms_keys_pass(layer, aws_client):
    kms = aws_client("kms")
    logs_key, environment_key = (kms.create_key()["KeyMetadata"]["Arn"] for _ in range(2))
    changed, failed, output = preflight(
        layer(), spillover_logs_kms_key_arn=logs_key, spillover_lambda_environment_kms_key_arn=environment_key
    )
    assert (changed, failed) == (0, 0), output[-4000:]


def test_kms_keys_the_deploy_cannot_use_are_refused_naming_the_variable(layer, aws_client):
    kms = aws_client("kms")
    key = kms.create_key()["KeyMetadata"]
    disabled = key["Arn"]
    kms.disable_key(KeyId=key["KeyId"])
    _changed, failed, output = preflight(layer(), spillover_logs_kms_key_arn=disabled)
    assert failed == 1
    assert f"spillover_logs_kms_key_arn names {disabled}, which the deploy cannot use to encrypt the log groups" in (
        output
    )
    assert "it is Disabled, not Enabled: enable it" in output and "Nothing was created." in output

    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    _changed, failed, output = preflight(layer(), spillover_lambda_environment_kms_key_arn=signing)
    assert failed == 1
    assert f"spillover_lambda_environment_kms_key_arn names {signing}, which the deploy cannot use" in output
    assert "it is a ECC_NIST_P256 key for SIGN_VERIFY" in output

    missing = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    _changed, failed, output = preflight(layer(), spillover_lambda_environment_kms_key_arn=missing)
    assert failed == 1
    assert "spillover_lambda_environment_kms_key_arn names" in output and "it does not exist" in output


def test_a_kms_key_named_otherwise_than_by_its_arn_is_refused_naming_the_variable(layer):
    _changed, failed, output = preflight(layer(), spillover_logs_kms_key_arn="alias/shop-logs")
    assert failed == 1
    assert "spillover_logs_kms_key_arn must be the ARN of a KMS key" in output
