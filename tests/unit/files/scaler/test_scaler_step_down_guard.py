"""The scaler's step-down guard: its configuration, the load estimate from fake GetMetricData results, and the
hold-or-step verdict (no AWS)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.scaler_stack import load_scaler_module
from tests.unit.files.scaler.test_scaler_config_events import VALID, problems_of
from tests.unit.files.scaler.test_scaler_decide import CONFIG, NOW, state

scaler = load_scaler_module()

GUARDED = replace(CONFIG, function_name="app", step_down_max_share=0.6, metric_period_seconds=60)
T0 = datetime(2026, 3, 1, 11, 57, tzinfo=UTC)


def result(query_id: str, *values: float) -> dict:
    """One MetricDataResults entry with a datapoint per value, newest first (CloudWatch's default order)."""
    moments = [T0 + timedelta(minutes=index) for index in range(len(values))]
    return {"Id": query_id, "Timestamps": moments[::-1], "Values": list(values)[::-1], "StatusCode": "Complete"}


def step_down_from(share: int = 50) -> tuple:
    current = state(share=share, desired=4, healthy=4, last_move=600)
    decision = scaler.decide(current, GUARDED, NOW)
    assert decision.action == "step_down"
    return current, decision


# -- configuration


def test_the_guard_is_off_unless_the_app_function_is_named():
    config = scaler.load_config(VALID)
    assert (config.function_name, config.step_down_max_share, config.metric_period_seconds) == (None, 0.6, 60)
    named = scaler.load_config(
        {
            **VALID,
            "SPILLOVER_FUNCTION_NAME": "spill-app",
            "SPILLOVER_STEP_DOWN_MAX_SHARE": "0.75",
            "SPILLOVER_METRIC_PERIOD_SECONDS": "10",
        }
    )
    assert (named.function_name, named.step_down_max_share, named.metric_period_seconds) == ("spill-app", 0.75, 10)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("SPILLOVER_FUNCTION_NAME", "arn:aws:lambda:us-east-1:123456789012:function:app", "not an ARN"),
        ("SPILLOVER_STEP_DOWN_MAX_SHARE", "0", "SPILLOVER_STEP_DOWN_MAX_SHARE must be a number in (0, 1]"),
        ("SPILLOVER_STEP_DOWN_MAX_SHARE", "1.5", "SPILLOVER_STEP_DOWN_MAX_SHARE must be a number in (0, 1]"),
        ("SPILLOVER_STEP_DOWN_MAX_SHARE", "most", "SPILLOVER_STEP_DOWN_MAX_SHARE must be a number in (0, 1]"),
        ("SPILLOVER_METRIC_PERIOD_SECONDS", "20", "must be 1, 5, 10, 30 or a multiple of 60"),
        ("SPILLOVER_METRIC_PERIOD_SECONDS", "0", "SPILLOVER_METRIC_PERIOD_SECONDS must be >= 1"),
    ],
)
def test_bad_guard_settings_are_refused(key, value, expected):
    assert any(expected in problem for problem in problems_of(**{key: value}))


def test_a_period_of_minutes_is_accepted():
    assert scaler.load_config({**VALID, "SPILLOVER_METRIC_PERIOD_SECONDS": "180"}).metric_period_seconds == 180


# -- the estimate from metrics


def test_rate_is_the_busiest_period_over_both_target_groups_and_duration_lambdas():
    results = [
        result(scaler.LAMBDA_REQUESTS, 600, 1200, 300),
        result(scaler.ECS_REQUESTS, 2400, 1800, 900),
        result(scaler.LAMBDA_DURATION, 900.0, 1100.0),
        result(scaler.ECS_RESPONSE_TIME, 5.0),
    ]
    load = scaler.load_from_metrics(results, 60, 10)
    assert load.request_rate == pytest.approx(3000 / 60)  # 600 + 2400 and 1200 + 1800 per minute: 50 req/s
    assert load.duration == pytest.approx(1.0) and load.duration_source == "AWS/Lambda Duration"
    assert load.capacity == 10


def test_duration_from_ecs_response_time_when_lambda_got_no_traffic():
    results = [
        result(scaler.LAMBDA_REQUESTS),
        result(scaler.ECS_REQUESTS, 1200),
        result(scaler.LAMBDA_DURATION),
        result(scaler.ECS_RESPONSE_TIME, 0.4, 0.6),
    ]
    load = scaler.load_from_metrics(results, 60, 10)
    assert (load.request_rate, load.duration, load.duration_source) == (
        20.0,
        pytest.approx(0.5),
        "ECS TargetResponseTime",
    )


def test_a_group_without_datapoint_counts_as_no_requests():
    results = [result(scaler.ECS_REQUESTS, 50, 100)]
    assert scaler.load_from_metrics(results, 10, None).request_rate == 10.0


def test_nothing_known_without_datapoints():
    load = scaler.load_from_metrics([result(query_id) for query_id in ("lambdarequests", "ecsrequests")], 60, 10)
    assert (load.request_rate, load.duration, load.duration_source) == (None, None, "none")


# -- the verdict


def test_holds_when_lambda_would_not_fit_the_next_step():
    current, decision = step_down_from(50)  # 50 -> 25 % ECS: Lambda would take 75 %
    load = scaler.LoadEstimate(request_rate=30.0, duration=1.0, duration_source="AWS/Lambda Duration", capacity=10)
    held, inputs = scaler.guard_step_down(decision, current, load, GUARDED)
    assert (held.action, held.ecs_share, held.desired_count) == ("noop", 50, 4)
    assert "holding at 50% ECS" in held.reason and "~22.5 concurrent" in held.reason
    assert inputs["required_concurrency"] == 22.5 and inputs["max_concurrency"] == 6.0
    assert (inputs["capacity"], inputs["verdict"], inputs["duration_source"]) == (10, "hold", "AWS/Lambda Duration")


def test_steps_down_when_lambda_would_fit_the_next_step():
    current, decision = step_down_from(50)
    load = scaler.LoadEstimate(request_rate=4.0, duration=1.5, duration_source="ECS TargetResponseTime", capacity=10)
    stepped, inputs = scaler.guard_step_down(decision, current, load, GUARDED)
    assert (stepped.action, stepped.ecs_share) == ("step_down", 25)
    assert "~4.5 concurrent" in stepped.reason and "ECS TargetResponseTime" in stepped.reason
    assert (inputs["required_concurrency"], inputs["verdict"]) == (4.5, "fits")


def test_the_limit_is_the_configured_share_of_the_reserved_concurrency():
    current, decision = step_down_from(100)  # 100 -> 50 %: Lambda would take half of 10 req/s x 1 s = 5
    load = scaler.LoadEstimate(request_rate=10.0, duration=1.0, duration_source="AWS/Lambda Duration", capacity=10)
    assert scaler.guard_step_down(decision, current, load, GUARDED)[0].action == "step_down"  # 5 < 6
    strict = replace(GUARDED, step_down_max_share=0.5)
    assert scaler.guard_step_down(decision, current, load, strict)[0].action == "noop"  # 5 is not below 5


@pytest.mark.parametrize(
    ("load", "verdict"),
    [
        (scaler.LoadEstimate(None, None, "none", 10), "unknown: no recent request rate"),
        (scaler.LoadEstimate(500.0, None, "none", 10), "unknown: no recent duration"),
        (scaler.LoadEstimate(500.0, 1.0, "AWS/Lambda Duration", None), "skipped"),
    ],
)
def test_steps_down_as_before_when_it_cannot_judge(load, verdict):
    current, decision = step_down_from(50)
    stepped, inputs = scaler.guard_step_down(decision, current, load, GUARDED)
    assert (stepped.action, stepped.ecs_share) == ("step_down", 25)
    assert inputs["verdict"].startswith(verdict) and inputs["required_concurrency"] is None
    assert "step-down guard" in stepped.reason
