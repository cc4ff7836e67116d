"""Publish the metrics AWS would publish for the lab's data plane, one aggregated datum per second.

Values are collected per (namespace, metric, dimensions, second) and sent with ``PutMetricData`` as
``StatisticValues`` (sum, minimum, maximum, sample count) at 1-second storage resolution, so alarms with
10-second periods evaluate them as they would high-resolution metrics on AWS.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime

from lab.aws import Aws

LOG = logging.getLogger(__name__)
BATCH = 500


class MetricsPublisher:
    def __init__(self, aws: Aws) -> None:
        self._aws = aws
        self._lock = threading.Lock()
        self._pending: dict[tuple, list[float]] = defaultdict(list)
        self._units: dict[tuple, str] = {}
        self.published = 0

    def add(self, namespace: str, metric: str, dimensions: dict[str, str], value: float, unit: str = "Count") -> None:
        key = (namespace, metric, tuple(sorted(dimensions.items())), math.floor(time.time()))
        with self._lock:
            self._pending[key].append(float(value))
            self._units[key[:3]] = unit

    def flush(self, everything: bool = False) -> None:
        """Send every finished second (and, with ``everything``, the current one too)."""
        current = math.floor(time.time())
        with self._lock:
            ready = {key: values for key, values in self._pending.items() if everything or key[3] < current}
            for key in ready:
                del self._pending[key]
        by_namespace: dict[str, list[dict]] = defaultdict(list)
        for (namespace, metric, dimensions, second), values in sorted(ready.items(), key=lambda item: item[0][3]):
            by_namespace[namespace].append(
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": name, "Value": value} for name, value in dimensions],
                    "Timestamp": datetime.fromtimestamp(second, UTC),
                    "StatisticValues": {
                        "SampleCount": float(len(values)),
                        "Sum": sum(values),
                        "Minimum": min(values),
                        "Maximum": max(values),
                    },
                    "Unit": self._units[(namespace, metric, dimensions)],
                    "StorageResolution": 1,
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
