"""Follow the ECS service's desired count with real app processes on loopback addresses.

The local AWS keeps the service (its desired count is what the scaler writes) but starts nothing and
reports ``runningCount`` equal to the desired count. The follower starts one process per task with the
task definition's entry point/command and environment, on the files of the task definition's image (read from its
registry, :mod:`lab.registry`) or, when told, the app's sources, after ``start_delay`` seconds standing for
Fargate's provisioning (ENI, image pull). Each task gets its own loopback address (``awsvpc`` gives each
task its own IP), attached to the load balancer so health checks begin, and it is stopped after the
target group's deregistration delay when the service scales in.

A task of a deployed image honours the task definition's ``readonlyRootFilesystem``: it runs in a mount namespace
of its own, the image's files mounted read-only and each writable volume (the ecs_service role's ``/tmp``) a
directory of the task's own, where this machine allows it (:func:`read_only_root_problem`).

The local AWS marks every registered ``ip`` target healthy at once, so a task is registered in the target
group only when the lab's health checks found it healthy (healthy threshold reached), and deregistered
again when they find it unhealthy: ``DescribeTargetHealth``, which the scaler reads, then shows what a
real ALB would. For the same reason :meth:`EcsFollower.reported_services` gives the scaler the service's counts of
the tasks the follower runs, and the follower puts ECS's "ECS Task State Change" events (RUNNING, STOPPED) on the
lab's event bus.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from lab import registry
from lab.aws import Aws
from lab.background import Periodic
from lab.balancer import LoadBalancer
from lab.builder import APP_DIR, ZIP_CACHE, App, describe_app, lock_app, run_command
from lab.collection import lambda_zip, render_role
from lab.events import task_state_event
from lab.stack import Container, Stack

LOG = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class Image:
    """What a Dockerfile gives a container: its environment, working directory, copied files and command."""

    environment: dict[str, str]
    workdir: str
    copies: list[tuple[list[str], str]]  # (context sources, image destination) of each COPY
    entrypoint: list[str]
    cmd: list[str]


def _substitute(text: str, variables: Mapping[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced as the builder replaces them (an unknown name is empty)."""
    return re.sub(r"\$(?:\{(\w+)\}|(\w+))", lambda match: variables.get(match[1] or match[2], ""), text)


def _instructions(dockerfile: Path):
    """``(INSTRUCTION, arguments)`` of each instruction, continuation lines joined, comments left out."""
    pending = ""
    for line in dockerfile.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        instruction, _, arguments = (pending + stripped).partition(" ")
        pending = ""
        yield instruction.upper(), arguments.strip()


def _words(arguments: str) -> list[str]:
    """The exec form (a JSON array) as it is, the shell form through ``/bin/sh -c``."""
    return json.loads(arguments) if arguments.startswith("[") else ["/bin/sh", "-c", arguments]


def read_dockerfile(dockerfile: Path, build_args: Mapping[str, str]) -> Image:
    """The :class:`Image` of ``dockerfile`` built with ``build_args`` (``--build-arg``); ARGs and ENVs substituted.

    Only what a container's process sees is read (ARG, ENV, WORKDIR, COPY, ENTRYPOINT, CMD): the lab runs no
    RUN step, and USER, EXPOSE and HEALTHCHECK do not change the process (the ALB's health checks count).
    """
    variables: dict[str, str] = {}
    environment: dict[str, str] = {}
    workdir, copies, entrypoint, cmd = "/", [], [], []
    for instruction, arguments in _instructions(dockerfile):
        if instruction == "ARG":
            name, has_default, default = arguments.partition("=")
            variables[name] = build_args.get(name, _substitute(default, variables) if has_default else "")
        elif instruction == "ENV":
            words = shlex.split(arguments)
            pairs = (
                [word.partition("=")[::2] for word in words] if "=" in words[0] else [(words[0], " ".join(words[1:]))]
            )
            for name, value in pairs:
                environment[name] = variables[name] = _substitute(value, variables)
        elif instruction == "WORKDIR":
            workdir = _substitute(arguments, variables)
        elif instruction == "COPY":
            words = [_substitute(word, variables) for word in shlex.split(arguments) if not word.startswith("--")]
            copies.append((words[:-1], words[-1]))
        elif instruction == "ENTRYPOINT":
            entrypoint, cmd = _words(arguments), []  # a new ENTRYPOINT resets CMD, as the builder does
        elif instruction == "CMD":
            cmd = _words(arguments)
    return Image(environment, workdir, copies, entrypoint, cmd)


@dataclass(frozen=True)
class ContainerProcess:
    """A task's container as a local process: its command, environment (the image's, then the task definition's)
    and working directory; for an image read from its registry, its unpacked ``root``, whether the task definition
    makes it read-only (``readonlyRootFilesystem``) and the container paths of its writable volumes (``mounts``)."""

    command: list[str]
    environment: dict[str, str]
    cwd: Path
    root: Path | None = None
    readonly_root: bool = False
    mounts: tuple[str, ...] = ()


def recipe_process(app: App, container: Container, cache_dir: Path, lock: dict | None = None) -> ContainerProcess:
    """The container of the collection's recipe (files/container) for ``app``, as ecr_push builds it, as a process.

    The image is the recipe built with ecr_push's build arguments for the app; its paths become the files they were
    copied from, in the context that roles/ecr_push/tasks/context.yml assembles (the recipe's files at its root, the
    image's share of the app's lock as requirements.lock, the wheel of the app's project beside it as wheels/, the
    app's directory as app/, empty for a project). Its ``python`` is this
    interpreter without its site-packages (``-S``), with what the image installs on PYTHONPATH: the lock's versions
    (``lock``, the app's :func:`lab.builder.lock_app`), installed by pip for this machine once into ``cache_dir``.
    """
    role = render_role(
        "ecr_push",
        ["ecr_push__recipe_dir", "ecr_push__recipe_files", "ecr_push__recipe_args"],
        {
            "ecr_push_app_dir": str(app.src),
            "ecr_push_app_callable": app.callable,
            "ecr_push_app_interface": app.interface,
            "ecr_push_app_requirements": str(app.requirements or ""),
            "ecr_push_app_health_path": app.health_path,
            "ecr_push_app_port": app.port,
        },
    )
    recipe_dir = Path(role["ecr_push__recipe_dir"]).resolve()
    context = {name: recipe_dir / name for name in role["ecr_push__recipe_files"]}
    lock = lock or lock_app(app)
    share = Path(lock["targets"]["image"]["requirements"])
    context["requirements.lock"] = share
    context["wheels"] = share.parent / "wheels"
    # A project's sources stay out of the image (its wheel is installed): its app/ is an empty directory.
    context["app"] = app.src if lock["layout"] != "package" else _empty_directory(Path(cache_dir))
    image = read_dockerfile(recipe_dir / "Dockerfile", role["ecr_push__recipe_args"])
    places: dict[str, Path] = {}  # image path: local path
    for sources, destination in image.copies:
        for source in sources:
            if source.rstrip("/") not in context:
                raise ValueError(f"{recipe_dir / 'Dockerfile'} copies {source}, which ecr_push's context does not hold")
            local = context[source.rstrip("/")]
            if source.endswith("/"):  # a directory's contents
                places[destination.rstrip("/")] = local
            else:
                places[destination + Path(source).name if destination.endswith("/") else destination] = local

    def local(word: str) -> str:
        for image_path in sorted(places, key=len, reverse=True):
            if word == image_path or word.startswith(image_path + "/"):
                return str(places[image_path]) + word[len(image_path) :]
        return word

    command = [local(word) for word in container.entry_point + container.command or image.entrypoint + image.cmd]
    if command and command[0] in ("python", "python3"):
        command[:1] = [sys.executable, "-S"]
    # The lock's wheels are the image's platform's; this machine's pip takes the same versions for its own.
    requirements = lambda_zip.read_requirements_file(lock["targets"]["image"]["pins"])
    installed = lambda_zip.vendor_requirements(requirements, str(cache_dir), None, [], run_command, sys.executable)
    environment = {name: local(value) for name, value in image.environment.items()}
    return ContainerProcess(
        command, {**environment, "PYTHONPATH": installed, **container.environment}, Path(local(image.workdir))
    )


def _empty_directory(parent: Path) -> Path:
    """An empty directory under ``parent``, the same on every call."""
    empty = parent / "empty-app"
    empty.mkdir(parents=True, exist_ok=True)
    return empty


def container_process(
    app: App, container: Container, cache_dir: Path = ZIP_CACHE, lock: dict | None = None
) -> ContainerProcess:
    """How the lab runs the task definition ``container`` of ``app``'s image.

    The image is the app's own Dockerfile when it has one (ecr_push builds that instead of the recipe): its
    ENTRYPOINT and CMD run in the app's directory with the lab's Python environment, which must hold what the app
    needs. Otherwise it is the collection's recipe (:func:`recipe_process`). The task definition's entry point and
    command win over the image's, its environment over the image's.
    """
    own = app.src / "Dockerfile"
    if not own.exists():
        return recipe_process(app, container, cache_dir, lock)
    image = read_dockerfile(own, {})
    command = container.entry_point + container.command or image.entrypoint + image.cmd
    if not command:
        raise ValueError(f"{own} sets no ENTRYPOINT or CMD and the task definition no command: nothing to run")
    return ContainerProcess(command, dict(container.environment), app.src)


def image_process(image: registry.Image, container: Container) -> ContainerProcess:
    """The task definition ``container`` of ``image`` (read from its registry, :mod:`lab.registry`) as a process of
    this machine, as a container runtime would start it with the image's files as its root.

    The command is the task definition's entry point (else the image's) and command (else the image's, unless the
    entry point was replaced, as docker resets CMD then); its first word is found on the image's PATH. Every absolute
    path the image holds, in the command and in the environment (the image's, then the task definition's; ``PATH``,
    ``LD_LIBRARY_PATH``, ``APP_DIR``...), becomes its place in the unpacked image, so the process runs the image's
    own interpreter, packages and app; the working directory is the image's.
    """
    entrypoint = container.entry_point or image.entrypoint
    command = entrypoint + (container.command or ([] if container.entry_point else image.cmd))
    if not command:
        raise ValueError(f"{image.reference} sets no ENTRYPOINT or CMD and the task definition no command")
    for path in container.mounts:  # a mount point, as a container runtime creates it (so /tmp maps to it below)
        (image.root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
    environment = {**image.environment, **container.environment}

    def local(value: str) -> str:
        return ":".join(registry.image_path(image, part) for part in value.split(":"))

    environment = {name: local(value) for name, value in environment.items()}
    if "/" not in command[0]:
        search = image.environment.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(":")
        found = [f"{directory}/{command[0]}" for directory in search if directory.startswith("/")]
        command[0] = next((path for path in map(local, found) if path.startswith(str(image.root))), command[0])
    command = [registry.image_path(image, word) for word in command]
    return ContainerProcess(
        command,
        environment,
        image.root / image.workdir.lstrip("/"),
        root=image.root,
        readonly_root=container.readonly_root,
        mounts=container.mounts,
    )


# Run in a mount namespace of the task's own: the image's files bound read-only onto themselves, then each volume's
# directory bound onto its mount point, then the container's command, from its working directory entered again (the
# one inherited still points into the writable mount below).
# Arguments: root, (path, directory)..., --, command.
_READ_ONLY_ROOT = (
    'set -e; root=$1; shift; workdir=$(pwd); mount --bind -o ro "$root" "$root"; '
    'while [ "$1" != -- ]; do mount --bind "$2" "$root$1"; shift 2; done; shift; cd "$workdir"; exec "$@"'
)


@functools.cache
def read_only_root_problem() -> str:
    """Why this machine cannot give a task a read-only root file system (a mount namespace of its own, which needs
    root or CAP_SYS_ADMIN and util-linux's unshare); empty when it can."""
    if not shutil.which("unshare"):
        return "unshare (util-linux) is not installed"
    with tempfile.TemporaryDirectory() as probe:
        tried = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "mount", "--bind", "-o", "ro", probe, probe],
            capture_output=True,
            text=True,
            check=False,
        )
    return "" if tried.returncode == 0 else f"unshare --mount failed: {(tried.stderr or tried.stdout).strip()}"


def read_only_root_command(container: ContainerProcess, volumes: Path, command: list[str]) -> list[str]:
    """``command`` run as the task definition says, with the image's files read-only (``readonlyRootFilesystem``)
    and each of ``container.mounts`` a writable directory of its own under ``volumes``, as Fargate gives a task a
    bind-mount volume without a host path. Unchanged when the root stays writable."""
    if container.root is None or not container.readonly_root:
        return command
    pairs = []
    for path in container.mounts:
        volume = volumes / (path.strip("/").replace("/", "-") or "root")
        volume.mkdir(parents=True, exist_ok=True)
        pairs += [path, str(volume)]
    namespace = ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", _READ_ONLY_ROOT, "sh"]
    return [*namespace, str(container.root), *pairs, "--", *command]


def start_container(
    container: ContainerProcess, ip: str, port: int, log_path: Path, command: list[str] | None = None
) -> subprocess.Popen:
    """``container`` started as a task of its own listening on ``ip:port`` (HOST, PORT; ``awsvpc`` gives each task
    its address), in a session of its own, its output appended to ``log_path``; ``command`` replaces its command.
    A read-only root gets its volumes in ``<log_path without suffix>-volumes`` (:func:`read_only_root_command`)."""
    environment = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        **container.environment,
        "PORT": str(port),
        "HOST": ip,
        "ECS_CONTAINER_METADATA_URI_V4": "http://127.0.0.1:1/lab",
    }
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            read_only_root_command(
                container, log_path.with_name(f"{log_path.stem}-volumes"), command or container.command
            ),
            cwd=container.cwd,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_container(process: subprocess.Popen, timeout: float) -> None:
    """Stop a container's processes as ECS does: SIGTERM, then SIGKILL after ``timeout`` seconds (its stop
    timeout); returns once the container's main process is gone."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def deployed_app(stack: Stack, app_dir: Path) -> App:
    """The app ``stack`` runs, its sources in ``app_dir``: site.yml gives both runtimes one description, so the
    callable and interface are the function's (APP_CALLABLE, APP_INTERFACE), the health path the ECS target
    group's and the port the task definition's."""
    environment = stack.app_function.environment
    return describe_app(
        app_dir,
        environment.get("APP_CALLABLE"),
        environment.get("APP_INTERFACE"),
        health_path=stack.ecs_target_group.health_check_path,
        port=stack.service.container.port,
    )


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
        app_dir: Path | None = APP_DIR,
        stop_timeout: float = 10.0,
        never_healthy: bool = False,
        poll_seconds: float = 1.0,
        cache_dir: Path = ZIP_CACHE,
        on_task_event: Callable[[dict], object] | None = None,
        image_cache: Path = registry.IMAGE_CACHE,
    ) -> None:
        super().__init__("lab-ecs", 0.2, poll_seconds)
        self.aws = aws
        self.stack = stack
        self.balancer = balancer
        self.log_dir = log_dir
        self.start_delay = start_delay
        self.stop_timeout = stop_timeout
        self.never_healthy = never_healthy
        self.on_task_event = on_task_event
        self.target_group = stack.ecs_target_group
        self.tasks: list[Task] = []
        self.desired = 0
        self.events: list[tuple[float, str]] = []
        self._rng = random.Random()
        self._lock = threading.RLock()
        if app_dir is None:  # the task definition's image, as ECS runs it
            image = registry.pull(stack.service.container.image, image_cache)
            self.container = image_process(image, stack.service.container)
            if self.container.readonly_root and (problem := read_only_root_problem()):
                self._note(f"the tasks' root file system stays writable here ({problem})")
                self.container = replace(self.container, readonly_root=False)
        else:  # the app's sources, as ecr_push would build its image
            self.container = container_process(deployed_app(stack, app_dir), stack.service.container, cache_dir)
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
        command = None
        if self.never_healthy:  # fault: the container starts but the app never answers
            command = [sys.executable, "-c", "import time; time.sleep(3600)"]
        try:
            task.process = start_container(
                self.container, task.ip, task.port, self.log_dir / f"task-{task.id[:8]}.log", command
            )
        except OSError as error:
            self._note(f"task {task.id[:8]} failed to start: {error} ({shlex.join(command or self.container.command)})")
            task.state = "STOPPED"
            return
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
        if task.process:
            stop_container(task.process, timeout)
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
