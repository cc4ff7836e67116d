"""What the rules' targets run: the deployed scaler, or the seed-like baseline kept in the lab for comparison."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

from lab.aws import Aws
from lab.ecs import EcsFollower
from lab.lambda_runtime import LambdaRuntime
from lab.stack import Function, Stack, write_weights

LOG = logging.getLogger(__name__)


class ScalerFailed(Exception):
    """The scaler invocation ended in an error: EventBridge/Lambda retry it."""


class DeployedScaler:
    """Invoke the deployed scaler code (its zip and handler) with its deployed environment + the local AWS.

    ``environment`` overrides the deployed settings (as a deployment with other role variables would set them), and
    ``endpoint`` is the AWS endpoint the scaler talks to (default: the lab's). With ``fail_first`` the first
    invocation runs with an AWS endpoint that refuses connections, so the scaler's own code fails for real and the
    retry path is exercised (fault scenario). ``weight_moves`` records when an invocation moved the weights and the
    ECS share it wrote.
    """

    def __init__(
        self,
        aws: Aws,
        function: Function,
        code_dir: Path,
        log_path: Path,
        fail_first: bool = False,
        environment: dict[str, str] | None = None,
        endpoint: str | None = None,
    ):
        settings = {**aws.environment(), **({"AWS_ENDPOINT_URL": endpoint} if endpoint else {}), **(environment or {})}
        self.runtime = LambdaRuntime(function, code_dir, log_path, extra_environment=settings)
        self.broken = None
        if fail_first:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                closed_port = probe.getsockname()[1]
            broken_env = {**settings, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port}"}
            broken_env["AWS_MAX_ATTEMPTS"] = "1"
            self.broken = LambdaRuntime(function, code_dir, log_path, extra_environment=broken_env)
        self.decisions: list[tuple[float, dict]] = []
        self.weight_moves: list[tuple[float, int]] = []

    def __call__(self, event: dict) -> object:
        runtime = self.runtime
        if self.broken is not None:
            runtime, self.broken = self.broken, None
            try:
                result = runtime.invoke(event)
            finally:
                runtime.close()
        else:
            result = runtime.invoke(event)
        if result.outcome != "ok":
            raise ScalerFailed(f"{result.outcome}: {result.error}")
        if isinstance(result.payload, dict):
            moment = time.time()
            self.decisions.append((moment, result.payload))
            if any(
                write.startswith(("elbv2:ModifyListener", "elbv2:ModifyRule"))
                for write in result.payload.get("writes", [])
            ):
                weights = result.payload["weights"]
                self.weight_moves.append((moment, round(100 * weights["ecs"] / (weights["lambda"] + weights["ecs"]))))
        return result.payload

    def close(self) -> None:
        self.runtime.close()
        if self.broken is not None:
            self.broken.close()


class SeedBaselineScaler:
    """The seed's provisioning Lambda, for comparison only (it is not shipped).

    On any alarm's ``ALARM``: desired count 1, wait until a task is running (not: healthy behind the load
    balancer), then all traffic to ECS. On ``OK`` (previous state not ``OK``): all traffic back to Lambda
    and desired count 0 at once. The seed busy-loops on ListTasks/DescribeTasks without sleep or timeout;
    the local AWS has no tasks, so this asks the lab's ECS follower, every 0.2 s, for at most 300 s.
    """

    def __init__(self, aws: Aws, stack: Stack, follower: EcsFollower) -> None:
        self.aws = aws
        self.stack = stack
        self.follower = follower
        self.decisions: list[tuple[float, dict]] = []
        self.weight_moves: list[tuple[float, int]] = []

    def _weights(self, lambda_weight: int, ecs_weight: int) -> None:
        weights = {self.stack.lambda_target_group.arn: lambda_weight, self.stack.ecs_target_group.arn: ecs_weight}
        write_weights(self.aws.client("elbv2"), self.stack.listener_arn, weights)
        self.weight_moves.append((time.time(), round(100 * ecs_weight / (lambda_weight + ecs_weight))))

    def _desired(self, count: int) -> None:
        self.aws.client("ecs").update_service(
            cluster=self.stack.service.cluster, service=self.stack.service.name, desiredCount=count
        )

    def __call__(self, event: dict) -> dict:
        if event.get("source") != "aws.cloudwatch":
            return self._decide("ignored", "not an alarm event", None)
        state = event["detail"]["state"]["value"]
        previous = event["detail"]["previousState"]["value"]
        if state == "ALARM":
            self._desired(1)
            deadline = time.monotonic() + 300
            while not self.follower.running_tasks() and time.monotonic() < deadline:
                time.sleep(0.2)
            self._weights(0, 1)
            return self._decide("scale_out", "alarm; a task is running", {"lambda": 0, "ecs": 1})
        if state == "OK" and previous != "OK":
            self._weights(1, 0)
            self._desired(0)
            return self._decide("scale_in", "alarm OK", {"lambda": 1, "ecs": 0})
        return self._decide("noop", f"state {state}", None)

    def _decide(self, action: str, reason: str, weights: dict | None) -> dict:
        decision = {"action": action, "reason": reason, "weights": weights}
        self.decisions.append((time.time(), decision))
        return decision

    def close(self) -> None:
        pass
