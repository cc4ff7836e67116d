"""Publish the metrics of the lab's data plane as AWS would deliver them: aggregated datapoints, on AWS's clock.

Values are collected per (namespace, metric, dimensions, period) and sent with ``PutMetricData`` as
``StatisticValues`` (sum, minimum, maximum, sample count). How a namespace's datapoints reach CloudWatch is its
:class:`Delivery`: the seconds aggregated into one datum and the delay after that period ends before the datum is
stored. The lab's short clock publishes everything per second at once, so that 10-second alarms can evaluate the
``AWS/Lambda`` and ``AWS/ApplicationELB`` metrics; AWS's clock (:mod:`lab.profiles`) publishes those two only per
minute and late, as AWS does, and the app's embedded-metric-format metrics (:mod:`lab.emf`) at the storage
resolution their lines ask for.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from lab.aws import Aws

LOG = logging.getLogger(__name__)
BATCH = 500


@dataclass(frozen=True)
class Delivery:
    """How one namespace's datapoints reach CloudWatch."""

    period: int | None = None  # seconds aggregated into one datum (60: per minute); None: the datum's own resolution
    delay: float = 0.0  # seconds after its period ends before the datum is stored (and alarms can see it)


PER_SECOND = Delivery()


class MetricsPublisher:
    """Aggregate datapoints and send each one once its :class:`Delivery` says it has reached CloudWatch.

    ``deliveries`` maps namespaces to their delivery; any other namespace gets ``default``. ``clock`` (the time of
    day, epoch seconds) is injectable for tests.
    """

    def __init__(
        self,
        aws: Aws,
        deliveries: Mapping[str, Delivery] | None = None,
        default: Delivery = PER_SECOND,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._aws = aws
        self._deliveries = dict(deliveries or {})
        self._default = default
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[tuple, list[float]] = defaultdict(list)
        self._units: dict[tuple, str] = {}
        self.published = 0

    def delivery(self, namespace: str) -> Delivery:
        return self._deliveries.get(namespace, self._default)

    def add(
        self,
        namespace: str,
        metric: str,
        dimensions: dict[str, str],
        value: float,
        unit: str = "Count",
        timestamp: float | None = None,
        storage_resolution: int = 1,
    ) -> None:
        """One value of ``metric`` at ``timestamp`` (default: now), in a datum of the namespace's period, or of
        ``storage_resolution`` seconds (1 or 60) when the namespace's delivery keeps the datum's own."""
        period = self.delivery(namespace).period or storage_resolution
        moment = self._clock() if timestamp is None else timestamp
        key = (namespace, metric, tuple(sorted(dimensions.items())), math.floor(moment / period) * period, period)
        with self._lock:
            self._pending[key].append(float(value))
            self._units[key[:3]] = unit

    def flush(self, everything: bool = False) -> None:
        """Send every datum whose period has ended and whose delay is over (with ``everything``: all of them)."""
        now = self._clock()
        with self._lock:
            ready = {
                key: values
                for key, values in self._pending.items()
                if everything or key[3] + key[4] + self.delivery(key[0]).delay <= now
            }
            for key in ready:
                del self._pending[key]
        by_namespace: dict[str, list[dict]] = defaultdict(list)
        for (namespace, metric, dimensions, start, period), values in sorted(
            ready.items(), key=lambda item: item[0][3]
        ):
            by_namespace[namespace].append(
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": name, "Value": value} for name, value in dimensions],
                    "Timestamp": datetime.fromtimestamp(start, UTC),
                    "StatisticValues": {
                        "SampleCount": float(len(values)),
                        "Sum": sum(values),
                        "Minimum": min(values),
                        "Maximum": max(values),
                    },
                    "Unit": self._units[(namespace, metric, dimensions)],
                    "StorageResolution": 1 if period < 60 else 60,
                }
            )
        cloudwatch = self._aws.client("cloudwatch")
        for namespace, data in by_namespace.items():
            for start in range(0, len(data), BATCH):
                try:
                    cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + BATCH])
                    self.published += len(data[start : start + BATCH])
                except Exception:
                    LOG.exception("PutMetricData to %s failed", namespace)
