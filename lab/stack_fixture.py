"""Create a stack that follows the stack contract with plain boto3, for tests and for ``lab run --fixture``.

The playbooks (``playbooks/site.yml -i inventories/lab``) are the real way to deploy; this fixture lets the
lab's smoke tests run without the whole deployment, and it keeps to the same names, tags and settings
(the ``lab`` inventory's short periods) so that :func:`lab.stack.discover` cannot tell the difference.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from lab.aws import Aws

ROOT = Path(__file__).resolve().parents[1]
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass
class FixtureSettings:
    stack: str = "spillover-lab"
    app_dir: Path = ROOT / "files" / "app"
    scaler_dir: Path = ROOT / "files" / "scaler"
    reserved_concurrency: int = 10
    alarm_period: int = 10
    spill_concurrency_share: float = 0.9
    warm_concurrency_share: float = 0.6
    health_check_interval: int = 5
    health_check_timeout: int = 2
    healthy_threshold: int = 2
    unhealthy_threshold: int = 2
    deregistration_delay: int = 5
    function_timeout: int = 30
    container_environment: dict[str, str] = field(default_factory=dict)
    container_command: list[str] = field(default_factory=list)
    scaler_environment: dict[str, str] = field(
        default_factory=lambda: {
            "SPILLOVER_SPILL_TASKS": "2",
            "SPILLOVER_STANDBY_TASKS": "0",
            "SPILLOVER_STEPS": "80,100",
            "SPILLOVER_STEP_SECONDS": "10",
            "SPILLOVER_COOLDOWN_SECONDS": "30",
            "SPILLOVER_DRAIN_SECONDS": "5",
        }
    )
    schedule_expression: str = "rate(1 minute)"
    initial_weights: tuple[int, int] = (1, 0)


def build_zip(source: Path, vendored: tuple[str, ...] = ()) -> bytes:
    """A deterministic zip of ``source``'s Python files plus installed modules named in ``vendored``."""
    import importlib.util

    files: dict[str, bytes] = {}
    for path in sorted(source.rglob("*.py")):
        if "__pycache__" not in path.parts and "tests" not in path.relative_to(source).parts:
            files[path.relative_to(source).as_posix()] = path.read_bytes()
    for module in vendored:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"{module} is not installed: pip install -r requirements/app.txt")
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            for path in sorted(origin.parent.rglob("*.py")):
                files[(Path(module) / path.relative_to(origin.parent)).as_posix()] = path.read_bytes()
        else:
            files[origin.name] = origin.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return buffer.getvalue()


def code_sha256(data: bytes) -> str:
    """Lambda's ``CodeSha256``: base64 of the zip's SHA-256."""
    import base64

    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def create_stack(aws: Aws, settings: FixtureSettings, build_dir: Path) -> dict[str, str]:
    """Create the contract's resources for ``settings.stack``; write the zips to ``build_dir``; return ARNs."""
    stack = settings.stack
    tags = [{"Key": "spillover:stack", "Value": stack}]
    ec2, elbv2, iam = aws.client("ec2"), aws.client("elbv2"), aws.client("iam")
    lam, ecs, cloudwatch, events = (
        aws.client("lambda"),
        aws.client("ecs"),
        aws.client("cloudwatch"),
        aws.client("events"),
    )

    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{index}.0/24", AvailabilityZone=f"{aws.region}{zone}")["Subnet"][
            "SubnetId"
        ]
        for index, zone in enumerate("ab")
    ]
    alb_sg = ec2.create_security_group(GroupName=f"{stack}-alb", Description="alb", VpcId=vpc)["GroupId"]
    task_sg = ec2.create_security_group(GroupName=f"{stack}-task", Description="task", VpcId=vpc)["GroupId"]

    role = iam.create_role(
        RoleName=f"{stack}-lambda",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]

    build_dir.mkdir(parents=True, exist_ok=True)
    app_zip = build_zip(settings.app_dir, ("bottle", "apig_wsgi"))
    (build_dir / f"{stack}-app.zip").write_bytes(app_zip)
    app = lam.create_function(
        FunctionName=f"{stack}-app",
        Runtime="python3.12",
        Role=role,
        Handler="app.lambda_handler",
        Code={"ZipFile": app_zip},
        Timeout=settings.function_timeout,
        MemorySize=128,
        Tags={"spillover:stack": stack},
    )["FunctionArn"]
    lam.put_function_concurrency(
        FunctionName=f"{stack}-app", ReservedConcurrentExecutions=settings.reserved_concurrency
    )

    load_balancer = elbv2.create_load_balancer(
        Name=stack, Subnets=subnets, SecurityGroups=[alb_sg], Scheme="internet-facing", Type="application", Tags=tags
    )["LoadBalancers"][0]["LoadBalancerArn"]
    lambda_tg = elbv2.create_target_group(Name=f"{stack}-lambda", TargetType="lambda", Tags=tags)["TargetGroups"][0][
        "TargetGroupArn"
    ]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=lambda_tg, Attributes=[{"Key": "lambda.multi_value_headers.enabled", "Value": "true"}]
    )
    elbv2.register_targets(TargetGroupArn=lambda_tg, Targets=[{"Id": app}])
    ecs_tg = elbv2.create_target_group(
        Name=f"{stack}-ecs",
        Protocol="HTTP",
        Port=8080,
        VpcId=vpc,
        TargetType="ip",
        HealthCheckProtocol="HTTP",
        HealthCheckPath="/health",
        HealthCheckIntervalSeconds=settings.health_check_interval,
        HealthCheckTimeoutSeconds=settings.health_check_timeout,
        HealthyThresholdCount=settings.healthy_threshold,
        UnhealthyThresholdCount=settings.unhealthy_threshold,
        Matcher={"HttpCode": "200"},
        Tags=tags,
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=ecs_tg,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(settings.deregistration_delay)}],
    )
    lambda_weight, ecs_weight = settings.initial_weights
    listener = elbv2.create_listener(
        LoadBalancerArn=load_balancer,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": lambda_tg, "Weight": lambda_weight},
                        {"TargetGroupArn": ecs_tg, "Weight": ecs_weight},
                    ]
                },
            }
        ],
        Tags=tags,
    )["Listeners"][0]["ListenerArn"]

    ecs.create_cluster(clusterName=stack, tags=[{"key": "spillover:stack", "value": stack}])
    container = {
        "name": "app",
        "image": f"123456789012.dkr.ecr.{aws.region}.amazonaws.com/{stack}-app:lab",
        "essential": True,
        "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
        "environment": [{"name": key, "value": value} for key, value in settings.container_environment.items()],
    }
    if settings.container_command:
        container["command"] = settings.container_command
    task_definition = ecs.register_task_definition(
        family=f"{stack}-app",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[container],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=stack,
        serviceName=f"{stack}-app",
        taskDefinition=task_definition,
        desiredCount=0,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": subnets, "securityGroups": [task_sg], "assignPublicIp": "DISABLED"}
        },
        loadBalancers=[{"targetGroupArn": ecs_tg, "containerName": "app", "containerPort": 8080}],
    )

    lb_dimension = load_balancer.split(":loadbalancer/", 1)[1]
    lambda_tg_dimension = lambda_tg.split(":", 5)[5]
    reserved = settings.reserved_concurrency
    alarm_specs = {
        f"{stack}-spill-throttles": ("AWS/Lambda", "Throttles", "Sum", [("FunctionName", f"{stack}-app")], 0, "GT"),
        f"{stack}-spill-lambda-user-error": (
            "AWS/ApplicationELB",
            "LambdaUserError",
            "Sum",
            [("LoadBalancer", lb_dimension), ("TargetGroup", lambda_tg_dimension)],
            0,
            "GT",
        ),
        f"{stack}-spill-concurrency": (
            "AWS/Lambda",
            "ConcurrentExecutions",
            "Maximum",
            [("FunctionName", f"{stack}-app")],
            max(1, round(reserved * settings.spill_concurrency_share)),
            "GE",
        ),
        f"{stack}-warm-concurrency": (
            "AWS/Lambda",
            "ConcurrentExecutions",
            "Maximum",
            [("FunctionName", f"{stack}-app")],
            max(1, round(reserved * settings.warm_concurrency_share)),
            "GE",
        ),
    }
    operators = {"GT": "GreaterThanThreshold", "GE": "GreaterThanOrEqualToThreshold"}
    alarm_arns = []
    for name, (namespace, metric, statistic, dimensions, threshold, operator) in alarm_specs.items():
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace=namespace,
            MetricName=metric,
            Statistic=statistic,
            Dimensions=[{"Name": key, "Value": value} for key, value in dimensions],
            Period=settings.alarm_period,
            EvaluationPeriods=1,
            DatapointsToAlarm=1,
            Threshold=float(threshold),
            ComparisonOperator=operators[operator],
            TreatMissingData="notBreaching",
            Tags=tags,
        )
        alarm_arns.append(f"arn:aws:cloudwatch:{aws.region}:123456789012:alarm:{name}")

    scaler_environment = {
        "SPILLOVER_CLUSTER": stack,
        "SPILLOVER_SERVICE": f"{stack}-app",
        "SPILLOVER_LISTENER_ARN": listener,
        "SPILLOVER_LAMBDA_TARGET_GROUP_ARN": lambda_tg,
        "SPILLOVER_ECS_TARGET_GROUP_ARN": ecs_tg,
        "SPILLOVER_SPILL_ALARMS": ",".join(name for name in alarm_specs if "-spill-" in name),
        "SPILLOVER_WARM_ALARMS": ",".join(name for name in alarm_specs if "-warm-" in name),
        # The step-down guard, as site.yml and the lab inventory set it: the app function, metrics at the alarm period.
        "SPILLOVER_FUNCTION_NAME": f"{stack}-app",
        "SPILLOVER_METRIC_PERIOD_SECONDS": str(settings.alarm_period),
        **settings.scaler_environment,
    }
    scaler_zip = build_zip(settings.scaler_dir)
    (build_dir / f"{stack}-scaler.zip").write_bytes(scaler_zip)
    scaler = lam.create_function(
        FunctionName=f"{stack}-scaler",
        Runtime="python3.12",
        Role=role,
        Handler="scaler.handler",
        Code={"ZipFile": scaler_zip},
        Timeout=60,
        Environment={"Variables": scaler_environment},
        Tags={"spillover:stack": stack},
    )["FunctionArn"]
    lam.put_function_concurrency(FunctionName=f"{stack}-scaler", ReservedConcurrentExecutions=1)

    event_tags = [{"Key": "spillover:stack", "Value": stack}]
    events.put_rule(
        Name=f"{stack}-alarm-state",
        EventPattern=json.dumps(
            {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"], "resources": alarm_arns}
        ),
        State="ENABLED",
        Tags=event_tags,
    )
    events.put_rule(
        Name=f"{stack}-schedule", ScheduleExpression=settings.schedule_expression, State="ENABLED", Tags=event_tags
    )
    for rule in (f"{stack}-alarm-state", f"{stack}-schedule"):
        events.put_targets(Rule=rule, Targets=[{"Id": "scaler", "Arn": scaler}])
    return {
        "load_balancer_arn": load_balancer,
        "listener_arn": listener,
        "lambda_target_group_arn": lambda_tg,
        "ecs_target_group_arn": ecs_tg,
        "app_function_arn": app,
        "scaler_function_arn": scaler,
    }
