"""Smoke tests of each part of the lab against a contract stack in a private local AWS, with real processes."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime

import pytest

from lab import builder
from lab.alarms import AlarmEvaluator, alarm_event
from lab.builder import APP_DIR
from lab.events import EventBus
from lab.metrics import MetricsPublisher
from tests.support.lab_plane import data_plane, wait_for
from tests.support.local_aws import free_port

pytestmark = pytest.mark.integration


def get(url: str) -> tuple[int, dict, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


@pytest.fixture
def plane(lab_stack, tmp_path):
    """Lambda runtime + load balancer + ECS follower of the lab stack; everything stopped afterwards."""
    with ExitStack() as started:

        def make(reserved: int | None = None, start_delay: float = 0.0):
            if reserved is not None:
                lab_stack.aws.client("lambda").put_function_concurrency(
                    FunctionName=lab_stack.stack.app_function.name, ReservedConcurrentExecutions=reserved
                )
            stack = lab_stack.rediscover()
            parts = started.enter_context(
                data_plane(lab_stack.aws, stack, lab_stack.build_dir, APP_DIR, tmp_path, start_delay)
            )
            return parts.runtime, parts.balancer, parts.follower, parts.metrics

        yield make


def scale(lab_stack, count: int) -> None:
    lab_stack.aws.client("ecs").update_service(
        cluster=lab_stack.stack.service.cluster, service=lab_stack.stack.service.name, desiredCount=count
    )


def healthy_in_aws(lab_stack) -> list[str]:
    found = lab_stack.aws.client("elbv2").describe_target_health(TargetGroupArn=lab_stack.stack.ecs_target_group.arn)
    return [
        item["Target"]["Id"] for item in found["TargetHealthDescriptions"] if item["TargetHealth"]["State"] == "healthy"
    ]


def test_routes_by_the_listener_weights_and_logs_every_request(lab_stack, plane, tmp_path):
    _, balancer, _, _ = plane()
    scale(lab_stack, 1)
    wait_for(lambda: healthy_in_aws(lab_stack), message="a healthy ECS task")
    lab_stack.set_weights(1, 3)
    wait_for(lambda: balancer.weights.get(lab_stack.stack.ecs_target_group.arn) == 3, message="weights re-read")

    answers = [get(balancer.url + "/env") for _ in range(60)]
    served = Counter(headers["X-Lab-Target-Group"] for _, headers, _ in answers)
    bodies = Counter(json.loads(body)["message"] for _, _, body in answers)
    assert {status for status, _, _ in answers} == {200}
    assert served["ecs"] > served["lambda"] > 0  # 3:1 weights; the seeded choice makes it reproducible
    assert bodies == {"server": served["ecs"], "lambda": served["lambda"]}  # really run by each runtime

    lab_stack.set_weights(1, 0)
    wait_for(lambda: balancer.weights.get(lab_stack.stack.ecs_target_group.arn) == 0, message="weights re-read")
    assert {get(balancer.url + "/env")[2] for _ in range(10)} == {'{"message": "lambda"}'}
    log = [json.loads(line) for line in (tmp_path / "access.log").read_text().splitlines()]
    assert len(log) == 70 and {"target_group", "status", "latency_ms", "target"} <= set(log[0])


def test_a_path_rule_forwards_its_paths_whatever_the_weights(lab_stack, plane):
    stack = lab_stack.stack
    ecs_only = [builder.weighted_forward({stack.ecs_target_group.arn: 1})]
    builder.rule(lab_stack.aws.client("elbv2"), stack.listener_arn, 1, "/en?", ecs_only)
    _, balancer, _, _ = plane()
    scale(lab_stack, 1)
    wait_for(lambda: healthy_in_aws(lab_stack), message="a healthy ECS task")

    answers = {path: get(balancer.url + path) for path in ("/env", "/env?x=1", "/pong", "/envy")}
    served = {path: (status, headers["X-Lab-Target-Group"]) for path, (status, headers, _) in answers.items()}
    # The pattern matches the path alone (not its query string), each ? one character; the weights send the rest.
    assert served == {
        "/env": (200, "ecs"),
        "/env?x=1": (200, "ecs"),
        "/pong": (200, "lambda"),
        "/envy": (404, "lambda"),
    }
    assert json.loads(answers["/env"][2]) == {"message": "server"}


def test_throttled_invocations_answer_502_and_publish_the_alarm_metrics(lab_stack, plane):
    runtime, balancer, _, metrics = plane(reserved=2)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(get(balancer.url + "/sleep?seconds=1.5")[0])) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 200, 502, 502]
    assert runtime.peak_in_flight == 2 and runtime.cold_starts == 2
    assert Counter(record.reason for record in balancer.records) == {"": 2, "LambdaThrottling": 2}
    metrics.flush(everything=True)
    cloudwatch = lab_stack.aws.client("cloudwatch")
    stack = lab_stack.stack

    def total(namespace, metric, dimensions, statistic="Sum"):
        points = cloudwatch.get_metric_statistics(
            Namespace=namespace,
            MetricName=metric,
            Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
            StartTime=datetime.fromtimestamp(time.time() - 120, UTC),
            EndTime=datetime.fromtimestamp(time.time() + 5, UTC),
            Period=60,
            Statistics=[statistic],
        )["Datapoints"]
        return sum(point[statistic] for point in points) if statistic == "Sum" else max(p[statistic] for p in points)

    function = {"FunctionName": stack.app_function.name}
    lambda_group = {"LoadBalancer": stack.load_balancer_dimension, "TargetGroup": stack.lambda_target_group.dimension}
    assert total("AWS/Lambda", "Throttles", function) == 2
    assert total("AWS/Lambda", "Invocations", function) == 2
    assert total("AWS/Lambda", "ConcurrentExecutions", function, "Maximum") == 2
    assert total("AWS/ApplicationELB", "LambdaUserError", lambda_group) == 2
    assert total("AWS/ApplicationELB", "RequestCount", lambda_group) == 4
    assert total("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", {"LoadBalancer": stack.load_balancer_dimension}) == 2


def test_a_group_without_registered_targets_answers_503(lab_stack, plane):
    _, balancer, _, _ = plane()
    lab_stack.set_weights(0, 1)
    wait_for(lambda: balancer.weights.get(lab_stack.stack.lambda_target_group.arn) == 0, message="weights re-read")
    status, headers, _ = get(balancer.url + "/pong")
    assert (status, headers["X-Lab-Target-Group"]) == (503, "ecs")
    assert balancer.records[-1].reason == "NoRegisteredTargets"


def test_health_checks_pick_healthy_targets_and_fail_open_when_none_is(lab_stack, plane):
    lab_stack.aws.client("elbv2").modify_load_balancer_attributes(
        LoadBalancerArn=lab_stack.stack.load_balancer_arn,
        Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "2"}],
    )
    _, balancer, follower, _ = plane()
    scale(lab_stack, 1)
    task_ip = wait_for(lambda: healthy_in_aws(lab_stack), message="a healthy ECS task")[0]
    # A second registered target where nothing listens: the health checks must find it unhealthy.
    dead = f"127.0.0.1:{free_port()}"
    host, port = dead.split(":")
    lab_stack.aws.client("elbv2").register_targets(
        TargetGroupArn=lab_stack.stack.ecs_target_group.arn, Targets=[{"Id": host, "Port": int(port)}]
    )
    lab_stack.set_weights(0, 1)
    arn = lab_stack.stack.ecs_target_group.arn
    wait_for(lambda: balancer.health_of(arn).get(dead) == "unhealthy", message="the dead target unhealthy")
    wait_for(lambda: balancer.weights.get(lab_stack.stack.lambda_target_group.arn) == 0, message="weights re-read")
    assert {get(balancer.url + "/pong")[0] for _ in range(10)} == {200}
    assert {record.target.split(":")[0] for record in balancer.records} == {task_ip}

    # Freeze the task (its process stays, its health checks time out): once it is unhealthy too, the load
    # balancer routes to every target: 504 from the frozen one (idle timeout 2 s), 502 from the dead one.
    task = follower.running_tasks()[0]
    os.killpg(task.process.pid, signal.SIGSTOP)
    try:
        wait_for(lambda: set(balancer.health_of(arn).values()) == {"unhealthy"}, message="all unhealthy")
        before = len(balancer.records)
        statuses = Counter(get(balancer.url + "/pong")[0] for _ in range(6))
        targets = {record.target for record in balancer.records[before:]}
    finally:
        os.killpg(task.process.pid, signal.SIGCONT)
    assert targets == {dead, task.target}  # fail-open: every target, though none is healthy
    assert statuses == {502: 3, 504: 3}
    assert healthy_in_aws(lab_stack) == [host]  # the local AWS calls any registered ip target healthy


def test_ecs_follower_runs_tasks_after_the_start_delay_and_drains_them(lab_stack, plane):
    _, _, follower, _ = plane(start_delay=1.0)
    scale(lab_stack, 2)
    wait_for(lambda: follower.counts()["desired"] == 2, message="desired count read")
    assert follower.counts()["running"] == 0  # still provisioning: the start delay
    ips = wait_for(lambda: len(healthy_in_aws(lab_stack)) == 2 and healthy_in_aws(lab_stack), message="2 healthy")
    assert all(ip.startswith("127.") for ip in ips) and len(set(ips)) == 2
    tasks = follower.running_tasks()
    for task in tasks:
        assert get(f"http://{task.target}/health")[0] == 200  # a real app process on its own address

    scale(lab_stack, 0)
    wait_for(lambda: not healthy_in_aws(lab_stack), message="deregistered")
    assert all(task.process.poll() is None for task in tasks)  # still draining (deregistration delay)
    wait_for(lambda: all(task.process.poll() is not None for task in tasks), message="tasks stopped")
    # The follower drops a stopped task from its counts on its next poll, not when the process exits: wait for it.
    idle = {"desired": 0, "pending": 0, "running": 0, "healthy": 0, "draining": 0}
    wait_for(lambda: follower.counts() == idle, timeout=10.0, message=f"counts {idle}")
    assert follower.counts() == idle


def test_alarm_evaluation_sets_the_state_and_publishes_the_change(lab_stack):
    stack = lab_stack.stack
    alarm = next(a for a in stack.alarms if a.name.endswith("spill-throttles"))
    events = []
    evaluator = AlarmEvaluator(lab_stack.aws, (alarm,), events.append)
    metrics = MetricsPublisher(lab_stack.aws)
    end = (int(time.time()) // alarm.period) * alarm.period
    # One throttle inside the period that ends at `end`, and nothing in the next one.
    metrics.add("AWS/Lambda", "Throttles", {"FunctionName": stack.app_function.name}, 1, timestamp=end - 2)
    metrics.flush(everything=True)

    assert evaluator.evaluate(alarm, end) == "ALARM"
    assert evaluator.read_states()[alarm.name] == "ALARM"
    assert evaluator.evaluate(alarm, end) is None  # no change, no event
    assert evaluator.evaluate(alarm, end + alarm.period) == "OK"  # missing data is notBreaching here
    assert [(e["detail"]["previousState"]["value"], e["detail"]["state"]["value"]) for e in events] == [
        ("OK", "ALARM"),
        ("ALARM", "OK"),
    ]
    assert events[0]["resources"] == [alarm.arn]


def test_a_run_evaluates_no_period_that_ended_before_it_began(lab_stack):
    stack = lab_stack.stack
    alarm = next(a for a in stack.alarms if a.name.endswith("spill-throttles"))
    lab_stack.aws.client("cloudwatch").set_alarm_state(AlarmName=alarm.name, StateValue="OK", StateReason="test")
    metrics = MetricsPublisher(lab_stack.aws)
    began = (int(time.time()) // alarm.period) * alarm.period + 1.0  # a second into a period
    # A throttle of the previous run, in the period that ended just before this run began.
    metrics.add("AWS/Lambda", "Throttles", {"FunctionName": stack.app_function.name}, 1, timestamp=began - 3)
    metrics.flush(everything=True)

    events = []
    evaluator = AlarmEvaluator(lab_stack.aws, (alarm,), events.append, settle_seconds=0)
    evaluator.begin(began)
    evaluator.evaluate_due(began + 0.5)
    evaluator.evaluate_due(began - 1 + alarm.period)  # the period holding `began` has ended: it is evaluated
    assert events == [] and evaluator.read_states()[alarm.name] == "OK"
    # Without begin(), the previous run's period would have been evaluated.
    fresh = AlarmEvaluator(lab_stack.aws, (alarm,), events.append, settle_seconds=0)
    fresh.evaluate_due(began + 0.5)
    assert [e["detail"]["state"]["value"] for e in events] == ["ALARM"]


def test_rules_match_this_stacks_alarm_events_and_retry_failed_targets(lab_stack):
    stack = lab_stack.stack
    calls = []

    def scaler(event):
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("first invocation fails")
        return {"action": "noop"}

    bus = EventBus(stack.rules, {stack.scaler_function.arn: scaler}, retry_seconds=0.2, schedule_seconds=0.5).start()
    try:
        own = next(a for a in stack.alarms if a.name.endswith("spill-throttles"))
        assert bus.put_event(alarm_event(own, "us-east-1", "ALARM", "OK", "test")) == [f"{stack.name}-alarm-state"]
        other = alarm_event(own, "us-east-1", "ALARM", "OK", "test")
        other["resources"] = ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:someone-else"]
        assert bus.put_event(other) == []
        wait_for(lambda: any(d.ok and d.rule.endswith("alarm-state") for d in bus.deliveries), message="retry")
        wait_for(lambda: any(d.rule.endswith("schedule") for d in bus.deliveries), message="schedule")
    finally:
        bus.stop()
    alarm_deliveries = [d for d in bus.deliveries if d.rule.endswith("alarm-state")]
    assert [(d.attempt, d.ok) for d in alarm_deliveries] == [(1, False), (2, True)]
    assert calls[0]["id"] == calls[1]["id"]  # the same event, retried
    schedule = next(c for c in calls if c["source"] == "aws.events")
    assert schedule["detail-type"] == "Scheduled Event" and schedule["resources"] == [f"{stack.rules[1].arn}"]
