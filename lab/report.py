"""Turn one run's records into its per-second CSV, PNG timeline, markdown report and summary figures."""

from __future__ import annotations

import csv
import itertools
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class RunData:
    """Everything a run recorded; times are seconds since the epoch, ``t0`` is the start of the load."""

    name: str
    t0: float
    requests: list[dict]  # client view: start, end, status (0 = no answer), served_by, error
    balancer: list[dict]  # lab view: start, end, target_group, status, reason
    samples: list[dict]  # once a second: time, weight_lambda, weight_ecs, desired, running, healthy, alarms{}
    alarm_changes: list[tuple[float, str, str]]
    scaler_actions: list[tuple[float, str, str]]  # time, action, reason
    task_events: list[tuple[float, str]]
    # What no scaler can beat after the alarm asking for capacity (seconds): "task start", "health" (its minimum, used
    # when no task turned healthy: the run's own is measured), "propagation".
    floor_parts: dict[str, float] = field(default_factory=dict)
    spill_alarms: list[str] = field(default_factory=list)
    capacity_alarms: list[str] = field(default_factory=list)  # the alarms whose ALARM asks the scaler for tasks
    weight_moves: list[tuple[float, int]] = field(default_factory=list)  # time, ECS share written (percent)


def _first(times: list[float]) -> float | None:
    return min(times) if times else None


def _rate(failed: int, total: int) -> float | None:
    return failed / total if total else None


def failed(request: dict) -> bool:
    return request["status"] == 0 or request["status"] >= 500


def summarize(data: RunData) -> dict:
    """The figures the report and ``compare`` print (times relative to ``t0``, in seconds)."""
    rel = lambda moment: None if moment is None else round(moment - data.t0, 1)  # noqa: E731
    total = len(data.requests)
    failures = sum(failed(request) for request in data.requests)
    throttles = [r["start"] for r in data.balancer if r.get("reason") == "LambdaThrottling"]
    if not data.balancer:  # against a real ALB: the first 502 served by the Lambda group stands for it
        throttles = [r["start"] for r in data.requests if r["status"] == 502]
    first_throttle = _first(throttles)
    # When the load balancer first sent a request to ECS that ECS answered (the request's start, not its end).
    ecs_served = [r["start"] for r in data.requests if r.get("served_by") == "ecs" and not failed(r)]
    first_ecs = _first(ecs_served)
    alarm = _first(
        [moment for moment, name, state in data.alarm_changes if state == "ALARM" and name in data.spill_alarms]
    )
    healthy = _first([s["time"] for s in data.samples if s.get("healthy", 0) >= 1])
    # To the moment: the health checks' verdict (the ECS follower's task event), the scaler's write.
    first_running = _first([moment for moment, message in data.task_events if " running at " in message])
    first_healthy = _first([moment for moment, message in data.task_events if message.endswith(" healthy")])
    first_move = _first([moment for moment, share in data.weight_moves if share > 0])
    capacity = _first(
        [
            moment
            for moment, name, state in data.alarm_changes
            if state == "ALARM" and name in (data.capacity_alarms or data.spill_alarms)
        ]
    )
    step = _first(
        [s["time"] for s in data.samples if s.get("weight_ecs", 0) > 0 and (healthy and s["time"] >= healthy)]
    )
    after_step = [r for r in data.requests if step is not None and r["start"] >= step]
    after_alarm = [r for r in data.requests if alarm is not None and r["start"] >= alarm]
    weight_changes = []
    for before, after in itertools.pairwise(data.samples):
        if (before.get("weight_lambda"), before.get("weight_ecs")) != (
            after.get("weight_lambda"),
            after.get("weight_ecs"),
        ):
            weight_changes.append(after["time"])
    gaps = [b - a for a, b in itertools.pairwise(weight_changes)]
    last = data.samples[-1] if data.samples else {}
    # The floor: from the first throttle to the first alarm that asks for capacity (before the throttle, when the
    # warning came early), then a task's start, its health checks (measured: the app's start, then the checks) and
    # the new weights' propagation.
    detection = None if first_throttle is None or capacity is None else capacity - first_throttle
    parts, floor = {}, None
    if detection is not None and data.floor_parts:
        parts = {"detection": round(detection, 1), **data.floor_parts}
        if first_running is not None and first_healthy is not None:
            parts["health"] = round(first_healthy - first_running, 1)
        floor = round(sum(parts.values()), 1)
    throttle_to_ecs = None if first_throttle is None or first_ecs is None else round(first_ecs - first_throttle, 1)
    return {
        "requests": total,
        "failed": failures,
        "error_rate": _rate(failures, total),
        "served_lambda": sum(r.get("served_by") == "lambda" and not failed(r) for r in data.requests),
        "served_ecs": sum(r.get("served_by") == "ecs" and not failed(r) for r in data.requests),
        "status_502": sum(r["status"] == 502 for r in data.requests),
        "status_503": sum(r["status"] == 503 for r in data.requests),
        "status_504": sum(r["status"] == 504 for r in data.requests),
        "first_throttle_s": rel(first_throttle),
        "alarm_s": rel(alarm),
        "first_healthy_s": rel(healthy),
        "detection_s": None if detection is None else round(detection, 1),
        "healthy_to_weight_s": None
        if first_healthy is None or first_move is None
        else round(first_move - first_healthy, 2),
        "first_step_s": rel(step),
        "first_ecs_served_s": rel(first_ecs),
        "throttle_to_ecs_s": throttle_to_ecs,
        "floor_s": floor,
        "floor_parts": parts,
        "over_floor_s": None if floor is None or throttle_to_ecs is None else round(throttle_to_ecs - floor, 1),
        "error_rate_after_alarm": _rate(sum(map(failed, after_alarm)), len(after_alarm)),
        "failed_after_step": sum(map(failed, after_step)),
        "error_rate_after_step": _rate(sum(map(failed, after_step)), len(after_step)),
        "max_weight_ecs": max((s.get("weight_ecs", 0) for s in data.samples), default=0),
        "max_ecs_share": max((_share(s) for s in data.samples), default=0.0),
        "weights_returned": bool(last) and last.get("weight_ecs", 0) == 0 and last.get("weight_lambda", 0) > 0,
        "weight_changes": len(weight_changes),
        "min_seconds_between_weight_changes": round(min(gaps), 1) if gaps else None,
        "scaler_actions": len(data.scaler_actions),
        "task_hours": round(task_seconds(data.samples) / 3600, 4),
    }


def task_seconds(samples: list[dict]) -> float:
    """Fargate task-seconds of the run: the tasks provisioning, running or draining (Fargate bills from the image
    pull to the task's stop), integrated over the samples."""
    total = 0.0
    for before, after in itertools.pairwise(samples):
        tasks = before.get("pending", 0) + before.get("running", 0) + before.get("draining", 0)
        total += tasks * (after["time"] - before["time"])
    return total


def _share(sample: dict) -> float:
    total = sample.get("weight_lambda", 0) + sample.get("weight_ecs", 0)
    return sample.get("weight_ecs", 0) / total if total else 0.0


def per_second(data: RunData) -> list[dict]:
    """One row per second of the run: requests by where served, status classes, latency, state."""
    end = max([r["end"] for r in data.requests] + [s["time"] for s in data.samples] + [data.t0])
    rows = []
    buckets: dict[int, list[dict]] = {}
    for request in data.requests:
        buckets.setdefault(math.floor(request["start"] - data.t0), []).append(request)
    samples = {math.floor(s["time"] - data.t0): s for s in data.samples}
    actions = {}
    for moment, action, _ in data.scaler_actions:
        actions.setdefault(math.floor(moment - data.t0), []).append(action)
    state: dict = {}
    for second in range(0, math.floor(end - data.t0) + 1):
        requests = buckets.get(second, [])
        latencies = sorted((r["end"] - r["start"]) * 1000 for r in requests if not failed(r))
        state = samples.get(second, state)
        row = {
            "second": second,
            "requests": len(requests),
            "served_lambda": sum(r.get("served_by") == "lambda" and not failed(r) for r in requests),
            "served_ecs": sum(r.get("served_by") == "ecs" and not failed(r) for r in requests),
            "status_2xx": sum(200 <= r["status"] < 300 for r in requests),
            "status_4xx": sum(400 <= r["status"] < 500 for r in requests),
            "status_5xx": sum(r["status"] >= 500 for r in requests),
            "no_answer": sum(r["status"] == 0 for r in requests),
            "p50_ms": round(statistics.median(latencies), 1) if latencies else "",
            "p95_ms": round(latencies[max(0, math.ceil(0.95 * len(latencies)) - 1)], 1) if latencies else "",
            "weight_lambda": state.get("weight_lambda", ""),
            "weight_ecs": state.get("weight_ecs", ""),
            "desired": state.get("desired", ""),
            "running": state.get("running", ""),
            "healthy": state.get("healthy", ""),
            "lambda_in_flight": state.get("lambda_in_flight", ""),
            "scaler_actions": " ".join(actions.get(second, [])),
        }
        for alarm, value in sorted(state.get("alarms", {}).items()):
            row[f"alarm:{alarm}"] = value
        rows.append(row)
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    fields: list[str] = []
    for row in rows:
        fields.extend(key for key in row if key not in fields)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def plot(data: RunData, rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = [row["second"] for row in rows]
    figure, (served, weights, tasks) = plt.subplots(3, 1, figsize=(12, 9), sharex=True, height_ratios=[3, 1.4, 1.4])
    lambda_ok = [row["served_lambda"] for row in rows]
    ecs_ok = [row["served_ecs"] for row in rows]
    errors = [row["status_5xx"] + row["no_answer"] for row in rows]
    served.bar(seconds, lambda_ok, width=1.0, color="#f39c12", label="served by Lambda")
    served.bar(seconds, ecs_ok, width=1.0, bottom=lambda_ok, color="#2e86c1", label="served by ECS")
    served.bar(
        seconds,
        errors,
        width=1.0,
        bottom=[a + b for a, b in zip(lambda_ok, ecs_ok, strict=True)],
        color="#c0392b",
        label="5xx / no answer",
    )
    served.set_ylabel("requests / s (by start)")
    served.set_title(f"spillover lab: {data.name}")
    share = [
        (100 * row["weight_ecs"] / (row["weight_lambda"] + row["weight_ecs"]))
        if row["weight_ecs"] != "" and (row["weight_lambda"] + row["weight_ecs"])
        else 0
        for row in rows
    ]
    weights.step(seconds, share, where="post", color="#2e86c1", label="ECS weight %")
    weights.set_ylim(-5, 105)
    weights.set_ylabel("ECS weight %")
    for key, color in (("desired", "#7f8c8d"), ("running", "#8e44ad"), ("healthy", "#27ae60")):
        tasks.step(seconds, [row[key] if row[key] != "" else 0 for row in rows], where="post", color=color, label=key)
    tasks.set_ylabel("ECS tasks")
    tasks.set_xlabel("seconds since the load started")
    for moment, name, state in data.alarm_changes:
        if name in data.spill_alarms:
            for axis in (served, weights, tasks):
                axis.axvline(moment - data.t0, color="#c0392b" if state == "ALARM" else "#27ae60", ls="--", lw=0.8)
    for moment, action, _ in data.scaler_actions:
        if action not in ("noop", "ignored"):
            weights.axvline(moment - data.t0, color="#555555", ls=":", lw=0.8)
            weights.annotate(action, (moment - data.t0, 102), fontsize=7, rotation=90, va="top", ha="right")
    for axis in (served, weights, tasks):
        axis.legend(loc="upper right", fontsize=8)
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _share_percent(row: dict) -> float:
    if row["weight_ecs"] == "" or not (row["weight_lambda"] + row["weight_ecs"]):
        return 0.0
    return 100 * row["weight_ecs"] / (row["weight_lambda"] + row["weight_ecs"])


def compare_plot(runs: dict[str, RunData], path: Path) -> None:
    """One figure of several runs of the same burst: their 5xx (and unanswered) requests per second, and their ECS
    share of the weights, over the seconds since the load started."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (errors, shares) = plt.subplots(2, 1, figsize=(12, 7), sharex=True, height_ratios=[2, 1.2])
    for name, data in runs.items():
        rows = per_second(data)
        seconds = [row["second"] for row in rows]
        (line,) = errors.plot(seconds, [row["status_5xx"] + row["no_answer"] for row in rows], lw=1.0, label=name)
        shares.step(seconds, [_share_percent(row) for row in rows], where="post", color=line.get_color(), label=name)
    errors.set_ylabel("5xx / no answer per s")
    errors.set_title("spillover lab: " + ", ".join(runs))
    shares.set_ylabel("ECS weight %")
    shares.set_ylim(-5, 105)
    shares.set_xlabel("seconds since the load started")
    for axis in (errors, shares):
        axis.legend(loc="upper right", fontsize=8)
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def sweep_plot(points: list[tuple[str, float, int]], path: Path) -> None:
    """Failed requests against Fargate task-hours, one labelled point per run (``(label, task-hours, failed)``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 5))
    axis.plot([hours for _, hours, _ in points], [failed for _, _, failed in points], marker="o", color="#2e86c1")
    for label, hours, failed in points:
        axis.annotate(label, (hours, failed), textcoords="offset points", xytext=(6, 6), fontsize=9)
    axis.set_xlabel("Fargate task-hours of the run")
    axis.set_ylabel("failed requests (5xx or no answer)")
    axis.set_title("spillover lab: standby tasks, failed requests against task-hours")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def floor_text(summary: dict) -> str:
    """The floor and its parts, as one line: ``58.1 = detection 7.1 + task start 45 + health 5 + propagation 1``."""
    parts = summary.get("floor_parts") or {}
    if not parts:
        return "- (no throttle or no alarm asking for capacity)"
    return (
        f"{fmt(summary.get('floor_s'))} = " + " + ".join(f"{name} {value:g}" for name, value in parts.items()) + " (s)"
    )


def fmt(value, key: str = "") -> str:
    if value is None:
        return "-"
    if "rate" in key:
        return f"{value:.2%}"
    return str(value)


SUMMARY_ROWS = [
    ("requests", "requests sent"),
    ("failed", "failed requests (5xx or no answer)"),
    ("error_rate", "error rate"),
    ("served_lambda", "served by Lambda"),
    ("served_ecs", "served by ECS"),
    ("status_502", "502 (throttled / failed invoke)"),
    ("status_503", "503 (no registered target)"),
    ("status_504", "504 (target timeout)"),
    ("first_throttle_s", "first throttle (s)"),
    ("alarm_s", "first spill alarm (s)"),
    ("detection_s", "first throttle -> first alarm asking for capacity (s)"),
    ("first_healthy_s", "first ECS target healthy (s)"),
    ("first_step_s", "first weight to ECS (s)"),
    ("healthy_to_weight_s", "first ECS target healthy -> first weight moved (s)"),
    ("first_ecs_served_s", "first request served by ECS (s)"),
    ("throttle_to_ecs_s", "first throttle -> first ECS-served (s)"),
    ("floor_s", "lab floor (s)"),
    ("over_floor_s", "above the floor (s)"),
    ("error_rate_after_alarm", "error rate after the alarm"),
    ("error_rate_after_step", "error rate after healthy + first step"),
    ("max_weight_ecs", "highest ECS weight"),
    ("weights_returned", "weights back to Lambda at the end"),
    ("weight_changes", "weight changes"),
    ("min_seconds_between_weight_changes", "shortest time between weight changes (s)"),
    ("task_hours", "Fargate task-hours"),
]


def table(summaries: dict[str, dict]) -> list[str]:
    """A markdown table, one column per run."""
    names = list(summaries)
    lines = ["| figure | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key, label in SUMMARY_ROWS:
        lines.append(f"| {label} | " + " | ".join(fmt(summaries[name].get(key), key) for name in names) + " |")
    return lines


def markdown(data: RunData, summary: dict, path: Path, png: str, csv_name: str) -> None:
    lines = [
        f"# Spillover lab run: {data.name}",
        "",
        f"![timeline]({png})",
        "",
        f"Per-second data: [{csv_name}]({csv_name})",
        "",
    ]
    lines += table({data.name: summary})
    if data.floor_parts:
        lines += [
            "",
            "## The lab's floor",
            "",
            "From the first throttle to the first alarm that asks for capacity (detection; negative when the warning",
            "came before the throttle), then a task's start, its health checks (from its first task running to its",
            "first target healthy: the app's start, then the checks) and the load balancer taking up the new weights;",
            "the first ECS-served request is counted from its start:",
            "",
            floor_text(summary),
        ]
    lines += ["", "## Alarm changes", ""]
    lines += [f"- {moment - data.t0:7.1f} s  {name} -> {state}" for moment, name, state in data.alarm_changes] or [
        "- none"
    ]
    lines += ["", "## Scaler actions", ""]
    lines += [f"- {moment - data.t0:7.1f} s  {action}: {reason}" for moment, action, reason in data.scaler_actions] or [
        "- none"
    ]
    lines += ["", "## ECS tasks", ""]
    lines += [f"- {moment - data.t0:7.1f} s  {message}" for moment, message in data.task_events] or ["- none"]
    path.write_text("\n".join(lines) + "\n")


def write_all(data: RunData, directory: Path) -> dict:
    summary = summarize(data)
    rows = per_second(data)
    write_csv(rows, directory / "timeline.csv")
    plot(data, rows, directory / "timeline.png")
    markdown(data, summary, directory / "report.md", "timeline.png", "timeline.csv")
    (directory / "summary.json").write_text(json.dumps({"name": data.name, **summary}, indent=2))
    return summary
