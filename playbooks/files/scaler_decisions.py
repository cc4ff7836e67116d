"""Print the scaler's last decision records (its JSON log lines) as one JSON list, newest last.

Used by playbooks/status.yml: no Ansible module reads CloudWatch Logs events. Connection settings come from the
standard AWS environment variables (AWS_ENDPOINT_URL, AWS_REGION, credentials).
usage: scaler_decisions.py LOG_GROUP [COUNT]
"""

from __future__ import annotations

import json
import sys

import boto3
from botocore.exceptions import ClientError

KEYS = ("action", "reason", "weights", "desired_count", "healthy_targets")


def last_decisions(log_group: str, count: int) -> list[dict]:
    logs = boto3.client("logs")
    try:
        events = logs.filter_log_events(logGroupName=log_group, limit=1000).get("events", [])
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            return []
        raise
    decisions = []
    for event in sorted(events, key=lambda item: item["timestamp"]):
        try:
            record = json.loads(event["message"])
        except ValueError:
            continue
        if isinstance(record, dict) and "action" in record:
            decisions.append({"timestamp": event["timestamp"], **{key: record.get(key) for key in KEYS}})
    return decisions[-count:]


if __name__ == "__main__":
    print(json.dumps(last_decisions(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5)))
