"""What the scaler manages, built in the local AWS: ALB + listener (weighted forward), a Lambda and an ip
target group, an ECS cluster and awsvpc service, and its alarms. Used by the scaler's tests and benchmark;
composed of lab/builder.py's pieces.

Also loads ``files/scaler/scaler.py`` as a module (it is Lambda code, not part of a Python package), with the
collection's modules its zip packs beside it importable the same way, as top-level modules.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import boto3

from lab import builder
from lab.collection import forward_action
from lab.events import task_state_event
from lab.stack import write_weights
from tests.support.local_aws import REGION

ROOT = Path(__file__).resolve().parents[2]
SCALER_DIR = ROOT / "files" / "scaler"
SPILL_ALARM = "app-throttles"
WARM_ALARM = "app-concurrency-high"
FOREIGN_ALARM = "someone-elses-alarm"
APP_FUNCTION = "app"  # the app function the step-down guard reads (SPILLOVER_FUNCTION_NAME)


# What the scaler's zip packs beside scaler.py (lambda_zip's extra_files in roles/scaler/tasks/function.yml), each
# at the zip root: standard-library modules of plugins/module_utils, and the app's EMF emitter, that the scaler
# imports as top-level modules.
SCALER_EXTRA_FILES = tuple(builder.zip_extra_files("scaler"))


def load_scaler_module():
    """``files/scaler/scaler.py`` imported once as ``scaler`` (its import-time config is irrelevant here), after
    SCALER_EXTRA_FILES imported under the top-level names the zip gives them (``forward_action``...)."""
    for path in (*SCALER_EXTRA_FILES, SCALER_DIR / "scaler.py"):
        if path.stem not in sys.modules:
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = module
            spec.loader.exec_module(module)
    return sys.modules["scaler"]


def scaler_code_dir(destination: Path) -> Path:
    """The scaler's zip as roles/scaler builds it (lab/builder.py's scaler_zip), unpacked into ``destination``:
    the directory a fresh interpreter imports ``scaler`` from, as Lambda does."""
    code = destination / "code"
    with zipfile.ZipFile(io.BytesIO(builder.scaler_zip())) as archive:
        archive.extractall(code)
    return code


@dataclass
class ScalerStack:
    endpoint: str
    listener_arn: str
    rule_arn: str
    lambda_target_group_arn: str
    ecs_target_group_arn: str
    cluster: str = "spill"
    service: str = "app"
    next_ip: int = field(default=10)

    def client(self, service: str, endpoint: str | None = None):
        return boto3.client(service, region_name=REGION, endpoint_url=endpoint or self.endpoint)

    def environment(self, **overrides: str) -> dict[str, str]:
        """The scaler's SPILLOVER_* environment for this stack (the listener's default action, no rule)."""
        env = {
            "SPILLOVER_CLUSTER": self.cluster,
            "SPILLOVER_SERVICE": self.service,
            "SPILLOVER_LISTENER_ARN": self.listener_arn,
            "SPILLOVER_LAMBDA_TARGET_GROUP_ARN": self.lambda_target_group_arn,
            "SPILLOVER_ECS_TARGET_GROUP_ARN": self.ecs_target_group_arn,
            "SPILLOVER_SPILL_ALARMS": SPILL_ALARM,
            "SPILLOVER_WARM_ALARMS": WARM_ALARM,
            "SPILLOVER_SPILL_TASKS": "2",
            "SPILLOVER_STANDBY_TASKS": "0",
            "SPILLOVER_STEPS": "25,50,100",
            "SPILLOVER_STEP_SECONDS": "60",
            "SPILLOVER_COOLDOWN_SECONDS": "300",
            "SPILLOVER_DRAIN_SECONDS": "120",
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint,
        }
        env.update(overrides)
        return env

    # -- driving the world
    def set_alarm(self, name: str, value: str) -> None:
        self.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue=value, StateReason="driven by a test")

    def add_healthy_targets(self, count: int) -> None:
        """Register ``count`` ip targets: moto marks registered ip targets healthy at once."""
        addresses = [f"10.0.1.{self.next_ip + index}" for index in range(count)]
        self.next_ip += count
        builder.register_ip_targets(self.client("elbv2"), self.ecs_target_group_arn, addresses)

    def remove_all_targets(self) -> None:
        """Moto cannot make a target unhealthy; having no registered target is how tests fake "none healthy"."""
        elbv2 = self.client("elbv2")
        described = elbv2.describe_target_health(TargetGroupArn=self.ecs_target_group_arn)["TargetHealthDescriptions"]
        if described:
            targets = [{"Id": item["Target"]["Id"], "Port": item["Target"]["Port"]} for item in described]
            elbv2.deregister_targets(TargetGroupArn=self.ecs_target_group_arn, Targets=targets)

    def weights(self, rule: bool = False, listener: str | None = None) -> dict[str, int]:
        """The weights of the rule, or of a listener's default action (the first listener's by default)."""
        elbv2 = self.client("elbv2")
        if rule:
            actions = elbv2.describe_rules(RuleArns=[self.rule_arn])["Rules"][0]["Actions"]
        else:
            arn = listener or self.listener_arn
            actions = elbv2.describe_listeners(ListenerArns=[arn])["Listeners"][0]["DefaultActions"]
        by_arn = forward_action.read_forward(actions)["weights"]
        return {"lambda": by_arn[self.lambda_target_group_arn], "ecs": by_arn[self.ecs_target_group_arn]}

    def set_weights(self, lambda_weight: int, ecs_weight: int, listener: str | None = None) -> None:
        """What the scaler writes: a listener's weights (the first's by default), the rest of its action kept."""
        weights = {self.lambda_target_group_arn: lambda_weight, self.ecs_target_group_arn: ecs_weight}
        write_weights(self.client("elbv2"), listener or self.listener_arn, weights)

    def add_listener(self, port: int) -> str:
        """Another listener of the load balancer with the first one's default action, as the alb role adds HTTPS
        beside HTTP (plain HTTP here: the local AWS then needs no certificate); its ARN."""
        elbv2 = self.client("elbv2")
        first = elbv2.describe_listeners(ListenerArns=[self.listener_arn])["Listeners"][0]
        created = elbv2.create_listener(
            LoadBalancerArn=first["LoadBalancerArn"], Protocol="HTTP", Port=port, DefaultActions=first["DefaultActions"]
        )
        return created["Listeners"][0]["ListenerArn"]

    def forward_action(self) -> dict:
        listener = self.client("elbv2").describe_listeners(ListenerArns=[self.listener_arn])["Listeners"][0]
        return listener["DefaultActions"][0]

    def desired_count(self) -> int:
        return self.client("ecs").describe_services(cluster=self.cluster, services=[self.service])["services"][0][
            "desiredCount"
        ]

    def set_desired_count(self, count: int) -> None:
        self.client("ecs").update_service(cluster=self.cluster, service=self.service, desiredCount=count)

    # -- the step-down guard's world: the app function and the metrics the ALB and Lambda would publish
    def create_app_function(self, reserved_concurrency: int | None = 10) -> None:
        """The app function (moto stores it; it never runs) with its reserved concurrency, if any."""
        role = builder.lambda_role(self.client("iam"), "app-function")
        builder.function(
            self.client("lambda"), APP_FUNCTION, role, builder.stub_zip(), reserved_concurrency=reserved_concurrency
        )

    def policy_input(self, **extra) -> dict:
        """The scaler_policy filter's input for this stack's scaler (``spillover-scaler``)."""
        return {
            "account_id": "123456789012",
            "region": REGION,
            "cluster_name": self.cluster,
            "service_name": self.service,
            "listener_arn": self.listener_arn,
            "lambda_target_group_arn": self.lambda_target_group_arn,
            "ecs_target_group_arn": self.ecs_target_group_arn,
            "spill_alarm_names": [SPILL_ALARM],
            "warm_alarm_names": [WARM_ALARM],
            "function_name": "spillover-scaler",
            **extra,
        }

    def put_load(
        self, moment: datetime, lambda_requests: float = 0, ecs_requests: float = 0, lambda_ms=None, ecs_seconds=None
    ) -> None:
        """One datapoint per metric at ``moment``, with the dimensions the ALB and Lambda publish them with."""
        load_balancer = self.listener_arn.split(":listener/", 1)[1].rsplit("/", 1)[0]

        def group(arn: str) -> list[dict]:
            return [
                {"Name": "LoadBalancer", "Value": load_balancer},
                {"Name": "TargetGroup", "Value": arn.split(":", 5)[5]},
            ]

        elb = []
        for arn, count in ((self.lambda_target_group_arn, lambda_requests), (self.ecs_target_group_arn, ecs_requests)):
            if count:  # the ALB publishes nothing for a group without requests
                elb.append(
                    {"MetricName": "RequestCount", "Dimensions": group(arn), "Timestamp": moment, "Value": count}
                )
        if ecs_seconds is not None:
            elb.append(
                {
                    "MetricName": "TargetResponseTime",
                    "Dimensions": group(self.ecs_target_group_arn),
                    "Timestamp": moment,
                    "Value": ecs_seconds,
                    "Unit": "Seconds",
                }
            )
        cloudwatch = self.client("cloudwatch")
        if elb:
            cloudwatch.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=elb)
        if lambda_ms is not None:
            duration = {
                "MetricName": "Duration",
                "Dimensions": [{"Name": "FunctionName", "Value": APP_FUNCTION}],
                "Timestamp": moment,
                "Value": lambda_ms,
                "Unit": "Milliseconds",
            }
            cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[duration])


def build_stack(endpoint: str) -> ScalerStack:
    """Create every resource the scaler reads and writes in the (empty) local AWS at ``endpoint``."""

    def client(service: str):
        return boto3.client(service, region_name=REGION, endpoint_url=endpoint)

    ec2, elbv2, ecs, cloudwatch = client("ec2"), client("elbv2"), client("ecs"), client("cloudwatch")
    where = builder.network(ec2, REGION, "10.0.0.0/16", ("spill",))
    balancer = builder.load_balancer(elbv2, "spill", where, "spill")
    lambda_tg = builder.lambda_target_group(elbv2, "spill-lambda")
    # The health check the ecs_service role sets (every 5 s, healthy after 2): the health gate waits 10 s + 5 s at most.
    ecs_tg = builder.ip_target_group(
        elbv2,
        "spill-ecs",
        where.vpc_id,
        HealthCheckPath="/health",
        HealthCheckIntervalSeconds=5,
        HealthyThresholdCount=2,
    )
    # Stickiness set on purpose: the scaler must keep everything of the action but the weights.
    weights, stickiness = {lambda_tg: 100, ecs_tg: 0}, 300
    listener = builder.weighted_listener(elbv2, balancer, weights, stickiness)
    rule = builder.rule(elbv2, listener, 10, "/api/*", [builder.weighted_forward(weights, stickiness)])

    builder.cluster(ecs, "spill")
    task_definition = builder.task_definition(ecs, "app", "app:latest")
    builder.service(ecs, "spill", "app", task_definition, where, "spill", ecs_tg)
    for name, metric in ((SPILL_ALARM, "Throttles"), (WARM_ALARM, "ConcurrentExecutions"), (FOREIGN_ALARM, "Errors")):
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/Lambda",
            MetricName=metric,
            Dimensions=[{"Name": "FunctionName", "Value": APP_FUNCTION}],
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",
        )
    return ScalerStack(
        endpoint=endpoint,
        listener_arn=listener,
        rule_arn=rule,
        lambda_target_group_arn=lambda_tg,
        ecs_target_group_arn=ecs_tg,
    )


def alarm_event(name: str, value: str = "ALARM", previous: str = "OK") -> dict:
    """An EventBridge "CloudWatch Alarm State Change" event as AWS delivers it (the fields the scaler reads)."""
    return {
        "version": "0",
        "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
        "source": "aws.cloudwatch",
        "detail-type": "CloudWatch Alarm State Change",
        "account": "123456789012",
        "region": REGION,
        "time": "2026-01-01T00:00:00Z",
        "resources": [f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:{name}"],
        "detail": {
            "alarmName": name,
            "state": {"value": value, "reason": "test", "timestamp": "2026-01-01T00:00:00.000+0000"},
            "previousState": {"value": previous, "reason": "test", "timestamp": "2026-01-01T00:00:00.000+0000"},
        },
    }


def task_event(
    cluster: str = "spill", service: str = "app", last_status: str = "RUNNING", account: str = "123456789012"
) -> dict:
    """An EventBridge "ECS Task State Change" event of a task of ``service`` (lab.events.task_state_event's shape),
    with fixed ids."""
    return task_state_event(
        f"arn:aws:ecs:{REGION}:{account}:cluster/{cluster}",
        service,
        f"arn:aws:ecs:{REGION}:{account}:task/{cluster}/845bdcb25e2d4e008a3370094a309636",
        last_status,
        f"arn:aws:ecs:{REGION}:{account}:task-definition/{service}:3",
        REGION,
        event_id="ff2dd97a-e19a-c545-92da-5165c1c32a95",
        time="2026-01-01T00:00:00Z",
    )


SCHEDULED_EVENT = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "source": "aws.events",
    "detail-type": "Scheduled Event",
    "account": "123456789012",
    "region": REGION,
    "time": "2026-01-01T00:00:00Z",
    "resources": [f"arn:aws:events:{REGION}:123456789012:rule/spillover-scaler-tick"],
    "detail": {},
}
