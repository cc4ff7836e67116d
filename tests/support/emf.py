"""AWS's embedded metric format (EMF), as checks for the lines the collection's Lambda code writes.

``EMF_SCHEMA`` transcribes the rules of AWS's "Specification: Embedded metric format" (CloudWatch user guide): the
root carries ``_aws`` with an integer ``Timestamp`` (milliseconds since the epoch) and a ``CloudWatchMetrics`` array
of metric directives, each with a ``Namespace``, ``Dimensions`` (an array of dimension sets, each an array of at most
30 dimension names) and ``Metrics`` (at most 100 metric definitions, each with a ``Name``, an optional ``Unit`` among
CloudWatch's units and an optional ``StorageResolution`` of 1 or 60). The directives' objects take no other member.
``target_member_problems`` checks what a schema cannot: every dimension and metric a directive names is a member of
the root, a dimension's value a string, a metric's a number (or an array of at most 100 numbers).

Used by the tests of the app's emitter (files/lambda_entry/spillover_metrics.py) and of the scaler's decision line.
"""

from __future__ import annotations

import json

UNITS = [
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits",
    "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
    "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
]  # fmt: skip
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


def emf_documents(output: str) -> list[dict]:
    documents = [json.loads(line) for line in output.splitlines()]
    return [document for document in documents if "_aws" in document]
