"""Smoke tests of the lab on AWS's clock: per-minute publishing with a delivery delay, the alarms that wait for it,
EMF extraction from the Lambda workers' output, the ECS task events and counts, the four runs' variants, and the
comparison's figures. Each takes seconds: times are injected where AWS's would take minutes."""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from datetime import UTC, datetime

import boto3
import pytest

from lab.alarms import AlarmEvaluator
from lab.aws import Aws
from lab.balancer import LoadBalancer
from lab.builder import APP_DIR, alarm_requests
from lab.cli import comparison_lines
from lab.ecs import EcsFollower
from lab.emf import EmfExtractor, datums, extract
from lab.events import matches
from lab.lambda_runtime import LambdaRuntime, extract_code
from lab.metrics import Delivery, MetricsPublisher
from lab.profiles import AWS_CLOCK
from lab.report import RunData, floor_text, summarize
from lab.runner import RunSettings, variant
from lab.stack import Alarm
from tests.lab.test_lab_parts import get, scale, wait_for
from tests.support.app_support import load_lambda_entry_metrics
from tests.support.aws_recorder import AwsRecorder
from tests.support.local_aws import REGION

pytestmark = pytest.mark.integration
emf = load_lambda_entry_metrics()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def datapoints(cloudwatch, namespace: str, metric: str, dimensions: dict, start: float, period: int = 60) -> list:
    points = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": key, "Value": value} for key, value in dimensions.items()],
        StartTime=datetime.fromtimestamp(start, UTC),
        EndTime=datetime.fromtimestamp(start + 600, UTC),
        Period=period,
        Statistics=["Sum", "SampleCount", "Maximum"],
    )["Datapoints"]
    return sorted(points, key=lambda point: point["Timestamp"])


def test_aws_metrics_are_published_per_minute_after_the_delivery_delay(local_aws):
    """AWS's clock: an AWS/Lambda minute is one datum, stored a delay after the minute ends; the alarm on it is
    evaluated once that datum is there, not when the minute ends."""
    minute = math.floor(time.time() / 60) * 60 - 300  # a whole minute, five minutes ago
    clock = Clock(minute + 5)
    lab_aws = boto3.client("cloudwatch", region_name=REGION, endpoint_url=local_aws.endpoint)
    metrics = MetricsPublisher(
        Aws(local_aws.endpoint), {"AWS/Lambda": Delivery(60, 30.0)}, AWS_CLOCK.default_delivery(), clock=clock
    )
    function = {"FunctionName": "clock-app"}
    for offset in (5, 31, 59.5):
        metrics.add("AWS/Lambda", "Throttles", function, 1, timestamp=minute + offset)
    metrics.add("Spillover", "Duration", function, 250.0, "Milliseconds", timestamp=minute + 5)

    clock.now = minute + 60 + 29.9  # the minute is over, its delay is not
    metrics.flush()
    assert datapoints(lab_aws, "AWS/Lambda", "Throttles", function, minute - 60) == []
    # The EMF datum (1 s, the default delivery's 5 s delay) was stored long ago.
    (duration,) = datapoints(lab_aws, "Spillover", "Duration", function, minute - 60, period=1)
    assert duration["Timestamp"].timestamp() == minute + 5 and duration["Sum"] == 250.0

    clock.now = minute + 90
    metrics.flush()
    (throttles,) = datapoints(lab_aws, "AWS/Lambda", "Throttles", function, minute - 60)
    assert throttles["Timestamp"].timestamp() == minute  # one datum for the minute, at its start
    assert (throttles["Sum"], throttles["SampleCount"], throttles["Maximum"]) == (3.0, 3.0, 1.0)
    assert metrics.published == 2

    # The alarm on it, the alarm role's (stack clock, function clock-app): 60 s, Sum > 0, missing data not breaching.
    (throttles_alarm,) = [
        request for _, request in alarm_requests(alarm_stack_name="clock") if request["MetricName"] == "Throttles"
    ]
    lab_aws.put_metric_alarm(**throttles_alarm)
    arn = lab_aws.describe_alarms(AlarmNames=["clock-spill-throttles"])["MetricAlarms"][0]["AlarmArn"]
    alarm = Alarm(
        "clock-spill-throttles", arn, "AWS/Lambda", "Throttles", "Sum", (("FunctionName", "clock-app"),), 60, 1, 1,
        0.0, "GreaterThanThreshold", "notBreaching",
    )  # fmt: skip
    events = []
    evaluator = AlarmEvaluator(Aws(local_aws.endpoint), (alarm,), events.append, delivery_delay=lambda _: 30.0)
    evaluator.evaluate_due(minute + 60 + 1.5 + 29.9)  # the minute before is the last whose data could be there
    assert evaluator.read_states()[alarm.name] != "ALARM" and "ALARM" not in [state for *_, state in evaluator.history]
    evaluator.evaluate_due(minute + 60 + 1.5 + 30.0)  # now the minute of the throttles is
    assert evaluator.read_states()[alarm.name] == "ALARM"
    assert events[-1]["detail"]["state"]["value"] == "ALARM" and "[3]" in events[-1]["detail"]["state"]["reason"]


def test_emf_lines_become_the_metrics_cloudwatch_logs_would_extract(local_aws, tmp_path):
    started = math.floor(time.time()) - 30 + 0.2
    log = tmp_path / "lambda-app.log"
    lines = [
        emf.emf_line("shop-app", started, 120.0, True, "req-1"),
        json.dumps({"method": "GET", "path": "/pong", "status": 200, "runtime": "lambda"}),  # a request log line
        emf.emf_line("shop-app", started + 0.5, 80.0, False, "req-2"),
        json.dumps({"_aws": {"Timestamp": "now", "CloudWatchMetrics": []}, "Duration": 1}),  # not valid EMF
        json.dumps(
            {
                "_aws": {
                    "Timestamp": int((started + 2) * 1000),
                    "CloudWatchMetrics": [
                        {
                            "Namespace": "Shop",
                            "Dimensions": [["Service"], ["Service", "Route"]],
                            "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}],
                        }
                    ],
                },
                "Service": "cart",
                "Route": "/pay",
                "Latency": [10, 30],
            }
        ),
    ]
    partial = emf.emf_line("shop-app", started + 3, 40.0, False)
    log.write_text("\n".join(lines) + "\n" + partial[:25])

    (first,) = [datum for datum in datums(json.loads(lines[0])) if datum.metric == "Duration"]
    assert (first.namespace, first.dimensions, first.value, first.unit) == (
        "Spillover",
        {"FunctionName": "shop-app"},
        120.0,
        "Milliseconds",
    )
    assert (first.storage_resolution, first.timestamp) == (1, int(started * 1000) / 1000)
    assert extract(lines[1]) == ([], None)
    assert "'now' is not of type 'integer'" in extract(lines[3])[1]

    metrics = MetricsPublisher(Aws(local_aws.endpoint))
    extractor = EmfExtractor(log, metrics)
    extractor.read()
    assert (extractor.extracted, len(extractor.rejected)) == (3, 1)
    with open(log, "a") as more:
        more.write(partial[25:] + "\n")  # the rest of the line the app was writing
    extractor.read()
    assert extractor.extracted == 4
    metrics.flush(everything=True)

    cloudwatch = boto3.client("cloudwatch", region_name=REGION, endpoint_url=local_aws.endpoint)
    function = {"FunctionName": "shop-app"}
    durations = datapoints(cloudwatch, "Spillover", "Duration", function, started - 60, period=1)
    assert [(point["Timestamp"].timestamp(), point["Sum"]) for point in durations] == [
        (math.floor(started), 120.0 + 80.0),  # the line's own timestamp, per second
        (math.floor(started) + 3, 40.0),
    ]
    invocations = datapoints(cloudwatch, "Spillover", "Invocations", function, started - 60, period=60)
    assert sum(point["Sum"] for point in invocations) == 3
    cold = datapoints(cloudwatch, "Spillover", "ColdStart", function, started - 60, period=60)
    assert sum(point["Sum"] for point in cold) == 1
    # One datum per dimension set, every value of the array counted (the local AWS answers a query by a dimension
    # set with the data of its supersets too, so the smaller set is checked where it is made).
    assert [(datum.dimensions, datum.value) for datum in datums(json.loads(lines[4]))] == [
        ({"Service": "cart"}, 10.0),
        ({"Service": "cart"}, 30.0),
        ({"Service": "cart", "Route": "/pay"}, 10.0),
        ({"Service": "cart", "Route": "/pay"}, 30.0),
    ]
    (by_route,) = datapoints(cloudwatch, "Shop", "Latency", {"Service": "cart", "Route": "/pay"}, started - 60)
    assert (by_route["Sum"], by_route["SampleCount"]) == (40.0, 2.0)


def test_the_apps_invocations_in_the_lab_feed_its_pressure_metrics(lab_stack, tmp_path):
    """The deployed zip's handler, run by the lab's Lambda runtime, writes its EMF lines to the workers' log; the
    extractor turns them into the metrics the pressure alarms read."""
    stack = lab_stack.stack
    metrics = MetricsPublisher(lab_stack.aws)
    code = extract_code(lab_stack.build_dir / f"{stack.name}-app.zip", stack.app_function, tmp_path / "code")
    runtime = LambdaRuntime(stack.app_function, code, tmp_path / "lambda-app.log", metrics=metrics)
    balancer = LoadBalancer(lab_stack.aws, stack, runtime, tmp_path / "access.log", metrics=metrics).start()
    extractor = EmfExtractor(tmp_path / "lambda-app.log", metrics)
    try:
        answers = [get(balancer.url + "/pong")[0] for _ in range(4)]
    finally:
        balancer.stop()
        runtime.close()
    assert answers == [200] * 4
    extractor.read()
    assert (extractor.extracted, extractor.rejected) == (4, [])
    metrics.flush(everything=True)
    cloudwatch = lab_stack.aws.client("cloudwatch")
    function = {"FunctionName": lab_stack.stack.app_function.name}
    invocations = datapoints(cloudwatch, "Spillover", "Invocations", function, time.time() - 120)
    cold = datapoints(cloudwatch, "Spillover", "ColdStart", function, time.time() - 120)
    assert (sum(p["Sum"] for p in invocations), sum(p["Sum"] for p in cold)) == (4, runtime.cold_starts)
    (pressure,) = [alarm for alarm in lab_stack.stack.alarms if alarm.name.endswith("spill-pressure")]
    assert (pressure.namespace, pressure.metric_name, dict(pressure.dimensions)) == ("Spillover", "Duration", function)


def test_the_follower_sends_task_state_changes_and_reports_its_real_counts(lab_stack, tmp_path):
    """RUNNING and STOPPED events that the stack's task-state rule matches; DescribeServices through the proxy
    answers the tasks the follower runs (the local AWS counts the desired ones as running at once)."""
    stack = lab_stack.stack
    events = []
    balancer = LoadBalancer(lab_stack.aws, stack, None, tmp_path / "access.log").start()
    follower = EcsFollower(
        lab_stack.aws, stack, balancer, tmp_path, start_delay=1.5, app_dir=APP_DIR, on_task_event=events.append
    ).start()
    proxy = AwsRecorder(lab_stack.aws.endpoint).start()
    proxy.answer("DescribeServices", 200, follower.reported_services, forward=True, times=None)
    ecs = boto3.client("ecs", region_name=REGION, endpoint_url=proxy.endpoint)

    def counts() -> tuple[int, int, int]:
        (service,) = ecs.describe_services(cluster=stack.service.cluster, services=[stack.service.name])["services"]
        return service["desiredCount"], service["runningCount"], service["pendingCount"]

    try:
        scale(lab_stack, 1)
        wait_for(lambda: follower.counts()["pending"] == 1, message="a task provisioning")
        assert counts() == (1, 0, 1)  # the local AWS itself says (1, 1, 0)
        wait_for(lambda: events, message="the RUNNING event")
        assert counts() == (1, 1, 0)
        scale(lab_stack, 0)
        wait_for(lambda: len(events) == 2, timeout=30, message="the STOPPED event")
        assert counts() == (0, 0, 0)
    finally:
        proxy.stop()
        follower.stop()
        balancer.stop()
    (rule,) = [rule for rule in stack.rules if rule.wakes_on_tasks]
    assert [event["detail"]["lastStatus"] for event in events] == ["RUNNING", "STOPPED"]
    assert all(matches(rule.event_pattern, event) for event in events)
    assert events[0]["detail"]["taskArn"] == events[1]["detail"]["taskArn"]
    assert events[0]["detail"]["taskArn"].startswith(stack.service.cluster_arn.replace(":cluster/", ":task/"))


def test_the_four_runs_see_the_stack_as_their_deployment_would(lab_stack):
    stack = lab_stack.stack
    settings = RunSettings(stack=stack.name, endpoint=None)
    deployed = stack.scaler_function.environment
    pressure = {alarm.name for alarm in stack.alarms if not alarm.on_aws_metrics}
    assert pressure == {f"{stack.name}-spill-pressure", f"{stack.name}-warm-pressure"}

    fast = variant(stack, replace(settings, scaler="fast"))
    assert (fast.alarms, fast.rules, fast.environment) == (stack.alarms, stack.rules, {})
    project = variant(stack, replace(settings, scaler="project"))
    assert {alarm.name for alarm in project.alarms} == {alarm.name for alarm in stack.alarms} - pressure
    assert [rule.name for rule in project.rules] == [f"{stack.name}-alarm-state", f"{stack.name}-schedule"]
    assert project.environment["SPILLOVER_HEALTH_GATE"] == "false"
    for key in ("SPILLOVER_SPILL_ALARMS", "SPILLOVER_WARM_ALARMS"):
        assert project.environment[key].split(",") == [
            name for name in deployed[key].split(",") if name not in pressure
        ]
    seed = variant(stack, replace(settings, scaler="seed", standby=1))
    assert (seed.alarms, seed.rules) == (project.alarms, project.rules)
    assert seed.environment == {"SPILLOVER_STANDBY_TASKS": "1"}


def run_data(name: str, **changes) -> RunData:
    """A run with a throttle at 10 s, the warm alarm at 8 s, a task running at 53 s and healthy at 60 s, the weights at
    60.8 s and the first ECS-served request sent at 61.5 s."""
    t0 = 1_000.0
    base = RunData(
        name=name,
        t0=t0,
        requests=[
            {"start": t0 + 10, "end": t0 + 10.1, "status": 502, "served_by": "lambda"},
            {"start": t0 + 61.5, "end": t0 + 62.0, "status": 200, "served_by": "ecs"},
        ],
        balancer=[
            {"start": t0 + 10, "end": t0 + 10.1, "target_group": "lambda", "status": 502, "reason": "LambdaThrottling"}
        ],
        samples=[{"time": t0 + second, "pending": 2 if second < 50 else 0, "running": 2 if second >= 50 else 0}
                 for second in range(0, 101)],
        alarm_changes=[(t0 + 8, "s-warm-pressure", "ALARM"), (t0 + 25, "s-spill-throttles", "ALARM")],
        scaler_actions=[],
        task_events=[(t0 + 53, "task 1 running at 127.0.0.2:8080"), (t0 + 60, "task 1 healthy")],
        floor_parts={"task start": 45.0, "health": 5.0, "propagation": 1.0},
        spill_alarms=["s-spill-throttles"],
        capacity_alarms=["s-spill-throttles", "s-warm-pressure"],
        weight_moves=[(t0 + 60.8, 80)],
    )  # fmt: skip
    return replace(base, **changes)


def test_the_floor_starts_at_the_first_alarm_asking_for_capacity_and_the_weight_follows_health():
    summary = summarize(run_data("fast"))
    assert summary["detection_s"] == -2.0  # the warm pressure alarm came before the first throttle
    # The floor: -2 + 45 (start) + 7 (running to healthy, measured) + 1 (propagation); ECS served from 61.5 s.
    assert summary["floor_s"] == 51.0 and summary["throttle_to_ecs_s"] == 51.5 and summary["over_floor_s"] == 0.5
    assert summary["healthy_to_weight_s"] == 0.8
    assert summary["task_hours"] == pytest.approx(2 * 100 / 3600, abs=1e-4)  # two tasks billed from the start
    assert floor_text(summary) == "51.0 = detection -2 + task start 45 + health 7 + propagation 1 (s)"
    no_task = summarize(run_data("off", task_events=[], requests=run_data("off").requests[:1]))
    assert no_task["floor_parts"]["health"] == 5.0 and no_task["throttle_to_ecs_s"] is None  # the minimum
    seed = summarize(run_data("seed", weight_moves=[(1_055.0, 100)]))
    assert seed["healthy_to_weight_s"] == -5.0  # the seed moves the weight before any target is healthy


def test_compare_prints_the_ratios_and_each_runs_figures():
    summaries = {
        name: {**summarize(run_data(name)), "failed": failed}
        for name, failed in (("off", 1000), ("seed", 500), ("project", 200), ("fast", 100))
    }
    lines = comparison_lines(summaries)
    assert lines[1] == "failed requests: off 1000, seed 500, project 200, fast 100"
    ratios = [line for line in lines if line.startswith("ratio ")]
    assert ratios == [
        "ratio seed / off: 0.500",
        "ratio project / seed: 0.400",
        "ratio project / off: 0.200",
        "ratio fast / project: 0.500",
        "ratio fast / seed: 0.200",
        "ratio fast / off: 0.100",
    ]
    assert "[fast] healthy -> first weight (s): 0.8" in lines
    assert (
        "[fast] first throttle -> first ECS-served (s): 51.5; floor 51.0 = detection -2 + task start 45 + health 7 "
        "+ propagation 1 (s); above the floor 0.5 s"
    ) in lines
