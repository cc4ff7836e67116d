"""The lab on the stack site.yml deploys with inventories/local (``spillover-local``, the roles' own build
directories, the image pushed to a registry): ``python -m lab up`` serves one's own requests through its data plane
until interrupted, Lambda from the deployed zip and ECS from the deployed image, and leaves nothing running;
``python -m lab run --deploy never`` runs a burst on it, on the app's route of ``--path`` or the one read from the
app's routes."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from lab import cli
from lab.aws import Aws
from lab.ecs import read_only_root_problem
from lab.load import SLEEP_PATH
from lab.registry import IMAGE_CACHE
from lab.stack import discover, write_weights
from tests.integration.test_wiring import recap
from tests.support.ansible_run import ROOT, run_playbook
from tests.support.lab_plane import request, wait_for
from tests.support.local_aws import CREDENTIALS, free_port
from tests.support.local_registry import ensure_base_image, local_registry, needs_image_tools
from tests.support.stack_leftovers import stack_leftovers

pytestmark = [pytest.mark.integration, pytest.mark.slow, needs_image_tools]

STACK = "spillover-local"
INVENTORY = ROOT / "inventories" / "local"


@pytest.fixture(scope="module")
def deployed(moto_server, tmp_path_factory):
    """spillover-local deployed by site.yml to an empty local AWS, with one standby task; torn down afterwards."""
    moto_server.reset()
    port = moto_server.endpoint.rsplit(":", 1)[1]
    ensure_base_image()
    with pytest.MonkeyPatch.context() as patch, local_registry(tmp_path_factory.mktemp("registry")) as registry:
        for key, value in {**CREDENTIALS, "AWS_ENDPOINT_URL": moto_server.endpoint}.items():
            patch.setenv(key, value)
        extra_vars = {
            "spillover_scaler_endpoint_url": moto_server.endpoint,
            "ecr_push_registry_override": registry,
            "ecs_service_standby_count": 1,
            "scaler_standby_tasks": 1,
        }
        env = {"LOCAL_AWS_PORT": port}
        recap(run_playbook(ROOT / "playbooks" / "site.yml", inventory=INVENTORY, extra_vars=extra_vars, env=env))
        yield Aws(moto_server.endpoint)
        recap(run_playbook(ROOT / "playbooks" / "teardown.yml", inventory=INVENTORY, env=env))
        assert stack_leftovers(Aws(moto_server.endpoint).client, STACK) == []


def lines_of(process: subprocess.Popen) -> tuple[queue.Queue, threading.Thread]:
    """The process's stdout lines as they come, and the thread that reads them until the process ends."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return lines, reader


def lab_up(endpoint: str, port: int, output: Path) -> subprocess.Popen:
    """``python -m lab up`` on the deployed stack, serving on ``port``, its stdout a pipe of text lines."""
    command = [sys.executable, "-m", "lab", "up", "--stack", STACK, "--deploy", "never", "--port", str(port)]
    command += ["--endpoint", endpoint, "--start-delay", "0", "--output", str(output)]
    return subprocess.Popen(command, cwd=ROOT, env=os.environ, stdout=subprocess.PIPE, text=True)


def listening(host: str, port: int) -> bool:
    """Whether a socket listens on ``host:port`` (connections it closed may wait in TIME_WAIT: that is no listener)."""
    return any(
        connection.status == psutil.CONN_LISTEN and tuple(connection.laddr) == (host, port)
        for connection in psutil.net_connections(kind="tcp")
    )


def test_up_serves_ones_own_requests_through_both_runtimes_until_interrupted_and_leaves_nothing(deployed, tmp_path):
    aws = deployed
    stack = discover(aws, STACK)
    ecs_group = stack.ecs_target_group.arn
    port = free_port()
    lab = lab_up(aws.endpoint, port, tmp_path)
    try:
        lines, reader = lines_of(lab)
        first = lines.get(timeout=120)
        url = f"http://127.0.0.1:{port}"
        assert first.startswith(f"lab: {STACK} is up at {url} (Lambda {STACK}-app up to 10 at once, 1 standby ECS")

        answer = request(url, "/env")
        assert (answer.status, answer.served_by, json.loads(answer.body)) == (200, "lambda", {"message": "lambda"})

        # The standby task runs the deployed image: the ECS target group has it once the lab's checks find it healthy.
        elbv2 = aws.client("elbv2")

        def healthy() -> list[dict]:
            targets = elbv2.describe_target_health(TargetGroupArn=ecs_group)["TargetHealthDescriptions"]
            return [target["Target"] for target in targets if target["TargetHealth"]["State"] == "healthy"]

        [target] = wait_for(healthy, 120, "the standby task healthy")
        write_weights(elbv2, stack.listener_arn, {stack.lambda_target_group.arn: 0, ecs_group: 1})

        def from_ecs():
            answer = request(url, "/env")
            return answer if answer.served_by == "ecs" else None

        answer = wait_for(from_ecs, 30, "the weights re-read")
        assert (answer.status, json.loads(answer.body)) == (200, {"message": "server"})

        started = psutil.Process(lab.pid).children(recursive=True)
        commands = [" ".join(child.cmdline()) for child in started]
        image_server = str(IMAGE_CACHE) + "/sha256-"
        assert any(image_server in line and line.endswith("rootfs/opt/spillover/serve.py") for line in commands)
        # The task definition's read-only root (ecs_service's default): the image served with its files mounted
        # read-only, /tmp the task's own writable volume, where this machine lets the lab do so.
        assert (stack.service.container.readonly_root, stack.service.container.mounts) == (True, ("/tmp",))
        if not read_only_root_problem():
            [server, *_] = [child for child in started if child.cmdline()[-1].endswith("rootfs/opt/spillover/serve.py")]
            root = server.cmdline()[-1].removesuffix("/opt/spillover/serve.py")
            mounts = {
                fields[4]: fields[5].split(",")
                for fields in (line.split() for line in Path(f"/proc/{server.pid}/mountinfo").read_text().splitlines())
            }
            assert "ro" in mounts[root] and "rw" in mounts[f"{root}/tmp"], mounts
        assert any("lab/lambda_worker.py" in line for line in commands)
        assert listening("127.0.0.1", port) and listening(target["Id"], target["Port"])
    finally:
        lab.send_signal(signal.SIGINT)
        assert lab.wait(timeout=90) == 0
    reader.join(timeout=10)
    rest = "".join(lines.queue)
    assert "lab: stopped; every process the lab started has been stopped" in rest
    _, alive = psutil.wait_procs(started, timeout=10)
    assert alive == []
    assert not listening("127.0.0.1", port)
    assert not listening(target["Id"], target["Port"])
    assert elbv2.describe_target_health(TargetGroupArn=ecs_group)["TargetHealthDescriptions"] == []


def test_up_stops_as_cleanly_on_sigterm(deployed, tmp_path):
    port = free_port()
    lab = lab_up(deployed.endpoint, port, tmp_path)
    try:
        lines, reader = lines_of(lab)
        assert f"is up at http://127.0.0.1:{port} " in lines.get(timeout=120)
        assert request(f"http://127.0.0.1:{port}", "/pong").status == 200
        started = psutil.Process(lab.pid).children(recursive=True)
        assert started  # the function's execution environment at least
    finally:
        lab.send_signal(signal.SIGTERM)
        assert lab.wait(timeout=90) == 0
    reader.join(timeout=10)
    assert "lab: stopped; every process the lab started has been stopped" in "".join(lines.queue)
    _, alive = psutil.wait_procs(started, timeout=10)
    assert alive == []
    assert not listening("127.0.0.1", port)


def test_run_with_deploy_never_bursts_the_deployed_stack_on_the_path_given(deployed, tmp_path, capsys):
    aws = deployed
    assert cli.default_path(aws, discover(aws, STACK)) == SLEEP_PATH  # the demo app's, read from its deployed zip
    argv = ["run", "--stack", STACK, "--deploy", "never", "--endpoint", aws.endpoint, "--profile", "short"]
    argv += ["--scaler", "off", "--path", "/pong", "--quiet", "--output", str(tmp_path)]
    assert cli.main(argv) == 0
    assert "lab: the burst sends GET /pong\n" in capsys.readouterr().out
    [run] = [path for path in Path(tmp_path).iterdir() if path.is_dir()]
    access = [json.loads(line) for line in (run / "access.log").read_text().splitlines()]
    assert {record["path"] for record in access} == {"/pong"}
    # Lambda throttles what is beyond its reserved concurrency (502): with --scaler off, nothing spills.
    statuses = [record["status"] for record in access]
    assert statuses.count(200) > 100 and set(statuses) <= {200, 502}
    assert {record["target_group"] for record in access} <= {"lambda"}
