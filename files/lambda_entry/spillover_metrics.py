"""Per-invocation CloudWatch metrics of a Lambda handler, as embedded metric format (EMF) log lines.

``metered(handler)`` wraps a Lambda handler. Each invocation, whether it returns or raises, writes one JSON line to
stdout, which the Lambda runtime sends to CloudWatch Logs, where the embedded metric format turns it into metrics
(AWS's "Specification: Embedded metric format"):

- ``Invocations`` (Count): 1 per invocation, so a failing handler is counted too;
- ``Duration`` (Milliseconds): the handler's own time, measured around the call;
- ``ColdStart`` (Count): 1 on the first invocation of this wrapped handler in its execution environment, else 0;

in the namespace ``Spillover`` with the one dimension ``FunctionName`` (``AWS_LAMBDA_FUNCTION_NAME``, which identifies
the function and so its stack: ``<stack>-app``), at a storage resolution of 1 second (high resolution), so alarms
may evaluate them every 10 s. ``_aws.Timestamp`` is the start of the invocation: the metrics count arrivals, as
Little's law (concurrency = arrival rate x duration) wants them. The alarm role's pressure alarms read exactly this
namespace, metric and dimension.

Why not a library. Both that the project considered were measured on the demo app's zip (built by lambda_zip, no
byte code, cold import of ``app.lambda_handler`` in a fresh interpreter, median of 9):

- aws-lambda-powertools 3.37 (Metrics): the zip grows from 61 KiB to 1089 KiB, over the app's 1 MiB budget;
- aws-embedded-metrics 3.5: the zip fits (677 KiB, 600 KiB of it aiohttp and its dependencies), but the package
  imports aiohttp at import time (for its EC2 agent sink), which takes the cold import from 84 ms to 348 ms, over
  the app's 150 ms budget (benchmarks/bench_app.py), on every cold start;

so this module writes the three metrics itself, with the standard library only; tests/unit/files/lambda_entry
checks every line against the specification.

The scaler (files/scaler/scaler.py) writes its own metrics through the same emitter: ``emf_members`` gives the EMF
members of any set of metrics (the ``_aws`` directive and the root members), which the scaler adds to its decision
line, so that one line is both the decision (for Logs Insights) and its metrics.

Standard library only, and importable as the top-level module ``spillover_metrics``: the lambda_function and scaler
roles pack this file at the root of their function's zip (lambda_zip's ``extra_files``), beside the handler. In the
app's zip it sits beside the app and the collection's entry (spillover_entry.py), whose handler it wraps, so that
every app the collection deploys gets these metrics. The ``spillover_`` prefix keeps it clear of an app's own
``metrics`` module (lambda_zip refuses a name in both).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

NAMESPACE = "Spillover"
DIMENSION = "FunctionName"
INVOCATIONS, DURATION, COLD_START = "Invocations", "Duration", "ColdStart"
UNITS = {INVOCATIONS: "Count", DURATION: "Milliseconds", COLD_START: "Count"}
STORAGE_RESOLUTION = 1  # seconds: high resolution (standard is 60)


def emf_members(
    timestamp: float, dimensions: Mapping[str, str], values: Mapping[str, tuple[float, str]], namespace: str = NAMESPACE
) -> dict[str, Any]:
    """The members of one EMF document: the ``_aws`` directive (``Timestamp`` ``timestamp``, epoch s) of the metrics
    ``values`` (``{name: (value, unit)}``) under the one dimension set ``dimensions`` (``{name: value}``), at 1 s
    storage resolution, and the root members that carry the dimensions' and the metrics' values."""
    return {
        "_aws": {
            "Timestamp": int(timestamp * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [list(dimensions)],
                    "Metrics": [
                        {"Name": name, "Unit": unit, "StorageResolution": STORAGE_RESOLUTION}
                        for name, (_value, unit) in values.items()
                    ],
                }
            ],
        },
        **dimensions,
        **{name: value for name, (value, _unit) in values.items()},
    }


def current_function_name(context: Any) -> str:
    """The name of the running function: the runtime's ``AWS_LAMBDA_FUNCTION_NAME``, else the context's, else
    ``unknown`` (a benchmark or a test calling the handler directly)."""
    return os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or getattr(context, "function_name", "") or "unknown"


def emf_line(function_name: str, started: float, duration_ms: float, cold_start: bool, request_id: str = "") -> str:
    """One EMF document, as one line: the three metrics of one invocation that started at ``started`` (epoch s)."""
    values = {
        INVOCATIONS: (1, UNITS[INVOCATIONS]),
        DURATION: (round(duration_ms, 3), UNITS[DURATION]),
        COLD_START: (1 if cold_start else 0, UNITS[COLD_START]),
    }
    document = emf_members(started, {DIMENSION: function_name}, values)
    if request_id:
        document["requestId"] = request_id  # a plain member: kept in the log event, not a metric
    return json.dumps(document, separators=(",", ":"))


def metered(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``handler`` with one EMF line written per invocation (see the module's documentation)."""
    cold = True

    @functools.wraps(handler)
    def metered_handler(event: Any, context: Any) -> Any:
        nonlocal cold
        cold_start, cold = cold, False
        started, begin = time.time(), time.perf_counter()
        try:
            return handler(event, context)
        finally:
            duration_ms = (time.perf_counter() - begin) * 1000
            request_id = getattr(context, "aws_request_id", "") or ""
            line = emf_line(current_function_name(context), started, duration_ms, cold_start, request_id)
            # One write per line, so that the lines of concurrent threads never interleave.
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    return metered_handler
