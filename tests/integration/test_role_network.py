"""The network role against the local AWS: created VPC twice (no change), existing VPC, absent twice."""

from __future__ import annotations

import json

import pytest

from tests.support.infra_roles import apply_role

pytestmark = pytest.mark.integration

STACK = "netstack"


def groups(ec2) -> dict[str, dict]:
    found = ec2.describe_security_groups(Filters=[{"Name": "tag:spillover:stack", "Values": [STACK]}])
    return {group["GroupName"]: group for group in found["SecurityGroups"]}


def default_group(ec2, vpc_id: str) -> dict:
    filters = [{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]
    [group] = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
    return group


def open_as_aws_makes_it(ec2, group_id: str) -> None:
    """What AWS gives a new VPC's default group (the local AWS gives only the egress rule): all traffic in from its own
    members, all traffic out. (AWS adds ::/0 out in a VPC with IPv6; the local AWS cannot revoke an IPv6 range of an
    all-traffic rule, its RevokeSecurityGroupEgress leaves it, so IPv4 stands for both here.)"""
    ec2.authorize_security_group_ingress(
        GroupId=group_id, IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group_id}]}]
    )
    [group] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    if not group["IpPermissionsEgress"]:
        ec2.authorize_security_group_egress(
            GroupId=group_id, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        )


def rules(group: dict) -> tuple[list, list]:
    """The group's ingress sources and egress destinations."""
    ingress = [pair["GroupId"] for p in group["IpPermissions"] for pair in p.get("UserIdGroupPairs", [])]
    egress = [r["CidrIp"] for p in group["IpPermissionsEgress"] for r in p.get("IpRanges", [])]
    egress += [r["CidrIpv6"] for p in group["IpPermissionsEgress"] for r in p.get("Ipv6Ranges", [])]
    return ingress, sorted(egress)


def stack_vpcs(ec2) -> list[dict]:
    return ec2.describe_vpcs(Filters=[{"Name": "tag:spillover:stack", "Values": [STACK]}])["Vpcs"]


def test_created_vpc_converges_then_goes_away_twice(local_aws, aws_client):
    ec2 = aws_client("ec2")
    role_vars = {"network_stack_name": STACK, "network_create_vpc": True, "network_alb_listener_ports": [80, 443]}

    first = apply_role("network", local_aws.endpoint, role_vars)
    assert first.changed > 0
    facts = first.facts
    assert set(facts) >= {
        "network__vpc_id",
        "network__subnet_ids",
        "network__alb_security_group_id",
        "network__task_security_group_id",
    }
    assert [vpc["VpcId"] for vpc in stack_vpcs(ec2)] == [facts["network__vpc_id"]]
    subnets = ec2.describe_subnets(SubnetIds=facts["network__subnet_ids"])["Subnets"]
    assert len({subnet["AvailabilityZone"] for subnet in subnets}) == 2
    assert all(subnet["MapPublicIpOnLaunch"] for subnet in subnets)
    gateway = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [facts["network__vpc_id"]]}]
    )["InternetGateways"]
    assert len(gateway) == 1
    tables = ec2.describe_route_tables(Filters=[{"Name": "tag:spillover:stack", "Values": [STACK]}])["RouteTables"]
    assert len(tables) == 1
    assert {a["SubnetId"] for a in tables[0]["Associations"]} == set(facts["network__subnet_ids"])
    assert any(
        route.get("GatewayId") == gateway[0]["InternetGatewayId"] and route["DestinationCidrBlock"] == "0.0.0.0/0"
        for route in tables[0]["Routes"]
    )

    by_name = groups(ec2)
    alb, tasks = by_name[f"{STACK}-alb"], by_name[f"{STACK}-tasks"]
    assert alb["GroupId"] == facts["network__alb_security_group_id"]
    assert tasks["GroupId"] == facts["network__task_security_group_id"]
    assert sorted((p["FromPort"], p["ToPort"], p["IpRanges"][0]["CidrIp"]) for p in alb["IpPermissions"]) == [
        (80, 80, "0.0.0.0/0"),
        (443, 443, "0.0.0.0/0"),
    ]
    # The app port, and only from the ALB's group: no CIDR at all.
    [rule] = tasks["IpPermissions"]
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 8080, 8080)
    assert [pair["GroupId"] for pair in rule["UserIdGroupPairs"]] == [alb["GroupId"]]
    assert rule["IpRanges"] == []

    # The created VPC's default security group lets nothing in or out; a run puts it back so if it was reopened.
    stripped = default_group(ec2, facts["network__vpc_id"])
    assert (stripped["IpPermissions"], stripped["IpPermissionsEgress"]) == ([], [])
    open_as_aws_makes_it(ec2, stripped["GroupId"])
    assert rules(default_group(ec2, facts["network__vpc_id"])) == ([stripped["GroupId"]], ["0.0.0.0/0"])
    assert apply_role("network", local_aws.endpoint, role_vars).changed > 0
    stripped = default_group(ec2, facts["network__vpc_id"])
    assert (stripped["IpPermissions"], stripped["IpPermissionsEgress"]) == ([], [])

    second = apply_role("network", local_aws.endpoint, role_vars)
    assert second.changed == 0, second.output[-4000:]
    assert second.facts == facts

    absent = {"network_stack_name": STACK, "network_state": "absent"}
    assert apply_role("network", local_aws.endpoint, absent).changed > 0
    assert groups(ec2) == {}
    assert stack_vpcs(ec2) == []
    assert ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [facts["network__vpc_id"]]}])["Subnets"] == []
    assert apply_role("network", local_aws.endpoint, absent).changed == 0


def test_a_tag_added_then_dropped_changes_the_resources_and_never_doubles_the_route_table(local_aws, aws_client):
    """Issue 19's tag scenario: the route table is found by ID once it exists (a lookup by every tag made a second
    one when network_tags changed, and the run after failed on two), and the dropped tag leaves the VPC too."""
    ec2 = aws_client("ec2")
    role_vars = {"network_stack_name": STACK, "network_create_vpc": True}
    apply_role("network", local_aws.endpoint, role_vars)
    tagged = apply_role("network", local_aws.endpoint, {**role_vars, "network_tags": {"team": "a"}})
    assert tagged.changed > 0
    dropped = apply_role("network", local_aws.endpoint, role_vars)
    assert dropped.changed > 0, dropped.output[-4000:]
    tables = ec2.describe_route_tables(Filters=[{"Name": "tag:spillover:stack", "Values": [STACK]}])["RouteTables"]
    assert len(tables) == 1
    assert {a["SubnetId"] for a in tables[0]["Associations"]} == set(dropped.facts["network__subnet_ids"])
    assert ec2.describe_tags(Filters=[{"Name": "key", "Values": ["team"]}])["Tags"] == []
    assert apply_role("network", local_aws.endpoint, role_vars).changed == 0


def test_existing_vpc_is_used_and_never_deleted(local_aws, aws_client):
    ec2 = aws_client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{i}.0/24", AvailabilityZone=f"us-east-1{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in ((1, "a"), (2, "b"))
    ]
    role_vars = {
        "network_stack_name": STACK,
        "network_vpc_id": vpc,
        "network_subnet_ids": subnets,
        "network_alb_ingress_cidrs": ["203.0.113.0/24"],
    }
    open_as_aws_makes_it(ec2, default_group(ec2, vpc)["GroupId"])
    untouched = default_group(ec2, vpc)
    assert rules(untouched) == ([untouched["GroupId"]], ["0.0.0.0/0"])
    run = apply_role("network", local_aws.endpoint, role_vars)
    assert run.facts["network__vpc_id"] == vpc and run.facts["network__subnet_ids"] == subnets
    # A VPC you name keeps its default security group as it was.
    assert default_group(ec2, vpc) == untouched
    alb = groups(ec2)[f"{STACK}-alb"]
    assert alb["VpcId"] == vpc
    assert [(p["FromPort"], [r["CidrIp"] for r in p["IpRanges"]]) for p in alb["IpPermissions"]] == [
        (80, ["203.0.113.0/24"])
    ]

    apply_role("network", local_aws.endpoint, {"network_stack_name": STACK, "network_state": "absent"})
    assert groups(ec2) == {}
    assert [v["VpcId"] for v in ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]] == [vpc]
    assert len(ec2.describe_subnets(SubnetIds=subnets)["Subnets"]) == 2


def stack_flow_logs(ec2) -> list[dict]:
    return ec2.describe_flow_logs(Filters=[{"Name": "tag:Name", "Values": [f"{STACK}-flow-logs"]}])["FlowLogs"]


def test_private_task_subnets_behind_a_nat_gateway_and_flow_logs_to_cloudwatch(local_aws, aws_client):
    ec2, iam, logs = aws_client("ec2"), aws_client("iam"), aws_client("logs")
    boundary = iam.create_policy(
        PolicyName=f"{STACK}-boundary",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}
        ),
    )["Policy"]["Arn"]
    role_vars = {
        "network_stack_name": STACK,
        "network_create_vpc": True,
        "network_private_subnets": True,
        "network_flow_logs": "cloud-watch-logs",
        "network_permissions_boundary": boundary,
    }
    check = apply_role("network", local_aws.endpoint, role_vars, check=True)
    assert check.changed > 0 and stack_vpcs(ec2) == []  # check mode writes nothing
    first = apply_role("network", local_aws.endpoint, role_vars)
    facts = first.facts
    public = ec2.describe_subnets(SubnetIds=facts["network__subnet_ids"])["Subnets"]
    private = ec2.describe_subnets(SubnetIds=facts["network__task_subnet_ids"])["Subnets"]
    assert not set(facts["network__subnet_ids"]) & set(facts["network__task_subnet_ids"])
    assert sorted(s["CidrBlock"] for s in private) == ["10.80.10.0/24", "10.80.11.0/24"]
    assert not any(s["MapPublicIpOnLaunch"] for s in private)
    assert {s["AvailabilityZone"] for s in private} == {s["AvailabilityZone"] for s in public}

    # One NAT gateway, in the first public subnet, with the stack's Elastic IP; the private table routes to it.
    [nat] = ec2.describe_nat_gateways(Filters=[{"Name": "tag:spillover:stack", "Values": [STACK]}])["NatGateways"]
    assert nat["SubnetId"] == facts["network__subnet_ids"][0] and nat["State"] == "available"
    [address] = ec2.describe_addresses(Filters=[{"Name": "tag:Name", "Values": [f"{STACK}-nat"]}])["Addresses"]
    assert [a["AllocationId"] for a in nat["NatGatewayAddresses"]] == [address["AllocationId"]]
    [table] = ec2.describe_route_tables(Filters=[{"Name": "tag:Name", "Values": [f"{STACK}-private"]}])["RouteTables"]
    assert {a["SubnetId"] for a in table["Associations"]} == set(facts["network__task_subnet_ids"])
    assert [r.get("NatGatewayId") for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"] == [
        nat["NatGatewayId"]
    ]

    # The flow log of the VPC goes to the stack's log group through a role only the flow logs service of this
    # account may assume, bounded by the stack's boundary and writing to that group only.
    [flow_log] = stack_flow_logs(ec2)
    role = iam.get_role(RoleName=f"{STACK}-flow-logs")["Role"]
    assert (flow_log["ResourceId"], flow_log["TrafficType"], flow_log["LogGroupName"]) == (
        facts["network__vpc_id"],
        "REJECT",
        f"/vpc/{STACK}-flow-logs",
    )
    assert flow_log["DeliverLogsPermissionArn"] == role["Arn"]
    assert {"Key": "spillover:stack", "Value": STACK} in flow_log["Tags"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    assert trust["Condition"]["ArnLike"] == {"aws:SourceArn": "arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/*"}
    policy = iam.get_role_policy(RoleName=f"{STACK}-flow-logs", PolicyName=f"{STACK}-flow-logs")["PolicyDocument"]
    group_arn = f"arn:aws:logs:us-east-1:123456789012:log-group:/vpc/{STACK}-flow-logs"
    assert policy["Statement"][0]["Resource"] == [group_arn, f"{group_arn}:log-stream:*"]
    [group] = logs.describe_log_groups(logGroupNamePrefix=f"/vpc/{STACK}-flow-logs")["logGroups"]
    assert group["retentionInDays"] == 30

    second = apply_role("network", local_aws.endpoint, role_vars)
    assert second.changed == 0, second.output[-4000:]
    assert second.facts == facts
    # A flow log AWS cannot change is replaced, once.
    wider = {**role_vars, "network_flow_logs_traffic_type": "ALL"}
    assert apply_role("network", local_aws.endpoint, wider).changed > 0
    assert [f["TrafficType"] for f in stack_flow_logs(ec2)] == ["ALL"]
    assert apply_role("network", local_aws.endpoint, wider).changed == 0

    absent = {**role_vars, "network_state": "absent"}
    assert apply_role("network", local_aws.endpoint, absent).changed > 0
    assert stack_vpcs(ec2) == [] and stack_flow_logs(ec2) == []
    assert [n["State"] for n in ec2.describe_nat_gateways(NatGatewayIds=[nat["NatGatewayId"]])["NatGateways"]] in (
        [],
        ["deleted"],
    )
    assert ec2.describe_addresses(Filters=[{"Name": "tag:Name", "Values": [f"{STACK}-nat"]}])["Addresses"] == []
    assert iam.list_roles()["Roles"] == []
    assert logs.describe_log_groups(logGroupNamePrefix="/vpc/")["logGroups"] == []
    assert apply_role("network", local_aws.endpoint, absent).changed == 0


def test_flow_logs_of_a_named_vpc_to_a_bucket_and_its_own_task_subnets(local_aws, aws_client):
    ec2 = aws_client("ec2")
    aws_client("s3").create_bucket(Bucket="netstack-logs")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{i}.0/24", AvailabilityZone=f"us-east-1{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in ((1, "a"), (2, "b"), (3, "a"), (4, "b"))
    ]
    role_vars = {
        "network_stack_name": STACK,
        "network_vpc_id": vpc,
        "network_subnet_ids": subnets[:2],
        "network_task_subnet_ids": subnets[2:],
        "network_flow_logs": "s3",
        # A folder (arn:aws:s3:::bucket/folder) AWS takes, the local AWS looks up as a bucket name.
        "network_flow_logs_s3_arn": "arn:aws:s3:::netstack-logs",
    }
    run = apply_role("network", local_aws.endpoint, role_vars)
    assert (run.facts["network__subnet_ids"], run.facts["network__task_subnet_ids"]) == (subnets[:2], subnets[2:])
    [flow_log] = stack_flow_logs(ec2)
    assert (flow_log["ResourceId"], flow_log["LogDestinationType"], flow_log["LogDestination"]) == (
        vpc,
        "s3",
        "arn:aws:s3:::netstack-logs",
    )
    assert apply_role("network", local_aws.endpoint, role_vars).changed == 0
    apply_role("network", local_aws.endpoint, {**role_vars, "network_state": "absent"})
    assert stack_flow_logs(ec2) == []
    assert [v["VpcId"] for v in ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]] == [vpc]
