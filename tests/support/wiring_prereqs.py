"""What the network, lambda_function and ecs_service roles hand to the alb, alarm, scaler and eventbridge roles.

Built with plain boto3 under the stack contract's names, so the wiring roles can be exercised on their own:
the outputs come back as the facts those roles publish (``network__subnet_ids``, ``lambda_function__target_group_arn``
and so on) and can be passed as extra vars to a playbook that runs only the later roles.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable

LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    return {}\n")
    return buffer.getvalue()


def build_prerequisites(client: Callable[[str], object], stack: str, region: str = "us-east-1") -> dict:
    """Create the VPC, security groups, app function, both target groups and the ECS service of ``stack``."""
    ec2, elbv2, lambda_, iam, ecs = (client(name) for name in ("ec2", "elbv2", "lambda", "iam", "ecs"))
    tags = [{"Key": "spillover:stack", "Value": stack}]
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.30.{index}.0/24", AvailabilityZone=f"{region}{zone}")["Subnet"][
            "SubnetId"
        ]
        for index, zone in ((1, "a"), (2, "b"))
    ]
    alb_sg = ec2.create_security_group(GroupName=f"{stack}-alb", Description="alb", VpcId=vpc)["GroupId"]
    task_sg = ec2.create_security_group(GroupName=f"{stack}-task", Description="task", VpcId=vpc)["GroupId"]
    role = iam.create_role(RoleName=f"{stack}-app", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))["Role"]["Arn"]
    function = lambda_.create_function(
        FunctionName=f"{stack}-app",
        Runtime="python3.12",
        Role=role,
        Handler="app.lambda_handler",
        Code={"ZipFile": _zip()},
        Tags={"spillover:stack": stack},
    )["FunctionArn"]
    lambda_tg = elbv2.create_target_group(Name=f"{stack}-lambda", TargetType="lambda", Tags=tags)["TargetGroups"][0][
        "TargetGroupArn"
    ]
    elbv2.register_targets(TargetGroupArn=lambda_tg, Targets=[{"Id": function}])
    ecs_tg = elbv2.create_target_group(
        Name=f"{stack}-ecs",
        Protocol="HTTP",
        Port=8080,
        VpcId=vpc,
        TargetType="ip",
        HealthCheckPath="/health",
        Tags=tags,
    )["TargetGroups"][0]["TargetGroupArn"]
    ecs.create_cluster(clusterName=stack)
    task_definition = ecs.register_task_definition(
        family=f"{stack}-app",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": "app:1", "portMappings": [{"containerPort": 8080}]}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=stack,
        serviceName=f"{stack}-app",
        taskDefinition=task_definition,
        desiredCount=0,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [task_sg]}},
        loadBalancers=[{"targetGroupArn": ecs_tg, "containerName": "app", "containerPort": 8080}],
    )
    return {
        "network__vpc_id": vpc,
        "network__subnet_ids": subnets,
        "network__alb_security_group_id": alb_sg,
        "network__task_security_group_id": task_sg,
        "lambda_function__function_arn": function,
        "lambda_function__target_group_arn": lambda_tg,
        "ecs_service__cluster_name": stack,
        "ecs_service__service_name": f"{stack}-app",
        "ecs_service__target_group_arn": ecs_tg,
    }
