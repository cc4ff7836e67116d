"""Evaluate the stack's metric alarms from the metrics in the AWS, and set their state there.

Each alarm is evaluated when one of its periods has ended and its metric's datapoints have been delivered (the
delivery delay of its namespace, :class:`lab.metrics.Delivery`, plus a short settling time for the last datapoints),
over its last ``EvaluationPeriods`` periods: the period's statistic is compared with the threshold; the
alarm goes to ``ALARM`` when at least ``DatapointsToAlarm`` of them breach, with missing periods treated
as the alarm's ``TreatMissingData`` says. A change is written with ``SetAlarmState`` and published as the
"CloudWatch Alarm State Change" event EventBridge would deliver.

Waiting for the delivery is how a late datapoint counts on AWS too: CloudWatch evaluates an alarm every period and,
when the newest periods have no data yet, on the most recent datapoints it has (its "evaluation range"), so a period
whose data arrives late decides the state at the first evaluation after it arrived. The lab evaluates each period
once; on AWS a sparse metric (``Throttles`` is published only when not zero) may keep an alarm in ``ALARM`` a little
longer, while its last breaching datapoint is still in the evaluation range.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from lab.aws import Aws
from lab.background import Periodic
from lab.stack import Alarm

LOG = logging.getLogger(__name__)


def decide(alarm: Alarm, values: list[float | None]) -> str | None:
    """The state for the last periods' values (``None`` = no data); ``None`` means keep the state."""
    present = [value for value in values if value is not None]
    missing = len(values) - len(present)
    breaching = sum(alarm.breaches(value) for value in present)
    treatment = alarm.treat_missing_data
    if treatment == "breaching":
        breaching += missing
    elif treatment == "ignore" and not present:
        return None
    elif treatment == "missing" and not present:
        return "INSUFFICIENT_DATA"
    return "ALARM" if breaching >= alarm.datapoints_to_alarm else "OK"


def alarm_event(alarm: Alarm, region: str, state: str, previous: str, reason: str) -> dict:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    account = alarm.arn.split(":")[4]
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": account,
        "time": now,
        "region": region,
        "resources": [alarm.arn],
        "detail": {
            "alarmName": alarm.name,
            "state": {"value": state, "reason": reason, "timestamp": now},
            "previousState": {"value": previous, "timestamp": now},
            "configuration": {
                "metrics": [
                    {
                        "id": "m1",
                        "metricStat": {
                            "metric": {
                                "namespace": alarm.namespace,
                                "name": alarm.metric_name,
                                "dimensions": dict(alarm.dimensions),
                            },
                            "period": alarm.period,
                            "stat": alarm.statistic,
                        },
                        "returnData": True,
                    }
                ]
            },
        },
    }


class AlarmEvaluator(Periodic):
    def __init__(
        self,
        aws: Aws,
        alarms: tuple[Alarm, ...],
        on_change: Callable[[dict], None],
        settle_seconds: float = 1.5,
        delivery_delay: Callable[[Alarm], float] | None = None,
    ) -> None:
        super().__init__("lab-alarms", 0.5)
        self.aws = aws
        self.alarms = alarms
        self.on_change = on_change
        self.settle_seconds = settle_seconds
        self.delivery_delay = delivery_delay or (lambda alarm: 0.0)
        self.states: dict[str, str] = {}
        self.history: list[tuple[float, str, str]] = []  # (time, alarm, new state)
        self._evaluated: dict[str, int] = {}

    def start(self) -> AlarmEvaluator:
        self.states = self.read_states()
        self.begin(time.time())
        return super().start()

    def begin(self, now: float) -> None:
        """Evaluate only the periods that end after ``now``: the datapoints of a period that ended before the run
        (the previous run's last minute, delivered late on AWS's clock) belong to that run, not to this one."""
        for alarm in self.alarms:
            self._evaluated[alarm.name] = math.floor(now / alarm.period) * alarm.period

    def read_states(self) -> dict[str, str]:
        names = [alarm.name for alarm in self.alarms]
        if not names:
            return {}
        found = self.aws.client("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"]
        return {item["AlarmName"]: item["StateValue"] for item in found}

    def tick(self) -> None:
        self.evaluate_due(time.time())

    def evaluate_due(self, now: float) -> None:
        for alarm in self.alarms:
            ready = now - self.settle_seconds - self.delivery_delay(alarm)
            end = math.floor(ready / alarm.period) * alarm.period
            if self._evaluated.get(alarm.name, 0) < end:
                self._evaluated[alarm.name] = end
                self.evaluate(alarm, end)

    def period_value(self, alarm: Alarm, start: int, end: int) -> float | None:
        points = self.aws.client("cloudwatch").get_metric_statistics(
            Namespace=alarm.namespace,
            MetricName=alarm.metric_name,
            Dimensions=[{"Name": name, "Value": value} for name, value in alarm.dimensions],
            StartTime=datetime.fromtimestamp(start, UTC),
            EndTime=datetime.fromtimestamp(end, UTC),
            Period=alarm.period,
            Statistics=[alarm.statistic],
        )["Datapoints"]
        if not points:
            return None
        values = [point[alarm.statistic] for point in points]
        combine = {"Sum": sum, "SampleCount": sum, "Maximum": max, "Minimum": min}
        if alarm.statistic in combine:
            return float(combine[alarm.statistic](values))
        return float(sum(values) / len(values))

    def evaluate(self, alarm: Alarm, end: int) -> str | None:
        """Evaluate ``alarm`` over the periods ending at ``end``; write and publish a change."""
        values = [
            self.period_value(alarm, end - (index + 1) * alarm.period, end - index * alarm.period)
            for index in range(alarm.evaluation_periods)
        ]
        state = decide(alarm, values)
        current = self.read_states().get(alarm.name, "INSUFFICIENT_DATA")
        self.states[alarm.name] = current
        if state is None or state == current:
            return None
        shown = ", ".join("missing" if value is None else f"{value:g}" for value in values)
        reason = (
            f"Threshold Crossed (lab): [{shown}] over the last {alarm.evaluation_periods} period(s) of "
            f"{alarm.period}s, {alarm.statistic} {alarm.comparison} {alarm.threshold:g}"
        )
        reason_data = json.dumps({"version": "1.0", "statistic": alarm.statistic, "recentDatapoints": values})
        self.aws.client("cloudwatch").set_alarm_state(
            AlarmName=alarm.name, StateValue=state, StateReason=reason[:1023], StateReasonData=reason_data
        )
        self.states[alarm.name] = state
        self.history.append((time.time(), alarm.name, state))
        LOG.info("alarm %s: %s -> %s", alarm.name, current, state)
        self.on_change(alarm_event(alarm, self.aws.region, state, current, reason))
        return state
