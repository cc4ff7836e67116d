"""The scaler's step-down guard against the local AWS (moto server): the app function's reserved concurrency
from Lambda, request counts and durations from CloudWatch GetMetricData, through the recording proxy.

What moto cannot model, and how this test stands in for it: moto runs no ALB and no Lambda code, so nothing
publishes RequestCount, Duration or TargetResponseTime; the test puts the datapoints the ALB and Lambda would
publish (same namespaces, names and dimensions) with PutMetricData, stamped inside the scaler's window of the
injected clock. Target health is registered ip targets (moto marks them healthy at once).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.ansible_run import ROOT, link_collection, run_playbook
from tests.support.local_aws import REGION
from tests.support.scaler_stack import (
    APP_FUNCTION,
    SCHEDULED_EVENT,
    build_stack,
    load_scaler_module,
)
from tests.support.wiring_prereqs import build_prerequisites

sys.path.insert(0, str(link_collection()))
from ansible_collections.spillover.lambda_ecs.plugins.filter.scaler_policy import scaler_policy

pytestmark = pytest.mark.integration
scaler = load_scaler_module()
STEADY_READS = {"DescribeListeners", "DescribeServices", "DescribeAlarms", "DescribeTargetHealth", "DescribeTags"}
GUARD_READS = {"GetFunctionConcurrency", "GetMetricData"}


def operation(call) -> str:
    """The API name: the recorder names Lambda's REST calls by method and path."""
    if call.operation.startswith("GET ") and call.operation.endswith("/concurrency"):
        return "GetFunctionConcurrency"
    return call.operation


def last_read_minute(now: datetime) -> datetime:
    """The middle of the newest minute the guard reads at ``now``: the one before its window's end, which is the
    default delivery lag (180 s) before now, at a minute boundary."""
    return scaler.metric_window_end(now, 60, 180) - timedelta(seconds=30)


def test_holds_at_peak_steps_down_at_low_rate_and_reads_only_when_a_step_down_is_due(local_aws, recorder):
    stack = build_stack(local_aws.endpoint)
    stack.create_app_function(reserved_concurrency=10)  # the guard's limit: 0.6 x 10 = 6 concurrent executions
    stack.add_healthy_targets(2)
    stack.set_weights(0, 100)
    stack.set_desired_count(2)
    now = [datetime.now(UTC)]
    env = stack.environment(
        AWS_ENDPOINT_URL=recorder.endpoint, SPILLOVER_FUNCTION_NAME=APP_FUNCTION, SPILLOVER_METRIC_PERIOD_SECONDS="60"
    )
    guarded = scaler.Scaler.from_environment(env, clock=lambda: now[0])

    # In the cooldown (alarms just OK, as after a spill): no step down is due, so no guard read.
    recorder.reset()
    cooling = guarded.handle(SCHEDULED_EVENT)
    assert cooling["action"] == "noop" and "cooldown" in cooling["reason"]
    assert "step_down_guard" not in cooling["inputs"]
    assert {operation(call) for call in recorder.calls} == STEADY_READS and len(recorder.calls) == 5

    # After the cooldown, at the peak: 30 req/s all on ECS at 1 s each. 50 % to Lambda would need 15 > 6: hold.
    now[0] += timedelta(seconds=301)
    last_minute = last_read_minute(now[0])
    stack.put_load(last_minute, ecs_requests=1800, ecs_seconds=1.0)
    # The minute after the window (not delivered yet on AWS) is left out.
    stack.put_load(last_minute + timedelta(minutes=1), ecs_requests=9999)
    recorder.reset()
    held = guarded.handle(SCHEDULED_EVENT)
    assert (held["action"], held["weights"], held["writes"]) == ("noop", {"lambda": 0, "ecs": 100}, [])
    assert "holding at 100% ECS" in held["reason"]
    estimate = held["inputs"]["step_down_guard"]
    assert (estimate["request_rate"], estimate["duration_seconds"]) == (30.0, 1.0)
    assert (estimate["duration_source"], estimate["capacity"], estimate["max_concurrency"]) == (
        "ECS TargetResponseTime",
        10,
        6.0,
    )
    assert (estimate["required_concurrency"], estimate["verdict"]) == (15.0, "hold")
    assert [operation(call) for call in recorder.writes] == []
    calls = [operation(call) for call in recorder.calls]
    assert set(calls) == STEADY_READS | GUARD_READS
    assert calls.count("GetMetricData") == 1 and calls.count("GetFunctionConcurrency") == 1
    assert stack.weights() == {"lambda": 0, "ecs": 100}

    # Four minutes later (the peak out of the window) the burst is over: 2 req/s, Lambda's own duration known
    # (0.5 s): 2 x 50 % x 0.5 = 0.5 < 6, step down.
    now[0] += timedelta(seconds=240)
    last_minute = last_read_minute(now[0])
    stack.put_load(last_minute, lambda_requests=20, ecs_requests=100, lambda_ms=500.0, ecs_seconds=2.0)
    recorder.reset()
    stepped = guarded.handle(SCHEDULED_EVENT)
    assert (stepped["action"], stepped["weights"], stepped["verified"]) == (
        "step_down",
        {"lambda": 50, "ecs": 50},
        True,
    )
    estimate = stepped["inputs"]["step_down_guard"]
    assert (estimate["request_rate"], estimate["duration_source"], estimate["verdict"]) == (
        2.0,
        "AWS/Lambda Duration",
        "fits",
    )
    assert estimate["required_concurrency"] == 0.5
    assert [operation(call) for call in recorder.writes] == ["AddTags", "ModifyListener"]

    # The generated policy grants every call the guarded scaler made.
    policy = scaler_policy(stack.policy_input(app_function_name=APP_FUNCTION))
    granted = {action for statement in policy["Statement"] for action in statement["Action"]}
    prefix = {
        "elasticloadbalancing": "elasticloadbalancing",
        "ecs": "ecs",
        "monitoring": "cloudwatch",
        "lambda": "lambda",
    }
    assert {f"{prefix[call.service]}:{operation(call)}" for call in recorder.calls} <= granted


def test_without_reserved_concurrency_the_guard_is_skipped_and_the_step_taken(local_aws):
    stack = build_stack(local_aws.endpoint)
    stack.create_app_function(reserved_concurrency=None)
    stack.add_healthy_targets(2)
    stack.set_weights(50, 50)
    now = [datetime.now(UTC) + timedelta(seconds=301)]
    stack.put_load(last_read_minute(now[0]), ecs_requests=60000)
    env = stack.environment(SPILLOVER_FUNCTION_NAME=APP_FUNCTION)
    record = scaler.Scaler.from_environment(env, clock=lambda: now[0]).handle(SCHEDULED_EVENT)
    assert (record["action"], stack.weights()) == ("step_down", {"lambda": 75, "ecs": 25})
    assert record["inputs"]["step_down_guard"]["verdict"].startswith("skipped")
    assert "no reserved concurrency" in record["reason"]


def test_the_scaler_role_turns_the_guard_on_with_the_app_function(local_aws, aws_client):
    """The scaler role as site.yml wires it (tests/integration/playbooks/wiring_roles.yml, with the app function
    passed as site.yml passes it): the guard's environment, the health gate's switch and the policy's grants on the
    deployed function."""
    prerequisites = build_prerequisites(aws_client, "guarded")
    app_function = prerequisites["lambda_function__function_arn"].split(":")[6]
    completed = run_playbook(
        ROOT / "tests" / "integration" / "playbooks" / "wiring_roles.yml",
        inventory="localhost,",
        extra_vars={
            **prerequisites,
            "spillover_stack_name": "guarded",
            "spillover_aws_endpoint_url": local_aws.endpoint,
            "wiring_roles": ["alb", "alarm", "scaler"],
            "scaler_app_function_name": app_function,
            "scaler_metric_period_seconds": 10,
            "scaler_health_gate": False,
        },
    )
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-4000:]
    lambda_, iam = aws_client("lambda"), aws_client("iam")
    environment = lambda_.get_function_configuration(FunctionName="guarded-scaler")["Environment"]["Variables"]
    assert environment["SPILLOVER_FUNCTION_NAME"] == app_function
    assert environment["SPILLOVER_METRIC_PERIOD_SECONDS"] == "10"
    assert environment["SPILLOVER_STEP_DOWN_MAX_SHARE"] == "0.6"
    config = scaler.load_config({**environment, "AWS_REGION": REGION})  # the Lambda runtime sets AWS_REGION
    assert (config.function_name, config.metric_period_seconds, config.step_down_max_share) == (app_function, 10, 0.6)
    assert (environment["SPILLOVER_HEALTH_GATE"], config.health_gate) == ("false", False)  # the gate's switch
    policy = iam.get_role_policy(RoleName="guarded-scaler", PolicyName="guarded-scaler")["PolicyDocument"]
    grants = {action: statement["Resource"] for statement in policy["Statement"] for action in statement["Action"]}
    assert grants["lambda:GetFunctionConcurrency"] == [prerequisites["lambda_function__function_arn"]]
    assert grants["cloudwatch:GetMetricData"] == "*"
