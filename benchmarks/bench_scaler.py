"""Benchmark the scaler (files/scaler/scaler.py): cold import, decision time, AWS calls per invocation.

Run from the repository root: ``.venv/bin/python -m benchmarks.bench_scaler`` (``make bench-scaler``).
It starts its own local AWS (moto server) and a recording proxy in front of it, builds the resources the
scaler manages (with the app function, so the step-down guard is on as site.yml deploys it), and drives one
spill-and-recovery cycle with an injected clock, putting the request counts the ALB would publish for the
guard. Latencies against moto are local-loopback figures, not AWS ones; the call counts are the same as on AWS.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import timeit
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.aws_recorder import AwsRecorder
from tests.support.local_aws import CREDENTIALS, MotoServer
from tests.support.scaler_stack import (
    APP_FUNCTION,
    SCHEDULED_EVENT,
    SPILL_ALARM,
    build_stack,
    load_scaler_module,
    scaler_code_dir,
)
from tests.unit.files.scaler.test_scaler_decide import CONFIG, NOW
from tests.unit.files.scaler.test_scaler_decide import state as decided_state

IMPORT_RUNS = 7


def cold_import_seconds(env: dict[str, str], statement: str, code_dir: Path) -> list[float]:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    times = []
    for _run in range(IMPORT_RUNS):
        done = subprocess.run(
            [sys.executable, "-X", "frozen_modules=on", "-c", code],
            cwd=code_dir,
            env={**env, "PYTHONDONTWRITEBYTECODE": "1"},
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(float(done.stdout.strip().splitlines()[-1]))
    return times


def decision_microseconds(scaler) -> dict[str, float]:
    now, config = NOW, CONFIG  # 4 spill tasks, 1 standby, steps 25/50/100, 60 s steps, 300 s cooldown, 120 s drain

    def state(spill: str, share: int, healthy: int) -> object:
        """4 tasks running, the alarms in their state for 400 s, the last move 90 s ago."""
        return decided_state(share, 4, healthy, last_move=90, spill=spill, spill_since=400, warm_since=400)

    cases = {
        "idle (noop)": state("OK", 0, 4),
        "spill, step up": state("ALARM", 25, 4),
        "spill, waiting for health": state("ALARM", 50, 3),
        "recovery, step down": state("OK", 50, 4),
    }
    # The step-down guard on top of a due step down: parse 4 metric series of 3 periods, then judge.
    guarded = replace(config, function_name="app")
    moments = [now - timedelta(seconds=60 * index) for index in range(1, 4)]
    metric_results = [
        {"Id": query_id, "Timestamps": moments, "Values": values}
        for query_id, values in (
            (scaler.LAMBDA_REQUESTS, [600.0, 900.0, 300.0]),
            (scaler.ECS_REQUESTS, [1200.0, 900.0, 1500.0]),
            (scaler.LAMBDA_DURATION, [950.0, 1000.0, 1050.0]),
            (scaler.ECS_RESPONSE_TIME, [1.0, 1.1, 0.9]),
        )
    ]

    def guarded_step_down(current=cases["recovery, step down"]):
        decision = scaler.decide(current, guarded, now)
        load = scaler.load_from_metrics(metric_results, 60, 10)
        return scaler.guard_step_down(decision, current, load, guarded)[0]

    assert guarded_step_down().action == "noop"  # 30 req/s x 75 % x 1 s = 22.5, not below 6: held

    functions = {name: (lambda current=current: scaler.decide(current, config, now)) for name, current in cases.items()}
    functions["recovery, step down + guard (held)"] = guarded_step_down
    results = {}
    for name, function in functions.items():
        timer = timeit.Timer(function)
        loops = timer.autorange()[0]
        best = min(timer.repeat(repeat=5, number=loops)) / loops
        results[name] = best * 1e6
    return results


def main() -> None:
    os.environ.update(CREDENTIALS)
    scaler = load_scaler_module()
    with tempfile.TemporaryDirectory() as tmp:
        server = MotoServer(log_path=Path(tmp) / "moto.log").start()
        recorder = AwsRecorder(server.endpoint).start()
        try:
            stack = build_stack(server.endpoint)
            stack.create_app_function(reserved_concurrency=10)
            guard = {"SPILLOVER_FUNCTION_NAME": APP_FUNCTION}  # the step-down guard on, as site.yml deploys it
            env = {**os.environ, **stack.environment(**guard)}
            env = {key: value for key, value in env.items() if key != "PYTHONPATH"}

            code_dir = scaler_code_dir(Path(tmp))  # the zip as roles/scaler builds it, unpacked
            print("scaler benchmark (files/scaler/scaler.py)")
            print(f"\ncold import, fresh interpreters (n={IMPORT_RUNS}, median [min-max]):")
            for label, statement in (
                ("import scaler (config + 4 boto3 clients)", "import scaler"),
                ("  of which: import boto3 alone", "import boto3"),
                ("  of which: the packed codec and health count", "import forward_action, target_health"),
            ):
                times = cold_import_seconds(env, statement, code_dir)
                spread = f"[{min(times) * 1000:.1f}-{max(times) * 1000:.1f}]"
                print(f"  {label:44s} {statistics.median(times) * 1000:7.1f} ms  {spread}")

            print("\ndecision time, pure function decide() (best of 5 repeats):")
            for name, micros in decision_microseconds(scaler).items():
                print(f"  {name:44s} {micros:7.2f} µs")

            now = [datetime.now(UTC)]
            scaler_ = scaler.Scaler.from_environment(
                {**stack.environment(AWS_ENDPOINT_URL=recorder.endpoint, **guard)}, clock=lambda: now[0]
            )

            rows = []

            def put_load(**load) -> None:
                """The datapoints the ALB published in the newest minute the guard reads at the scaler's clock (its
                window ends the default delivery lag before now)."""
                stack.put_load(scaler.metric_window_end(now[0], 60, 180) - timedelta(seconds=30), **load)

            def invoke(label: str, advance: float = 0) -> None:
                now[0] += timedelta(seconds=advance)
                recorder.reset()
                started = datetime.now(UTC)
                record = scaler_.handle(SCHEDULED_EVENT)
                elapsed = (datetime.now(UTC) - started).total_seconds() * 1000
                calls = recorder.calls
                reads = [call for call in calls if not call.is_write]
                writes = [call for call in calls if call.is_write]
                rows.append((label, record["action"], len(reads), len(writes), elapsed, writes))

            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (the scaler's JSON lines; restored below)
            try:
                invoke("steady state, idle")
                invoke("steady state, idle (again)")
                stack.set_alarm(SPILL_ALARM, "ALARM")
                invoke("spill: scale out (no healthy target)")
                stack.add_healthy_targets(2)
                invoke("spill: step 0 -> 25%")
                invoke("spill: waiting for step time", 30)
                invoke("spill: step 25 -> 50%", 30)
                invoke("spill: step 50 -> 100%", 60)
                invoke("steady state, spilled at 100%", 60)
                stack.set_alarm(SPILL_ALARM, "OK")
                now[0] += timedelta(seconds=300)
                put_load(ecs_requests=1800, ecs_seconds=1.0)  # still at the peak: 30 req/s, all on ECS
                invoke("recovery: held by the step-down guard")
                now[0] += timedelta(seconds=240)
                put_load(ecs_requests=120, ecs_seconds=1.0)  # the burst is over: 2 req/s
                invoke("recovery: step 100 -> 50%")
                invoke("recovery: step 50 -> 25%", 60)
                invoke("recovery: step 25 -> 0%", 60)
                invoke("recovery: scale in after drain", 120)
                invoke("steady state, idle after the cycle", 60)
            finally:
                sys.stdout.close()
                sys.stdout = sys.__stdout__

            print("\nAWS calls per invocation (scheduled event; through a recording proxy to the local AWS):")
            print(f"  {'phase':38s} {'action':10s} {'reads':>5s} {'writes':>6s} {'ms (moto)':>9s}  writes")
            for label, action, reads, writes, elapsed, write_calls in rows:
                names = ", ".join(f"{call.operation}" for call in write_calls) or "-"
                print(f"  {label:38s} {action:10s} {reads:5d} {writes:6d} {elapsed:9.1f}  {names}")
            read_kinds = Counter()
            recorder.reset()
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
            try:
                scaler_.handle(SCHEDULED_EVENT)
            finally:
                sys.stdout.close()
                sys.stdout = sys.__stdout__
            read_kinds.update(f"{call.service}:{call.operation}" for call in recorder.calls)
            print(
                f"\n  steady-state reads: {', '.join(f'{name} x{count}' for name, count in sorted(read_kinds.items()))}"
            )
            steps = [row for row in rows if row[1] in ("step_up", "step_down")]
            idle = [row for row in rows if row[1] == "noop"]
            print(
                f"  per weight step: {statistics.median(row[2] for row in steps):.0f} reads, "
                f"{statistics.median(row[3] for row in steps):.0f} writes (median of {len(steps)} steps); "
                f"per no-op: {statistics.median(row[2] for row in idle):.0f} reads, "
                f"{max(row[3] for row in idle)} writes (max of {len(idle)})"
            )
        finally:
            recorder.stop()
            server.stop()


if __name__ == "__main__":
    main()
