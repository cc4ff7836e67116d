"""The lab's data plane on a deployed stack, for tests: the app function's code in a Lambda runtime, the listener as
the lab's load balancer and the ECS service followed by real task processes (the app's container as lab/ecs.py runs
it)."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from lab.aws import Aws
from lab.balancer import SERVED_BY_HEADER, LoadBalancer
from lab.ecs import EcsFollower
from lab.lambda_runtime import LambdaRuntime, extract_code
from lab.metrics import MetricsPublisher
from lab.stack import Stack
from tests.support.app_support import ZIP_CACHE


@dataclass
class Plane:
    runtime: LambdaRuntime
    balancer: LoadBalancer
    follower: EcsFollower
    metrics: MetricsPublisher


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def served_by(self) -> str:
        return self.header(SERVED_BY_HEADER)

    def header(self, name: str) -> str:
        return ", ".join(value for key, value in self.headers if key.lower() == name.lower())


def request(url: str, path: str, method: str = "GET", body: bytes | None = None, timeout: float = 60) -> Answer:
    """One request through the lab's load balancer; every header as sent (a repeated one stays repeated)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return Answer(response.status, response.getheaders(), response.read())
    finally:
        connection.close()


@contextmanager
def data_plane(
    aws: Aws,
    stack: Stack,
    build_dir: Path,
    app_dir: Path,
    log_dir: Path,
    start_delay: float = 0.0,
    seed: int | None = 7,
) -> Iterator[Plane]:
    """The lab's runtimes for ``stack``, whose function's zip is in ``build_dir`` (``<stack>-app.zip``, as the roles
    name it) and whose app's sources are ``app_dir``; everything is stopped on exit."""
    with ExitStack() as cleanup:
        metrics = MetricsPublisher(aws)
        code = extract_code(build_dir / f"{stack.name}-app.zip", stack.app_function, log_dir / "code")
        runtime = LambdaRuntime(stack.app_function, code, log_dir / "lambda.log", metrics=metrics)
        cleanup.callback(runtime.close)
        balancer = LoadBalancer(aws, stack, runtime, log_dir / "access.log", metrics=metrics, seed=seed).start()
        cleanup.callback(balancer.stop)
        follower = EcsFollower(
            aws,
            stack,
            balancer,
            log_dir,
            start_delay=start_delay,
            app_dir=app_dir,
            poll_seconds=0.3,
            cache_dir=ZIP_CACHE,
        ).start()
        cleanup.callback(follower.stop)
        yield Plane(runtime, balancer, follower, metrics)


def wait_for(condition, timeout: float = 20.0, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {message}")
