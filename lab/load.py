"""The burst: a Locust load profile, run headless in its own process.

The profile is a list of stages ``(seconds, users)``; the users of a stage ramp linearly from the previous
stage's count. Each user sends ``GET /sleep?seconds=S`` (the profile's ``path``: any app's route that takes
``S`` seconds) once every ``pacing`` seconds (constant pacing), so the offered load is ``users / pacing`` requests
per second whatever the answers are, and each request holds a Lambda execution environment for ``S`` seconds.
``--path`` sends another of the app's routes (:func:`burst_path` chooses one from the app's routes when the app has
no ``/sleep``); a route that answers faster than ``S`` seconds holds Lambda for less time, and the same users then
overflow it less. ``TARGET`` (environment) or ``--target`` points the same profile at a real ALB.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from lab.parity import concrete_path

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
SLEEP_PATH = "/sleep?seconds={seconds}"  # the demo app's route that answers after {seconds}


@dataclass(frozen=True)
class BurstProfile:
    baseline: float = 20.0  # seconds at the baseline load
    ramp: float = 15.0
    hold: float = 90.0
    ramp_down: float = 10.0
    tail: float = 45.0  # back at the baseline
    baseline_factor: float = 0.3  # share of the Lambda capacity (well below the concurrency alarms)
    peak_factor: float = 3.0
    sleep_seconds: float = 1.0
    pacing: float = 2.0
    path: str = SLEEP_PATH  # the request; {seconds} is sleep_seconds

    @property
    def duration(self) -> float:
        return self.baseline + self.ramp + self.hold + self.ramp_down + self.tail

    def users_for(self, capacity_rps: float, factor: float) -> int:
        return max(1, round(capacity_rps * factor * self.pacing))

    def stages(self, reserved_concurrency: int) -> list[tuple[float, int]]:
        """Cumulative ``(end second, users)`` points; Lambda capacity = concurrency / request time."""
        capacity = reserved_concurrency / self.sleep_seconds
        low = self.users_for(capacity, self.baseline_factor)
        high = self.users_for(capacity, self.peak_factor)
        points, elapsed = [(0.0, low)], 0.0
        for seconds, users in ((self.baseline, low), (self.ramp, high), (self.hold, high), (self.ramp_down, low)):
            elapsed += seconds
            points.append((elapsed, users))
        points.append((elapsed + self.tail, low))
        return points


class NoBurstPath(ValueError):
    """No route of the app can carry the burst: ``--path`` must name one."""


def burst_path(routes: list[tuple[str, str]], health_path: str) -> str:
    """The burst's request for an app of these ``(method, path template)`` routes (:func:`lab.parity.app_routes`):
    the demo app's ``/sleep`` when the app has it, else the first GET route without path parameters that the app
    declares, passing over the health check's path unless it is the only one (a burst on the health check would
    exercise nothing of the app)."""
    if ("GET", "/sleep") in routes:
        return SLEEP_PATH
    plain = [template for method, template in routes if method == "GET" and concrete_path(template) == template]
    if not plain:
        declared = ", ".join(f"{method} {template}" for method, template in routes)
        raise NoBurstPath(
            f"the app declares no GET route without path parameters ({declared})"
            if routes
            else "the app's routes could not be read (the lab reads Flask's, Starlette's, FastAPI's and Bottle's)"
        )
    return next((template for template in plain if template != health_path), plain[0])


def check_path(path: str) -> str:
    """``path`` if the burst can send it: it starts with ``/`` and holds no placeholder but ``{seconds}``."""
    try:
        path.format(seconds=1)
    except (KeyError, IndexError, ValueError) as error:
        raise NoBurstPath(f"--path {path}: the only placeholder it may hold is {{seconds}} ({error!r})") from error
    if not path.startswith("/"):
        raise NoBurstPath(f"--path {path}: a path starts with /")
    return path


class LoadGenerator:
    """Locust in a subprocess (its gevent must not patch the lab's threads); stopped on ``stop()``."""

    def __init__(self, target: str, profile: BurstProfile, reserved_concurrency: int, output: Path) -> None:
        self.target = target
        self.profile = profile
        self.request_log = output / "requests.jsonl"
        self.log_path = output / "locust.log"
        self.points = profile.stages(reserved_concurrency)
        self.process: subprocess.Popen | None = None

    def start(self) -> LoadGenerator:
        env = {
            **os.environ,
            "LAB_STAGES": json.dumps(self.points),
            "LAB_PROFILE": json.dumps(asdict(self.profile)),
            "LAB_REQUEST_LOG": str(self.request_log),
        }
        command = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--host",
            self.target,
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--exit-code-on-error",
            "0",
            "--skip-log-setup",
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def records(self) -> list[dict]:
        if not self.request_log.exists():
            return []
        with open(self.request_log) as lines:
            return [json.loads(line) for line in lines if line.strip()]
