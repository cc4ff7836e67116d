"""CloudWatch Logs' embedded metric format (EMF) extraction, for the output of the lab's Lambda workers.

On AWS the Lambda runtime sends a function's stdout to CloudWatch Logs, which turns each log event that is an EMF
document into metrics (AWS's "Specification: Embedded metric format", CloudWatch user guide). The lab's workers
write their output to the run's ``lambda-app.log``; :class:`EmfExtractor` follows that file as the log service
follows a log stream and, for each line that holds a valid document, puts its metrics through the run's
:class:`lab.metrics.MetricsPublisher` as CloudWatch Logs would: in the directive's namespace, one datum per dimension
set with the dimension values of the root's members, each metric's value (or values) with its unit and storage
resolution, at the document's ``_aws.Timestamp``. The publisher's delivery for the namespace says when the datapoint
is stored (the lab's short clock: at once; AWS's clock: a few seconds later, :mod:`lab.profiles`).

The schema below transcribes the specification's rules: the root carries ``_aws`` with an integer ``Timestamp``
(milliseconds since the epoch) and a ``CloudWatchMetrics`` array of metric directives, each with a ``Namespace``,
``Dimensions`` (an array of dimension sets, each an array of at most 30 dimension names) and ``Metrics`` (at most 100
metric definitions, each with a ``Name``, an optional ``Unit`` among CloudWatch's units and an optional
``StorageResolution`` of 1 or 60, default 60). The directives' objects take no other member.
:func:`target_member_problems` checks what a schema cannot: every dimension and metric a directive names is a member
of the root, a dimension's value a string, a metric's a number (or an array of at most 100 numbers). A document that
fails either check is kept as a log line and gives no metric, as CloudWatch Logs does.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import jsonschema

from lab.background import Periodic
from lab.metrics import MetricsPublisher

LOG = logging.getLogger(__name__)
UNITS = [
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits",
    "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
    "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
]  # fmt: skip
DEFAULT_STORAGE_RESOLUTION = 60
EMF_SCHEMA = {
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "CloudWatchMetrics": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "additionalProperties": False,
                        "properties": {
                            "Namespace": {"type": "string", "minLength": 1, "maxLength": 255},
                            "Dimensions": {
                                "type": "array",
                                "items": {
                                    "type": "array",
                                    "maxItems": 30,
                                    "items": {"type": "string", "minLength": 1, "maxLength": 250},
                                },
                            },
                            "Metrics": {
                                "type": "array",
                                "maxItems": 100,
                                "items": {
                                    "type": "object",
                                    "required": ["Name"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "Name": {"type": "string", "minLength": 1, "maxLength": 1024},
                                        "Unit": {"enum": UNITS},
                                        "StorageResolution": {"enum": [1, 60]},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}
_VALIDATOR = jsonschema.Draft202012Validator(EMF_SCHEMA)


def target_member_problems(document: dict) -> list[str]:
    problems = []
    for directive in document["_aws"]["CloudWatchMetrics"]:
        for name in {name for dimension_set in directive["Dimensions"] for name in dimension_set}:
            if not isinstance(document.get(name), str) or not document[name]:
                problems.append(f"dimension {name} is not a non-empty string member of the root")
        for metric in directive["Metrics"]:
            value = document.get(metric["Name"])
            values = value if isinstance(value, list) else [value]
            if not values or len(values) > 100 or not all(type(item) in (int, float) for item in values):
                problems.append(f"metric {metric['Name']} is not a number (or up to 100 numbers) of the root")
    return problems


def problems(document: object) -> list[str]:
    """Why ``document`` is not an EMF document CloudWatch Logs would extract metrics from (empty: it is one)."""
    found = [error.message for error in _VALIDATOR.iter_errors(document)]
    return found or target_member_problems(document)


@dataclass(frozen=True)
class Datum:
    """One value of one metric, as CloudWatch Logs puts it from an EMF document."""

    namespace: str
    metric: str
    dimensions: dict[str, str]
    value: float
    unit: str
    storage_resolution: int
    timestamp: float  # epoch seconds


def datums(document: dict) -> list[Datum]:
    """The metrics of a valid EMF document: per directive, per dimension set, per metric, per value."""
    timestamp = document["_aws"]["Timestamp"] / 1000
    found = []
    for directive in document["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"] or [[]]:
            dimensions = {name: document[name] for name in dimension_set}
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                for item in value if isinstance(value, list) else [value]:
                    found.append(
                        Datum(
                            directive["Namespace"],
                            metric["Name"],
                            dimensions,
                            float(item),
                            metric.get("Unit", "None"),
                            metric.get("StorageResolution", DEFAULT_STORAGE_RESOLUTION),
                            timestamp,
                        )
                    )
    return found


def extract(line: str) -> tuple[list[Datum], str | None]:
    """The metrics of one log line, and why there are none when it looks like EMF but is not valid."""
    if "_aws" not in line:
        return [], None
    try:
        document = json.loads(line)
    except ValueError:
        return [], "not JSON"
    found = problems(document)
    if found:
        return [], "; ".join(found)
    return datums(document), None


class EmfExtractor(Periodic):
    """Follow ``log_path`` (the Lambda workers' output) and publish the metrics of its EMF lines."""

    def __init__(self, log_path: Path, metrics: MetricsPublisher, interval: float = 0.2) -> None:
        super().__init__("lab-emf", interval)
        self.log_path = log_path
        self.metrics = metrics
        self.extracted = 0  # documents that gave metrics
        self.rejected: list[str] = []  # why the others gave none
        self._offset = 0
        self._partial = b""

    def tick(self) -> None:
        self.read()

    def stop(self) -> None:
        super().stop()
        self.read()  # the lines written last

    def read(self) -> None:
        """Take the complete lines written since the last read."""
        if not self.log_path.exists():
            return
        with open(self.log_path, "rb") as log:
            log.seek(self._offset)
            chunk = log.read()
        self._offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        for raw in lines:
            found, problem = extract(raw.decode("utf-8", "replace"))
            if problem:
                self.rejected.append(problem)
                LOG.info("EMF line without metrics: %s", problem)
            elif found:
                self.extracted += 1
            for datum in found:
                self.metrics.add(
                    datum.namespace,
                    datum.metric,
                    datum.dimensions,
                    datum.value,
                    datum.unit,
                    timestamp=datum.timestamp,
                    storage_resolution=datum.storage_resolution,
                )
