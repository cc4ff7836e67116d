"""Print the scaler's newest decision records (its JSON log lines) as one JSON list, oldest of them first.

Used by playbooks/status.yml: no Ansible module reads CloudWatch Logs events. Connection settings come from the
standard AWS environment variables (AWS_ENDPOINT_URL, AWS_REGION, credentials).
usage: scaler_decisions.py LOG_GROUP [COUNT]

FilterLogEvents returns events oldest first, in pages that may be partial or even empty while a ``nextToken`` says
there is more; without a start time it starts at the log group's first event. So the search goes back in time, one
window at a time (the last hour, then the day before it, then the rest of the log group's retention), follows every
``nextToken`` of a window, and stops at the first window that holds enough decisions: a scaler that decides every
minute is read from its last hour only.
"""

from __future__ import annotations

import json
import sys
import time

import boto3
from botocore.exceptions import ClientError

KEYS = ("action", "reason", "weights", "desired_count", "healthy_targets")
HOUR_MS = 3600 * 1000
# Window boundaries back from now: the last hour, the last day, two weeks (the roles' default log retention) and all.
WINDOWS_MS = (HOUR_MS, 24 * HOUR_MS, 14 * 24 * HOUR_MS, None)


def decision(event: dict) -> dict | None:
    """The decision record of a log event, or None when the line is not one (the runtime's START/END lines...)."""
    try:
        record = json.loads(event["message"])
    except ValueError:
        return None
    if not isinstance(record, dict) or "action" not in record:
        return None
    return {"timestamp": event["timestamp"], **{key: record.get(key) for key in KEYS}}


def decisions_between(logs, log_group: str, start_ms: int | None, end_ms: int | None) -> list[dict]:
    """Every decision logged in [start_ms, end_ms) (None: unbounded), following nextToken over partial and empty
    pages."""
    request = {"logGroupName": log_group}
    if start_ms is not None:
        request["startTime"] = start_ms
    if end_ms is not None:
        request["endTime"] = end_ms - 1  # FilterLogEvents' endTime is inclusive
    found = []
    for page in logs.get_paginator("filter_log_events").paginate(**request):
        found += [record for record in map(decision, page.get("events", [])) if record is not None]
    return found


def last_decisions(log_group: str, count: int, now_ms: int | None = None, logs=None) -> list[dict]:
    """The ``count`` newest decisions of the log group, oldest of them first; [] when it has none (or no group)."""
    logs = logs or boto3.client("logs")
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    found: list[dict] = []
    end = None  # the newest window is open-ended: a record stamped a moment after this host's clock counts too
    for back in WINDOWS_MS:
        start = None if back is None else now_ms - back
        try:
            found = decisions_between(logs, log_group, start, end) + found
        except ClientError as error:
            if error.response["Error"]["Code"] == "ResourceNotFoundException":
                return []
            raise
        if len(found) >= count or start is None:
            break
        end = start
    found.sort(key=lambda record: record["timestamp"])
    return found[-count:] if count > 0 else []


if __name__ == "__main__":
    print(json.dumps(last_decisions(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5)))
