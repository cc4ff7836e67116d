"""Create a stack that follows the stack contract with plain boto3, for tests and for ``lab run --fixture``.

The playbooks (``playbooks/site.yml -i inventories/lab``) are the real way to deploy; this fixture lets the
lab's smoke tests run without the whole deployment, and it keeps to the same names, tags and settings
(the ``lab`` inventory's short periods) so that :func:`lab.stack.discover` cannot tell the difference. It is a
composition of :mod:`lab.builder`'s pieces; the alarms are the alarm role's own, the zips the ones the roles build.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from lab import builder
from lab.aws import Aws
from lab.stack import STACK_TAG


@dataclass
class FixtureSettings:
    stack: str = "spillover-lab"
    app: builder.App | None = None  # None: the spillover_app role's default app (the demo app, files/app)
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
    zip_cache: Path = builder.ZIP_CACHE  # where pip's vendored requirements of the app zip are kept


def create_stack(aws: Aws, settings: FixtureSettings, build_dir: Path) -> dict[str, str]:
    """Create the contract's resources for ``settings.stack``; write the zips to ``build_dir``; return ARNs."""
    stack = settings.stack
    tags = {STACK_TAG: stack}
    ec2, elbv2, iam, lam = (aws.client(name) for name in ("ec2", "elbv2", "iam", "lambda"))
    ecs, cloudwatch, events = (aws.client(name) for name in ("ecs", "cloudwatch", "events"))

    where = builder.network(ec2, aws.region, "10.42.0.0/16", (f"{stack}-alb", f"{stack}-task"))
    role = builder.lambda_role(iam, f"{stack}-lambda")
    build_dir.mkdir(parents=True, exist_ok=True)

    def function(name: str, code: bytes, **settings) -> str:
        """Function ``<stack>-<name>``, its zip written to ``build_dir`` where the lab reads the code it runs."""
        (build_dir / f"{stack}-{name}.zip").write_bytes(code)
        return builder.function(lam, f"{stack}-{name}", role, code, tags=tags, **settings)

    described = settings.app or builder.describe_app()
    app = function(
        "app",
        builder.app_zip(described, settings.zip_cache),
        reserved_concurrency=settings.reserved_concurrency,
        Timeout=settings.function_timeout,
        **builder.app_function(described),
    )

    load_balancer = builder.load_balancer(elbv2, stack, where, f"{stack}-alb", tags)
    lambda_tg = builder.lambda_target_group(
        elbv2, f"{stack}-lambda", app, {"lambda.multi_value_headers.enabled": "true"}, tags
    )
    ecs_tg = builder.ip_target_group(
        elbv2,
        f"{stack}-ecs",
        where.vpc_id,
        {"deregistration_delay.timeout_seconds": str(settings.deregistration_delay)},
        tags,
        HealthCheckProtocol="HTTP",
        HealthCheckPath=described.health_path,
        HealthCheckIntervalSeconds=settings.health_check_interval,
        HealthCheckTimeoutSeconds=settings.health_check_timeout,
        HealthyThresholdCount=settings.healthy_threshold,
        UnhealthyThresholdCount=settings.unhealthy_threshold,
        Matcher={"HttpCode": "200"},
    )
    lambda_weight, ecs_weight = settings.initial_weights
    listener = builder.weighted_listener(
        elbv2, load_balancer, {lambda_tg: lambda_weight, ecs_tg: ecs_weight}, tags=tags
    )

    cluster_arn = builder.cluster(ecs, stack, tags=tags)
    task_definition = builder.task_definition(
        ecs,
        f"{stack}-app",
        f"123456789012.dkr.ecr.{aws.region}.amazonaws.com/{stack}-app:lab",
        settings.container_environment,
        settings.container_command,
    )
    builder.service(ecs, stack, f"{stack}-app", task_definition, where, f"{stack}-task", ecs_tg)

    alarms = builder.alarms(
        cloudwatch,
        alarm_stack_name=stack,
        alarm_reserved_concurrency=settings.reserved_concurrency,
        alarm_spill_concurrency_share=settings.spill_concurrency_share,
        alarm_warm_concurrency_share=settings.warm_concurrency_share,
        alarm_period=settings.alarm_period,
        alarm_load_balancer_arn=load_balancer,
        alarm_lambda_target_group_arn=lambda_tg,
    )
    scaler_environment = {
        "SPILLOVER_CLUSTER": stack,
        "SPILLOVER_SERVICE": f"{stack}-app",
        "SPILLOVER_LISTENER_ARN": listener,
        "SPILLOVER_LAMBDA_TARGET_GROUP_ARN": lambda_tg,
        "SPILLOVER_ECS_TARGET_GROUP_ARN": ecs_tg,
        "SPILLOVER_SPILL_ALARMS": ",".join(alarm["name"] for alarm in alarms if alarm["kind"] == "spill"),
        "SPILLOVER_WARM_ALARMS": ",".join(alarm["name"] for alarm in alarms if alarm["kind"] == "warm"),
        # The step-down guard, as site.yml and the lab inventory set it: the app function, metrics at the alarm period.
        "SPILLOVER_FUNCTION_NAME": f"{stack}-app",
        "SPILLOVER_METRIC_PERIOD_SECONDS": str(settings.alarm_period),
        "SPILLOVER_METRIC_LAG_SECONDS": "0",  # the lab publishes its metrics at once
        **settings.scaler_environment,
    }
    scaler = function(
        "scaler",
        builder.scaler_zip(),
        handler="scaler.handler",
        reserved_concurrency=1,
        environment=scaler_environment,
        Timeout=60,
    )

    alarm_pattern = {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "resources": [alarm["arn"] for alarm in alarms],
    }
    event_tags = [{"Key": STACK_TAG, "Value": stack}]
    events.put_rule(
        Name=f"{stack}-alarm-state", EventPattern=json.dumps(alarm_pattern), State="ENABLED", Tags=event_tags
    )
    # The eventbridge role's task-state rule: the tasks of this stack's service that run or stop.
    task_pattern = {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {
            "clusterArn": [cluster_arn],
            "group": [f"service:{stack}-app"],
            "lastStatus": ["RUNNING", "STOPPED"],
        },
    }
    events.put_rule(Name=f"{stack}-task-state", EventPattern=json.dumps(task_pattern), State="ENABLED", Tags=event_tags)
    events.put_rule(
        Name=f"{stack}-schedule", ScheduleExpression=settings.schedule_expression, State="ENABLED", Tags=event_tags
    )
    for rule in (f"{stack}-alarm-state", f"{stack}-task-state", f"{stack}-schedule"):
        events.put_targets(Rule=rule, Targets=[{"Id": "scaler", "Arn": scaler}])
    return {
        "load_balancer_arn": load_balancer,
        "listener_arn": listener,
        "lambda_target_group_arn": lambda_tg,
        "ecs_target_group_arn": ecs_tg,
        "app_function_arn": app,
        "scaler_function_arn": scaler,
    }
