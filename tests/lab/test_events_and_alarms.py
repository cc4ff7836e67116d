"""Unit tests of the lab's pure parts: alarm decisions, event pattern matching, the burst profile."""

from __future__ import annotations

import pytest

from lab.events import matches
from lab.load import BurstProfile
from lab.stack import Alarm


def alarm(comparison="GreaterThanThreshold", threshold=0.0, periods=3, datapoints=2, missing="missing") -> Alarm:
    return Alarm(
        "a",
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:a",
        "AWS/Lambda",
        "Throttles",
        "Sum",
        (),
        10,
        periods,
        datapoints,
        threshold,
        comparison,
        missing,
    )


@pytest.mark.parametrize(
    ("values", "missing", "expected"),
    [
        ([1, 1, 0], "missing", "ALARM"),
        ([1, 0, 0], "missing", "OK"),
        ([None, None, None], "missing", "INSUFFICIENT_DATA"),
        ([None, None, None], "ignore", None),
        ([None, None, None], "notBreaching", "OK"),
        ([None, None, 1], "breaching", "ALARM"),
        ([1, None, None], "notBreaching", "OK"),
        ([1, None, 1], "ignore", "ALARM"),
    ],
)
def test_alarm_decision_counts_datapoints_and_missing_data(values, missing, expected):
    from lab.alarms import decide

    assert decide(alarm(missing=missing), values) == expected


def test_alarm_comparisons():
    assert alarm("GreaterThanOrEqualToThreshold", 9).breaches(9)
    assert not alarm("GreaterThanThreshold", 9).breaches(9)
    assert alarm("LessThanThreshold", 1).breaches(0)
    assert not alarm("LessThanOrEqualToThreshold", 1).breaches(2)


PATTERN = {
    "source": ["aws.cloudwatch"],
    "detail-type": ["CloudWatch Alarm State Change"],
    "resources": ["arn:a", "arn:b"],
    "detail": {"state": {"value": ["ALARM", "OK"]}},
}
EVENT = {
    "source": "aws.cloudwatch",
    "detail-type": "CloudWatch Alarm State Change",
    "resources": ["arn:b"],
    "detail": {"state": {"value": "ALARM"}, "alarmName": "x"},
}


def test_pattern_matching_follows_eventbridge_rules():
    assert matches(PATTERN, EVENT)
    assert not matches(PATTERN, {**EVENT, "resources": ["arn:c"]})
    assert not matches(PATTERN, {**EVENT, "detail": {"state": {"value": "INSUFFICIENT_DATA"}}})
    assert not matches(PATTERN, {key: value for key, value in EVENT.items() if key != "source"})
    assert matches({"detail": {"alarmName": [{"prefix": "x"}]}}, EVENT)
    assert matches({"detail": {"alarmName": [{"anything-but": ["y"]}]}}, EVENT)
    assert not matches({"detail": {"alarmName": [{"anything-but": "x"}]}}, EVENT)
    assert matches({"detail": {"missing": [{"exists": False}]}}, EVENT)
    assert not matches({"detail": {"alarmName": [{"exists": False}]}}, EVENT)
    assert matches({"n": [{"numeric": [">", 1, "<=", 5]}]}, {"n": 5})
    assert not matches({"n": [{"numeric": [">", 1, "<=", 5]}]}, {"n": 6})


def test_burst_profile_ramps_to_three_times_the_lambda_capacity():
    profile = BurstProfile(baseline=10, ramp=10, hold=30, ramp_down=5, tail=10, sleep_seconds=1.0, pacing=2.0)
    points = profile.stages(reserved_concurrency=10)
    # Capacity 10 invocations/s of 1 s; each user sends one request every 2 s: 60 users = 3x capacity.
    assert points == [(0.0, 6), (10.0, 6), (20.0, 60), (50.0, 60), (55.0, 6), (65.0, 6)]  # baseline 0.3x
    assert profile.duration == 65
