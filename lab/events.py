"""EventBridge for the stack's rules: match events against their patterns, invoke their targets, run the
schedule rule.

Targets are invoked asynchronously, one invocation at a time per target (the scaler's reserved
concurrency is 1), and a failed invocation is retried (Lambda's asynchronous invocation retries
function errors twice; the lab waits ``retry_seconds`` instead of Lambda's minutes).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from lab.stack import Rule

LOG = logging.getLogger(__name__)


def _matches_value(condition: object, value: object, present: bool) -> bool:
    values = value if isinstance(value, list) else [value]
    if isinstance(condition, dict):
        ((operator, argument),) = condition.items()
        if operator == "exists":
            return present is bool(argument)
        if not present:
            return False
        if operator == "prefix":
            return any(isinstance(item, str) and item.startswith(argument) for item in values)
        if operator == "suffix":
            return any(isinstance(item, str) and item.endswith(argument) for item in values)
        if operator == "equals-ignore-case":
            return any(isinstance(item, str) and item.lower() == argument.lower() for item in values)
        if operator == "anything-but":
            excluded = argument if isinstance(argument, list) else [argument]
            if isinstance(argument, dict):
                return not _matches_value(argument, value, present)
            return all(item not in excluded for item in values)
        if operator == "numeric":
            return any(_numeric(argument, item) for item in values if isinstance(item, int | float))
        raise ValueError(f"event pattern operator {operator!r} is not supported by the lab")
    return present and condition in values


def _numeric(argument: list, number: float) -> bool:
    checks = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        "=": lambda a, b: a == b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    return all(checks[operator](number, bound) for operator, bound in zip(argument[::2], argument[1::2], strict=True))


def matches(pattern: dict, event: dict) -> bool:
    """EventBridge content filtering: every field of the pattern must match (a list = any of its values)."""
    for key, condition in pattern.items():
        present = isinstance(event, dict) and key in event
        value = event.get(key) if isinstance(event, dict) else None
        if isinstance(condition, dict):
            if not present or not isinstance(value, dict) or not matches(condition, value):
                return False
        elif isinstance(condition, list):
            if not any(_matches_value(item, value, present) for item in condition):
                return False
        else:
            raise ValueError(f"event pattern field {key!r} must be an object or a list")
    return True


def task_state_event(
    cluster_arn: str,
    service: str,
    task_arn: str,
    last_status: str,
    task_definition_arn: str,
    region: str,
    event_id: str | None = None,
    time: str | None = None,
) -> dict:
    """An "ECS Task State Change" event as ECS delivers it for a task that service ``service`` started (the shape
    of the example in AWS's "Amazon ECS task state change events"; the fields the scaler and the rule read)."""
    moment = time or datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": cluster_arn.split(":")[4],
        "time": moment,
        "region": region,
        "resources": [task_arn],
        "detail": {
            "clusterArn": cluster_arn,
            "taskArn": task_arn,
            "taskDefinitionArn": task_definition_arn,
            "group": f"service:{service}",
            "startedBy": "ecs-svc/9223370492556078888",
            "launchType": "FARGATE",
            "desiredStatus": "STOPPED" if last_status == "STOPPED" else "RUNNING",
            "lastStatus": last_status,
            "containers": [{"name": "app", "lastStatus": last_status}],
            "createdAt": moment,
            "version": 3,
        },
    }


@dataclass
class Delivery:
    time: float
    rule: str
    target: str
    attempt: int
    ok: bool
    result: object
    error: str = ""


class EventBus:
    def __init__(
        self,
        rules: tuple[Rule, ...],
        invokers: dict[str, Callable[[dict], object]],
        retry_seconds: float = 2.0,
        max_attempts: int = 3,
        schedule_seconds: float | None = None,
        region: str = "us-east-1",
    ) -> None:
        self.rules = [rule for rule in rules if rule.state == "ENABLED"]
        self.invokers = invokers
        self.retry_seconds = retry_seconds
        self.max_attempts = max_attempts
        self.schedule_seconds = schedule_seconds
        self.region = region
        self.deliveries: list[Delivery] = []
        self._queues: dict[str, queue.Queue] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def start(self) -> EventBus:
        for arn in {arn for rule in self.rules for arn in rule.target_arns if arn in self.invokers}:
            self._queues[arn] = queue.Queue()
            self._spawn(self._deliver_loop, arn)
        for rule in self.rules:
            if rule.schedule_expression:
                self._spawn(self._schedule_loop, rule)
        return self

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, name="lab-events", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for work in self._queues.values():
            work.put(None)
        for thread in self._threads:
            thread.join(timeout=90)

    def put_event(self, event: dict) -> list[str]:
        """Deliver ``event`` to the targets of every rule it matches; return those rules' names."""
        matched = []
        for rule in self.rules:
            if rule.event_pattern is not None and matches(rule.event_pattern, event):
                matched.append(rule.name)
                self._enqueue(rule, event)
        return matched

    def _enqueue(self, rule: Rule, event: dict) -> None:
        for arn in rule.target_arns:
            if arn in self._queues:
                self._queues[arn].put((rule.name, event, 1, 0.0))
            else:
                LOG.info("rule %s: target %s is not run (scaler off)", rule.name, arn)

    def scheduled_event(self, rule: Rule) -> dict:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": rule.arn.split(":")[4],
            "time": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "region": self.region,
            "resources": [rule.arn],
            "detail": {},
        }

    def _schedule_loop(self, rule: Rule) -> None:
        interval = self.schedule_seconds or rule.schedule_seconds
        while not self._stop.wait(interval):
            self._enqueue(rule, self.scheduled_event(rule))

    def _deliver_loop(self, arn: str) -> None:
        work = self._queues[arn]
        while True:
            item = work.get()
            if item is None or self._stop.is_set():
                return
            rule, event, attempt, not_before = item
            if time.time() < not_before and self._stop.wait(not_before - time.time()):
                return
            try:
                result = self.invokers[arn](event)
                self.deliveries.append(Delivery(time.time(), rule, arn, attempt, True, result))
            except Exception as error:
                LOG.warning("rule %s: invoking %s failed (attempt %d): %s", rule, arn, attempt, error)
                self.deliveries.append(Delivery(time.time(), rule, arn, attempt, False, None, str(error)))
                if attempt < self.max_attempts:
                    work.put((rule, event, attempt + 1, time.time() + self.retry_seconds))
