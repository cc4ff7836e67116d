"""Locust file of the lab's burst (see lab/load.py); run by ``lab.load.LoadGenerator``.

Stages come from ``LAB_STAGES`` (cumulative ``[end second, users]`` points), the request from
``LAB_PROFILE``; each request is appended as one JSON line to ``LAB_REQUEST_LOG``.
"""

import itertools
import json
import os
import random
import time

import gevent
from locust import HttpUser, LoadTestShape, constant_pacing, events, task

PROFILE = json.loads(os.environ.get("LAB_PROFILE", '{"sleep_seconds": 1.0, "pacing": 2.0}'))
POINTS = json.loads(os.environ.get("LAB_STAGES", "[[0, 1], [60, 1]]"))
LOG_PATH = os.environ.get("LAB_REQUEST_LOG")
_log = open(LOG_PATH, "a", buffering=1) if LOG_PATH else None  # noqa: SIM115 (lives as long as Locust)


@events.request.add_listener
def record(request_type, name, response_time, response_length, response=None, exception=None, **kwargs):
    if _log is None:
        return
    status = getattr(response, "status_code", 0) or 0
    served_by = response.headers.get("X-Lab-Target-Group", "") if response is not None else ""
    end = time.time()
    entry = {
        "start": round(end - response_time / 1000, 3),
        "end": round(end, 3),
        "status": status,
        "served_by": served_by,
        "error": str(exception)[:200] if exception else "",
    }
    _log.write(json.dumps(entry) + "\n")


class BurstUser(HttpUser):
    wait_time = constant_pacing(PROFILE["pacing"])
    network_timeout = 90.0

    def on_start(self):
        # Users spawned together would stay in phase (constant pacing): spread them over one pacing period.
        gevent.sleep(random.uniform(0, PROFILE["pacing"]))

    @task
    def sleep(self):
        path = PROFILE.get("path", "/sleep?seconds={seconds}").format(seconds=PROFILE["sleep_seconds"])
        with self.client.get(path, name=path.partition("?")[0], catch_response=True) as response:
            if response.status_code >= 500 or response.status_code == 0:
                response.failure(f"HTTP {response.status_code}")
            else:
                response.success()


class Burst(LoadTestShape):
    def tick(self):
        elapsed = self.get_run_time()
        for (start, low), (end, high) in itertools.pairwise(POINTS):
            if start <= elapsed < end:
                users = round(low + (high - low) * (elapsed - start) / (end - start))
                return max(1, users), 50
        return None
