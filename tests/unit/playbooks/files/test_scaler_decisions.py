"""status.yml's scaler decisions (playbooks/files/scaler_decisions.py) against FilterLogEvents as AWS answers it:
oldest first, in partial and empty pages with a nextToken (botocore's Stubber checks every request it makes)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

ROOT = Path(__file__).resolve().parents[4]
_spec = importlib.util.spec_from_file_location("scaler_decisions", ROOT / "playbooks" / "files" / "scaler_decisions.py")
scaler_decisions = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scaler_decisions)

GROUP = "/aws/lambda/demo-scaler"
NOW = 1_800_000_000_000
HOUR = 3600 * 1000


def event(at: int, action: str = "noop", reason: str = "idle") -> dict:
    return {"timestamp": at, "message": json.dumps({"level": "INFO", "action": action, "reason": reason})}


@pytest.fixture
def logs():
    client = boto3.client("logs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def test_the_last_hour_is_read_page_by_page_and_the_newest_are_shown(logs):
    client, stub = logs
    window = {"logGroupName": GROUP, "startTime": NOW - HOUR}
    stub.add_response("filter_log_events", {"events": [], "nextToken": "t1"}, window)  # AWS's empty first page
    page = [event(NOW - 50_000, reason="first"), {"timestamp": NOW - 40_000, "message": "START RequestId: x"}]
    stub.add_response("filter_log_events", {"events": page, "nextToken": "t2"}, {**window, "nextToken": "t1"})
    newest = [event(NOW - 30_000, "step_up", "second"), event(NOW - 20_000, "step_up", "third")]
    stub.add_response("filter_log_events", {"events": newest}, {**window, "nextToken": "t2"})

    shown = scaler_decisions.last_decisions(GROUP, 2, now_ms=NOW, logs=client)

    assert [record["reason"] for record in shown] == ["second", "third"]
    assert shown[-1] == {
        "timestamp": NOW - 20_000,
        "action": "step_up",
        "reason": "third",
        "weights": None,
        "desired_count": None,
        "healthy_targets": None,
    }


def test_older_windows_are_read_only_until_enough_decisions_are_found(logs):
    client, stub = logs
    stub.add_response(
        "filter_log_events",
        {"events": [event(NOW - 60_000, reason="recent")]},
        {
            "logGroupName": GROUP,
            "startTime": NOW - HOUR,
        },
    )
    day_before = [event(NOW - 5 * HOUR, reason="older"), event(NOW - 2 * HOUR, reason="old")]
    stub.add_response(
        "filter_log_events",
        {"events": day_before},
        {"logGroupName": GROUP, "startTime": NOW - 24 * HOUR, "endTime": NOW - HOUR - 1},
    )

    shown = scaler_decisions.last_decisions(GROUP, 3, now_ms=NOW, logs=client)

    assert [record["reason"] for record in shown] == ["older", "old", "recent"]


def test_a_quiet_scaler_is_searched_back_to_its_first_event(logs):
    client, stub = logs
    for start, end in ((NOW - HOUR, None), (NOW - 24 * HOUR, NOW - HOUR), (NOW - 14 * 24 * HOUR, NOW - 24 * HOUR)):
        request = {"logGroupName": GROUP, "startTime": start, **({"endTime": end - 1} if end else {})}
        stub.add_response("filter_log_events", {"events": []}, request)
    stub.add_response(
        "filter_log_events",
        {"events": [event(NOW - 30 * 24 * HOUR, reason="a month ago")]},
        {"logGroupName": GROUP, "endTime": NOW - 14 * 24 * HOUR - 1},
    )
    assert [r["reason"] for r in scaler_decisions.last_decisions(GROUP, 5, now_ms=NOW, logs=client)] == ["a month ago"]


def test_no_log_group_means_no_decision(logs):
    client, stub = logs
    stub.add_client_error("filter_log_events", "ResourceNotFoundException", "The specified log group does not exist.")
    assert scaler_decisions.last_decisions(GROUP, 5, now_ms=NOW, logs=client) == []


def test_another_error_is_raised(logs):
    client, stub = logs
    stub.add_client_error("filter_log_events", "AccessDeniedException", "not authorized")
    with pytest.raises(Exception, match="not authorized"):
        scaler_decisions.last_decisions(GROUP, 5, now_ms=NOW, logs=client)
