"""Follow the ECS service's desired count with real app processes on loopback addresses.

The local AWS keeps the service (its desired count is what the scaler writes) but starts nothing and
reports ``runningCount`` equal to the desired count. The follower starts one process per task with the
task definition's entry point/command and environment, after ``start_delay`` seconds standing for
Fargate's provisioning (ENI, image pull). Each task gets its own loopback address (``awsvpc`` gives each
task its own IP), attached to the load balancer so health checks begin, and it is stopped after the
target group's deregistration delay when the service scales in.

The local AWS marks every registered ``ip`` target healthy at once, so a task is registered in the target
group only when the lab's health checks found it healthy (healthy threshold reached), and deregistered
again when they find it unhealthy: ``DescribeTargetHealth``, which the scaler reads, then shows what a
real ALB would. For the same reason :meth:`EcsFollower.reported_services` gives the scaler the service's counts of
the tasks the follower runs, and the follower puts ECS's "ECS Task State Change" events (RUNNING, STOPPED) on the
lab's event bus.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lab.aws import Aws
from lab.background import Periodic
from lab.balancer import LoadBalancer
from lab.events import task_state_event
from lab.stack import Stack

LOG = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Task:
    id: str
    ip: str
    port: int
    state: str = "PROVISIONING"  # PROVISIONING, RUNNING, DRAINING, STOPPING, STOPPED
    start_at: float = 0.0
    stop_at: float = 0.0
    process: subprocess.Popen | None = None
    registered: bool = False
    healthy: bool = False
    events: list[str] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"{self.ip}:{self.port}"


def image_command(dockerfile: Path) -> list[str]:
    """ENTRYPOINT + CMD of the app's Dockerfile (exec form), used when the task definition sets neither."""
    if not dockerfile.exists():
        raise FileNotFoundError(
            f"{dockerfile} not found and the task definition sets no command: nothing to run as the container"
        )
    entry, command = [], []
    for line in dockerfile.read_text().splitlines():
        match = re.match(r"^\s*(ENTRYPOINT|CMD)\s+(.*)$", line)
        if match:
            value = match.group(2).strip()
            words = json.loads(value) if value.startswith("[") else ["/bin/sh", "-c", value]
            if match.group(1) == "ENTRYPOINT":
                entry = words
            else:
                command = words
    return entry + command


def _bindable(ip: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((ip, port))
            return True
        except OSError:
            return False


def allocate_address(container_port: int, rng: random.Random) -> tuple[str, int]:
    """A loopback address of its own for a task, on the container port when that port is free there."""
    for _ in range(50):
        ip = f"127.{rng.randint(1, 254)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
        if _bindable(ip, container_port):
            return ip, container_port
    with socket.socket() as probe:
        probe.bind((ip, 0))
        return ip, probe.getsockname()[1]


class EcsFollower(Periodic):
    def __init__(
        self,
        aws: Aws,
        stack: Stack,
        balancer: LoadBalancer,
        log_dir: Path,
        start_delay: float = 15.0,
        app_dir: Path = ROOT / "files" / "app",
        stop_timeout: float = 10.0,
        never_healthy: bool = False,
        poll_seconds: float = 1.0,
        on_task_event: Callable[[dict], object] | None = None,
    ) -> None:
        super().__init__("lab-ecs", 0.2, poll_seconds)
        self.aws = aws
        self.stack = stack
        self.balancer = balancer
        self.log_dir = log_dir
        self.start_delay = start_delay
        self.app_dir = app_dir
        self.stop_timeout = stop_timeout
        self.never_healthy = never_healthy
        self.on_task_event = on_task_event
        self.target_group = stack.ecs_target_group
        self.tasks: list[Task] = []
        self.desired = 0
        self.events: list[tuple[float, str]] = []
        self._rng = random.Random()
        self._lock = threading.RLock()
        container = stack.service.container
        self.command = container.entry_point + container.command or image_command(app_dir / "Dockerfile")
        balancer.health_listeners.append(self._on_health)

    # -- lifecycle ---------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop every task now (the lab is ending): SIGTERM, then SIGKILL after the stop timeout."""
        super().stop()
        with self._lock:
            tasks = [task for task in self.tasks if task.state != "STOPPED"]
        for task in tasks:
            self._deregister(task)
        for task in tasks:
            self._terminate(task, timeout=3)

    def counts(self) -> dict[str, int]:
        """Tasks by state: provisioning (``pending``), running (``healthy`` among them), draining (deregistered, still
        running until stopped)."""
        with self._lock:
            return {
                "desired": self.desired,
                "pending": sum(task.state == "PROVISIONING" for task in self.tasks),
                "running": sum(task.state == "RUNNING" for task in self.tasks),
                "healthy": sum(task.state == "RUNNING" and task.healthy for task in self.tasks),
                "draining": sum(task.state in ("DRAINING", "STOPPING") for task in self.tasks),
            }

    def reported_services(self, answer: dict) -> dict:
        """A DescribeServices answer (JSON) with this service's ``runningCount`` and ``pendingCount`` (its own and
        its primary deployment's) of the tasks the follower runs, as ECS reports them.

        It exists because of the local AWS, which reports as running every task of the desired count at once: the
        scaler's health gate would wait for tasks that are still provisioning."""
        counts = self.counts()
        running, pending = counts["running"] + counts["draining"], counts["pending"]
        for service in answer.get("services", []):
            if service.get("serviceName") == self.stack.service.name:
                service.update(runningCount=running, pendingCount=pending)
                for deployment in service.get("deployments", []):
                    if deployment.get("status") == "PRIMARY":
                        deployment.update(runningCount=running, pendingCount=pending)
        return answer

    def running_tasks(self) -> list[Task]:
        with self._lock:
            return [task for task in self.tasks if task.state == "RUNNING"]

    def kill_one(self) -> Task | None:
        """Fault injection: SIGKILL one healthy task's processes, as when a Fargate task dies."""
        with self._lock:
            victims = [task for task in self.tasks if task.state == "RUNNING" and task.healthy] or self.running_tasks()
        if not victims or victims[0].process is None:
            return None
        self._note(f"task {victims[0].id[:8]} killed")
        os.killpg(victims[0].process.pid, signal.SIGKILL)
        return victims[0]

    # -- the loop ----------------------------------------------------------------------------------------
    def poll(self) -> None:
        service = self.aws.client("ecs").describe_services(
            cluster=self.stack.service.cluster, services=[self.stack.service.name]
        )["services"][0]
        self.desired = int(service["desiredCount"])

    def tick(self) -> None:
        self.reconcile()

    def reconcile(self) -> None:
        now = time.monotonic()
        with self._lock:
            for task in self.tasks:
                if task.state == "RUNNING" and task.process and task.process.poll() is not None:
                    self._note(f"task {task.id[:8]} exited ({task.process.returncode})")
                    self._deregister(task)
                    task.state = "STOPPED"
                    self._publish(task)
            active = [task for task in self.tasks if task.state in ("PROVISIONING", "RUNNING")]
            for _ in range(self.desired - len(active)):
                ip, port = allocate_address(self.stack.service.container.port, self._rng)
                task = Task(uuid.uuid4().hex, ip, port, start_at=now + self.start_delay)
                self.tasks.append(task)
                self._note(f"task {task.id[:8]} provisioning")
            surplus = len(active) - self.desired
            if surplus > 0:
                order = sorted(active, key=lambda t: (t.state == "RUNNING", t.healthy, t.start_at), reverse=False)
                for task in order[:surplus]:
                    self._begin_stop(task, now)
            for task in self.tasks:
                if task.state == "PROVISIONING" and task.start_at <= now:
                    self._launch(task)
                elif task.state == "DRAINING" and task.stop_at <= now:
                    task.state = "STOPPING"
                    threading.Thread(target=self._terminate, args=(task, self.stop_timeout), daemon=True).start()

    def _launch(self, task: Task) -> None:
        container = self.stack.service.container
        env = {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            **container.environment,
            "PORT": str(task.port),
            "HOST": task.ip,
            "ECS_CONTAINER_METADATA_URI_V4": "http://127.0.0.1:1/lab",
        }
        command = self.command
        if self.never_healthy:  # fault: the container starts but the app never answers
            command = [sys.executable, "-c", "import time; time.sleep(3600)"]
        log = open(self.log_dir / f"task-{task.id[:8]}.log", "ab")  # noqa: SIM115 (handed to the child)
        try:
            task.process = subprocess.Popen(
                command, cwd=self.app_dir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        except OSError as error:
            self._note(f"task {task.id[:8]} failed to start: {error} ({shlex.join(command)})")
            task.state = "STOPPED"
            return
        finally:
            log.close()
        task.state = "RUNNING"
        self._note(f"task {task.id[:8]} running at {task.target}")
        self.balancer.attach(self.target_group.arn, task.target)
        self._publish(task)

    def _begin_stop(self, task: Task, now: float) -> None:
        if task.state == "PROVISIONING":
            task.state = "STOPPED"
            self._note(f"task {task.id[:8]} cancelled before start")
            self._publish(task)
            return
        was_registered = task.registered
        self._deregister(task)
        task.state = "DRAINING"
        task.stop_at = now + (self.target_group.deregistration_delay if was_registered else 0)
        self._note(f"task {task.id[:8]} draining")

    def _deregister(self, task: Task) -> None:
        self.balancer.detach(self.target_group.arn, task.target)
        task.healthy = False
        if task.registered:
            task.registered = False
            try:
                self.aws.client("elbv2").deregister_targets(
                    TargetGroupArn=self.target_group.arn, Targets=[{"Id": task.ip, "Port": task.port}]
                )
            except Exception:
                LOG.exception("ECS follower: DeregisterTargets failed")

    def _terminate(self, task: Task, timeout: float) -> None:
        if task.process and task.process.poll() is None:
            try:
                os.killpg(task.process.pid, signal.SIGTERM)
                task.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(task.process.pid, signal.SIGKILL)
                task.process.wait()
            except ProcessLookupError:
                pass
        if task.process:
            task.process.wait()
        if task.state != "STOPPED":
            self._note(f"task {task.id[:8]} stopped")
            task.state = "STOPPED"
            self._publish(task)

    def _on_health(self, target_group_arn: str, target: str, state: str) -> None:
        if target_group_arn != self.target_group.arn:
            return
        with self._lock:
            task = next((t for t in self.tasks if t.target == target and t.state == "RUNNING"), None)
            if task is None:
                return
            task.healthy = state == "healthy"
            self._note(f"task {task.id[:8]} {state}")
            elbv2 = self.aws.client("elbv2")
            try:
                if task.healthy and not task.registered:
                    elbv2.register_targets(
                        TargetGroupArn=target_group_arn, Targets=[{"Id": task.ip, "Port": task.port}]
                    )
                    task.registered = True
                elif not task.healthy and task.registered:
                    elbv2.deregister_targets(
                        TargetGroupArn=target_group_arn, Targets=[{"Id": task.ip, "Port": task.port}]
                    )
                    task.registered = False
            except Exception:
                LOG.exception("ECS follower: registering %s failed", target)

    def _publish(self, task: Task) -> None:
        """ECS's "ECS Task State Change" event of ``task``'s state now (RUNNING or STOPPED)."""
        if self.on_task_event is None:
            return
        service = self.stack.service
        region = service.cluster_arn.split(":")[3]
        task_arn = f"{service.cluster_arn.replace(':cluster/', ':task/', 1)}/{task.id}"
        self.on_task_event(
            task_state_event(
                service.cluster_arn, service.name, task_arn, task.state, service.task_definition_arn, region
            )
        )

    def _note(self, message: str) -> None:
        LOG.info("ECS: %s", message)
        self.events.append((time.time(), message))
