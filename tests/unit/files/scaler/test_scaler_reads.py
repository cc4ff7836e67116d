"""What the scaler asks CloudWatch, and how it reads the answers as AWS gives them (no AWS).

The alarms: DescribeAlarms for metric alarms only (composite alarm information needs the permission on "*", which the
scaler's policy does not grant), the time of the last state change from StateTransitionedTimestamp. The step-down
guard's window: it ends a delivery lag before now, at a period boundary. Fake clients record each request; their
answers have the shape of botocore's cloudwatch model.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.scaler_stack import load_scaler_module
from tests.unit.files.scaler.test_scaler_config_events import VALID, problems_of
from tests.unit.files.scaler.test_scaler_decide import CONFIG, SPILL, WARM

scaler = load_scaler_module()

NOW = datetime(2026, 3, 1, 12, 0, 40, tzinfo=UTC)


class Paginator:
    def __init__(self, client, pages):
        self.client, self.pages = client, pages

    def paginate(self, **request):
        self.client.requests.append(("DescribeAlarms", request))
        return iter(self.pages)


class FakeCloudWatch:
    def __init__(self, alarm_pages=(), metric_results=()):
        self.requests: list[tuple[str, dict]] = []
        self.alarm_pages = list(alarm_pages)
        self.metric_results = list(metric_results)

    def get_paginator(self, name):
        assert name == "describe_alarms"
        return Paginator(self, self.alarm_pages)

    def get_metric_data(self, **request):
        self.requests.append(("GetMetricData", request))
        return {"MetricDataResults": self.metric_results}


class FakeLambda:
    def get_function_concurrency(self, FunctionName):
        return {"ReservedConcurrentExecutions": 10}


def metric_alarm(name: str, value: str, **timestamps) -> dict:
    return {"AlarmName": name, "StateValue": value, **timestamps}


def test_describe_alarms_asks_for_metric_alarms_only():
    cloudwatch = FakeCloudWatch([{"MetricAlarms": [], "CompositeAlarms": []}])
    scaler.Scaler(CONFIG, None, None, cloudwatch).read_alarms()
    [(operation, request)] = cloudwatch.requests
    assert operation == "DescribeAlarms"
    assert request["AlarmTypes"] == ["MetricAlarm"]
    assert request["AlarmNames"] == [SPILL, WARM]


def test_a_composite_alarm_of_the_same_name_is_not_read():
    # An answer carrying a composite alarm (which the request does not ask for) is not taken as the alarm's state.
    composite = {"AlarmName": SPILL, "StateValue": "ALARM", "StateTransitionedTimestamp": NOW}
    cloudwatch = FakeCloudWatch([{"MetricAlarms": [], "CompositeAlarms": [composite]}])
    assert scaler.Scaler(CONFIG, None, None, cloudwatch).read_alarms() == {}


def test_the_cooldown_counts_from_the_state_transition_not_the_last_update():
    transitioned, updated = NOW - timedelta(minutes=10), NOW - timedelta(seconds=20)
    alarm = metric_alarm(SPILL, "OK", StateTransitionedTimestamp=transitioned, StateUpdatedTimestamp=updated)
    cloudwatch = FakeCloudWatch([{"MetricAlarms": [alarm]}])
    assert scaler.Scaler(CONFIG, None, None, cloudwatch).read_alarms() == {SPILL: scaler.AlarmState("OK", transitioned)}


def test_without_a_transition_time_the_last_update_counts_and_without_either_nothing_waits():
    # The local AWS (moto) returns StateUpdatedTimestamp only; it is never earlier than the transition.
    updated = NOW - timedelta(seconds=20)
    assert scaler.state_changed_at(metric_alarm(SPILL, "OK", StateUpdatedTimestamp=updated)) == updated
    assert scaler.state_changed_at(metric_alarm(SPILL, "OK")) is None
    # An alarm with no known change time is as settled as one that never changed: the step down is due.
    alarms = {SPILL: scaler.AlarmState("OK", None), WARM: scaler.AlarmState("OK", None)}
    current = scaler.ScalerState(alarms, 50, 50, 4, 4, 0, 4, last_move=NOW - timedelta(hours=1))
    assert scaler.decide(current, CONFIG, NOW).action == "step_down"


@pytest.mark.parametrize(
    ("now", "period", "lag", "end"),
    [
        (NOW, 60, 0, "12:00:00"),  # the current minute is still filling
        (NOW, 60, 180, "11:57:00"),  # 11:57:40 rounded down to the period
        (NOW, 60, 120, "11:58:00"),
        (NOW, 10, 25, "12:00:10"),  # high-resolution periods align to 10 s
        (NOW.replace(second=0), 60, 180, "11:57:00"),  # on a boundary: that boundary
    ],
)
def test_the_metric_window_ends_a_lag_before_now_at_a_period_boundary(now, period, lag, end):
    assert scaler.metric_window_end(now, period, lag).strftime("%H:%M:%S") == end


def test_the_guard_reads_three_periods_ending_at_the_lagged_boundary():
    cloudwatch = FakeCloudWatch(metric_results=[])
    config = replace(CONFIG, function_name="app", metric_period_seconds=60, metric_lag_seconds=180)
    load = scaler.Scaler(config, None, None, cloudwatch, lambda_client=FakeLambda()).read_load(NOW)
    [(operation, request)] = cloudwatch.requests
    assert operation == "GetMetricData"
    assert request["EndTime"] == datetime(2026, 3, 1, 11, 57, tzinfo=UTC)
    assert request["StartTime"] == datetime(2026, 3, 1, 11, 54, tzinfo=UTC)
    assert {query["MetricStat"]["Period"] for query in request["MetricDataQueries"]} == {60}
    assert (load.window_end, load.capacity) == (request["EndTime"], 10)


def test_the_lag_is_configurable_and_defaults_to_three_minutes():
    assert scaler.load_config(VALID).metric_lag_seconds == 180
    assert scaler.load_config({**VALID, "SPILLOVER_METRIC_LAG_SECONDS": "0"}).metric_lag_seconds == 0
    assert any("SPILLOVER_METRIC_LAG_SECONDS must be >= 0" in p for p in problems_of(SPILLOVER_METRIC_LAG_SECONDS="-1"))
    assert any("must be an integer" in p for p in problems_of(SPILLOVER_METRIC_LAG_SECONDS="late"))


def test_the_decision_record_names_the_window_it_read():
    current = scaler.ScalerState({}, 50, 50, 4, 4, 0, 4, last_move=None)
    decision = scaler.Decision("step_down", "due", 25, 4)
    load = scaler.LoadEstimate(1.0, 0.1, "AWS/Lambda Duration", 10, window_end=datetime(2026, 3, 1, 11, 57, tzinfo=UTC))
    _decision, inputs = scaler.guard_step_down(decision, current, load, replace(CONFIG, function_name="app"))
    assert inputs["window_end"] == "2026-03-01T11:57:00.000Z"
