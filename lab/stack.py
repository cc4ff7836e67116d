"""Discover a deployed stack from the AWS it lives in, by its name and the stack contract.

Nothing here is configured by hand: the names come from the contract (``S``, ``S-lambda``, ``S-ecs``,
``S-app``, ``S-scaler``, ``S-spill-*``/``S-warm-*`` alarms, ``S-alarm-state``/``S-task-state``/``S-schedule`` rules) and
every setting (weights, health checks, reserved concurrency, environment, periods) from the resources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from lab.aws import Aws
from lab.collection import forward_action

STACK_TAG = "spillover:stack"


class StackNotFound(Exception):
    """The stack (or a part of it the lab needs) is not deployed."""


@dataclass(frozen=True)
class TargetGroup:
    arn: str
    name: str
    target_type: str
    port: int | None
    health_check_enabled: bool
    health_check_path: str
    health_check_interval: int
    health_check_timeout: int
    healthy_threshold: int
    unhealthy_threshold: int
    success_codes: str
    deregistration_delay: int
    multi_value_headers: bool

    @property
    def dimension(self) -> str:
        """The ``TargetGroup`` metric dimension value: ``targetgroup/<name>/<id>``."""
        return self.arn.split(":", 5)[5]

    def is_success(self, status: int) -> bool:
        for part in self.success_codes.split(","):
            low, _, high = part.strip().partition("-")
            if int(low) <= status <= int(high or low):
                return True
        return False


@dataclass(frozen=True)
class Function:
    name: str
    arn: str
    handler: str
    runtime: str
    timeout: int
    environment: dict[str, str]
    reserved_concurrency: int | None
    code_sha256: str


@dataclass(frozen=True)
class Container:
    name: str
    port: int
    environment: dict[str, str]
    entry_point: list[str]
    command: list[str]
    image: str = ""  # the task definition's image reference
    readonly_root: bool = False  # readonlyRootFilesystem
    mounts: tuple[str, ...] = ()  # the container paths of its mountPoints, writable ones (the task's scratch volumes)


@dataclass(frozen=True)
class Service:
    cluster: str
    cluster_arn: str
    name: str
    task_definition_arn: str
    container: Container


@dataclass(frozen=True)
class Alarm:
    name: str
    arn: str
    namespace: str
    metric_name: str
    statistic: str
    dimensions: tuple[tuple[str, str], ...]
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing_data: str

    @property
    def on_aws_metrics(self) -> bool:
        """On a metric AWS publishes (``AWS/*``: per minute, late), not on the app's own EMF metrics."""
        return self.namespace.startswith("AWS/")

    def breaches(self, value: float) -> bool:
        comparisons = {
            "GreaterThanThreshold": value > self.threshold,
            "GreaterThanOrEqualToThreshold": value >= self.threshold,
            "LessThanThreshold": value < self.threshold,
            "LessThanOrEqualToThreshold": value <= self.threshold,
        }
        if self.comparison not in comparisons:
            raise ValueError(f"alarm {self.name}: comparison {self.comparison} is not supported by the lab")
        return comparisons[self.comparison]


@dataclass(frozen=True)
class Rule:
    name: str
    arn: str
    state: str
    event_pattern: dict | None
    schedule_expression: str | None
    target_arns: tuple[str, ...]
    target_inputs: tuple[str | None, ...]

    @property
    def wakes_on_tasks(self) -> bool:
        """The rule matches ECS's task state changes (the eventbridge role's ``<stack>-task-state``)."""
        return "aws.ecs" in ((self.event_pattern or {}).get("source") or [])

    @property
    def schedule_seconds(self) -> int | None:
        if not self.schedule_expression:
            return None
        match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", self.schedule_expression)
        if not match:
            raise ValueError(f"rule {self.name}: only rate() schedules are run by the lab")
        unit = {"minute": 60, "hour": 3600, "day": 86400}[match.group(2).rstrip("s")]
        return int(match.group(1)) * unit


@dataclass(frozen=True)
class Stack:
    name: str
    load_balancer_arn: str
    listener_arn: str
    listener_port: int
    idle_timeout: int
    lambda_target_group: TargetGroup
    ecs_target_group: TargetGroup
    app_function: Function
    service: Service
    scaler_function: Function | None
    alarms: tuple[Alarm, ...]
    rules: tuple[Rule, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def load_balancer_dimension(self) -> str:
        """The ``LoadBalancer`` metric dimension value: ``app/<name>/<id>``."""
        return self.load_balancer_arn.split(":loadbalancer/", 1)[1]

    @property
    def spill_alarm_names(self) -> list[str]:
        return [alarm.name for alarm in self.alarms if alarm.name.startswith(f"{self.name}-spill-")]

    def target_group(self, arn: str) -> TargetGroup:
        for group in (self.lambda_target_group, self.ecs_target_group):
            if group.arn == arn:
                return group
        raise KeyError(arn)


def read_weights(elbv2, listener_arn: str) -> dict[str, int]:
    """Forward weights of the listener's default action, ``{target_group_arn: weight}`` (empty: no forward)."""
    actions = elbv2.describe_listeners(ListenerArns=[listener_arn])["Listeners"][0]["DefaultActions"]
    state = forward_action.read_forward(actions)
    return state["weights"] if state else {}


def write_weights(elbv2, listener_arn: str, weights: dict[str, int]) -> None:
    """Set the weights of the groups in ``weights`` in the listener's forward action; keep everything else."""
    actions = elbv2.describe_listeners(ListenerArns=[listener_arn])["Listeners"][0]["DefaultActions"]
    state = forward_action.reweighted(forward_action.read_forward(actions), weights)
    elbv2.modify_listener(ListenerArn=listener_arn, DefaultActions=forward_action.write_forward(actions, state))


def _found(call, missing: str, **kwargs) -> dict:
    """``call(**kwargs)``'s answer; :class:`StackNotFound` (``missing``: deploy the stack first) when AWS refuses."""
    try:
        return call(**kwargs)
    except ClientError as error:
        raise StackNotFound(f"{missing}: deploy the stack first") from error


def _target_group(aws: Aws, name: str) -> TargetGroup:
    elbv2 = aws.client("elbv2")
    group = _found(elbv2.describe_target_groups, f"target group {name} not found", Names=[name])["TargetGroups"][0]
    attributes = _pairs(
        elbv2.describe_target_group_attributes(TargetGroupArn=group["TargetGroupArn"])["Attributes"], "Key", "Value"
    )
    return TargetGroup(
        arn=group["TargetGroupArn"],
        name=name,
        target_type=group["TargetType"],
        port=group.get("Port"),
        health_check_enabled=bool(group.get("HealthCheckEnabled", group["TargetType"] != "lambda")),
        health_check_path=group.get("HealthCheckPath") or "/",
        health_check_interval=int(group.get("HealthCheckIntervalSeconds") or 30),
        health_check_timeout=int(group.get("HealthCheckTimeoutSeconds") or 5),
        healthy_threshold=int(group.get("HealthyThresholdCount") or 5),
        unhealthy_threshold=int(group.get("UnhealthyThresholdCount") or 2),
        success_codes=(group.get("Matcher") or {}).get("HttpCode") or "200",
        deregistration_delay=int(attributes.get("deregistration_delay.timeout_seconds", 300)),
        multi_value_headers=attributes.get("lambda.multi_value_headers.enabled", "false") == "true",
    )


def _function(aws: Aws, name: str) -> Function:
    found = _found(aws.client("lambda").get_function, f"Lambda function {name} not found", FunctionName=name)
    config = found["Configuration"]
    reserved = found.get("Concurrency", {}).get("ReservedConcurrentExecutions")
    return Function(
        name=name,
        arn=config["FunctionArn"],
        handler=config["Handler"],
        runtime=config.get("Runtime", ""),
        timeout=int(config.get("Timeout", 3)),
        environment=dict(config.get("Environment", {}).get("Variables", {})),
        reserved_concurrency=int(reserved) if reserved is not None else None,
        code_sha256=config.get("CodeSha256", ""),
    )


def _pairs(items: list[dict[str, str]], key: str = "name", value: str = "value") -> dict[str, str]:
    return {item[key]: item[value] for item in items or []}


def _service(aws: Aws, cluster: str, name: str) -> Service:
    ecs = aws.client("ecs")
    services = ecs.describe_services(cluster=cluster, services=[name])["services"]
    if not services or services[0].get("status") == "INACTIVE":
        raise StackNotFound(f"ECS service {name} in cluster {cluster} not found: deploy the stack first")
    definition = ecs.describe_task_definition(taskDefinition=services[0]["taskDefinition"])["taskDefinition"]
    containers = {item["name"]: item for item in definition["containerDefinitions"]}
    if "app" not in containers:
        raise StackNotFound(f"task definition {definition['taskDefinitionArn']} has no container named app")
    app = containers["app"]
    mappings = app.get("portMappings") or [{"containerPort": 8080}]
    return Service(
        cluster=cluster,
        cluster_arn=services[0]["clusterArn"],
        name=name,
        task_definition_arn=definition["taskDefinitionArn"],
        container=Container(
            name="app",
            port=int(mappings[0]["containerPort"]),
            environment=_pairs(app.get("environment", [])),
            entry_point=list(app.get("entryPoint") or []),
            command=list(app.get("command") or []),
            image=app.get("image", ""),
            readonly_root=bool(app.get("readonlyRootFilesystem")),
            mounts=tuple(item["containerPath"] for item in app.get("mountPoints") or [] if not item.get("readOnly")),
        ),
    )


def _alarms(aws: Aws, stack: str) -> tuple[Alarm, ...]:
    alarms = []
    paginator = aws.client("cloudwatch").get_paginator("describe_alarms")
    for page in paginator.paginate(AlarmNamePrefix=f"{stack}-", AlarmTypes=["MetricAlarm"]):
        for item in page["MetricAlarms"]:
            if not item["AlarmName"].startswith((f"{stack}-spill-", f"{stack}-warm-")):
                continue
            if "MetricName" not in item or "Statistic" not in item:
                raise ValueError(f"alarm {item['AlarmName']}: metric math and percentiles are not run by the lab")
            evaluation_periods = int(item["EvaluationPeriods"])
            alarms.append(
                Alarm(
                    name=item["AlarmName"],
                    arn=item["AlarmArn"],
                    namespace=item["Namespace"],
                    metric_name=item["MetricName"],
                    statistic=item["Statistic"],
                    dimensions=tuple(sorted(_pairs(item.get("Dimensions", []), "Name", "Value").items())),
                    period=int(item["Period"]),
                    evaluation_periods=evaluation_periods,
                    datapoints_to_alarm=int(item.get("DatapointsToAlarm") or evaluation_periods),
                    threshold=float(item["Threshold"]),
                    comparison=item["ComparisonOperator"],
                    treat_missing_data=item.get("TreatMissingData") or "missing",
                )
            )
    return tuple(sorted(alarms, key=lambda alarm: alarm.name))


def _rules(aws: Aws, stack: str) -> tuple[Rule, ...]:
    import json

    events = aws.client("events")
    rules = []
    for name in (f"{stack}-alarm-state", f"{stack}-schedule", f"{stack}-task-state"):
        try:
            rule = events.describe_rule(Name=name)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ResourceNotFoundException":
                continue
            raise
        targets = events.list_targets_by_rule(Rule=name)["Targets"]
        rules.append(
            Rule(
                name=name,
                arn=rule["Arn"],
                state=rule.get("State", "ENABLED"),
                event_pattern=json.loads(rule["EventPattern"]) if rule.get("EventPattern") else None,
                schedule_expression=rule.get("ScheduleExpression"),
                target_arns=tuple(target["Arn"] for target in targets),
                target_inputs=tuple(target.get("Input") for target in targets),
            )
        )
    return tuple(rules)


def discover(aws: Aws, stack: str) -> Stack:
    """Read everything the lab needs about stack ``stack``; raise :class:`StackNotFound` when absent."""
    elbv2 = aws.client("elbv2")
    missing = f"load balancer {stack} not found on {aws.endpoint}"
    load_balancer = _found(elbv2.describe_load_balancers, missing, Names=[stack])["LoadBalancers"][0]
    listeners = elbv2.describe_listeners(LoadBalancerArn=load_balancer["LoadBalancerArn"])["Listeners"]
    if not listeners:
        raise StackNotFound(f"load balancer {stack} has no listener")
    # The first listener with the weighted forward: with a certificate, HTTP only redirects to HTTPS (the alb role).
    forwarding = [item for item in listeners if forward_action.read_forward(item["DefaultActions"])] or listeners
    listener = min(forwarding, key=lambda item: item["Port"])
    lb_attributes = _pairs(
        elbv2.describe_load_balancer_attributes(LoadBalancerArn=load_balancer["LoadBalancerArn"])["Attributes"],
        "Key",
        "Value",
    )
    scaler = None
    try:
        scaler = _function(aws, f"{stack}-scaler")
    except StackNotFound:
        scaler = None
    return Stack(
        name=stack,
        load_balancer_arn=load_balancer["LoadBalancerArn"],
        listener_arn=listener["ListenerArn"],
        listener_port=int(listener["Port"]),
        idle_timeout=int(lb_attributes.get("idle_timeout.timeout_seconds", 60)),
        lambda_target_group=_target_group(aws, f"{stack}-lambda"),
        ecs_target_group=_target_group(aws, f"{stack}-ecs"),
        app_function=_function(aws, f"{stack}-app"),
        service=_service(aws, stack, f"{stack}-app"),
        scaler_function=scaler,
        alarms=_alarms(aws, stack),
        rules=_rules(aws, stack),
    )
