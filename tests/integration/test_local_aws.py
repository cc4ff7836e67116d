"""The local AWS: make local-aws-up/down, and the test support that runs against it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from tests.support.ansible_run import run_module
from tests.support.local_aws import CREDENTIALS, free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def make(target: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    venv = str(Path(sys.executable).parents[1])
    return subprocess.run(
        ["make", "--no-print-directory", target, f"VENV={venv}"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_make_local_aws_up_call_down(tmp_path):
    port = free_port()
    env = {"LOCAL_AWS_PORT": str(port), "LOCAL_AWS_DIR": str(tmp_path)}
    try:
        first = make("local-aws-up", env)
        assert first.returncode == 0, first.stderr
        assert f"started at http://127.0.0.1:{port}" in first.stdout
        pid = int((tmp_path / f"moto-{port}.pid").read_text())

        second = make("local-aws-up", env)
        assert second.returncode == 0 and "already running" in second.stdout

        sts = boto3.client(
            "sts",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        assert sts.get_caller_identity()["Account"] == "123456789012"
    finally:
        stopped = make("local-aws-down", env)
    assert stopped.returncode == 0 and f"(pid {pid})" in stopped.stdout
    assert not Path(f"/proc/{pid}").exists() or "moto" not in Path(f"/proc/{pid}/cmdline").read_text()
    again = make("local-aws-down", env)
    assert again.returncode == 0 and "was not running" in again.stdout


def test_local_aws_refuses_a_non_loopback_host(tmp_path):
    result = make("local-aws-up", {"LOCAL_AWS_HOST": "10.1.2.3", "LOCAL_AWS_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "loopback" in result.stderr


def test_recorder_sees_the_calls_of_an_ansible_module(recorder, aws_client):
    aws_client("ec2").create_vpc(CidrBlock="10.9.0.0/16")
    result = run_module("amazon.aws.ec2_vpc_net_info", {}, endpoint=recorder.endpoint)
    assert not result.get("failed"), result
    assert [vpc["cidr_block"] for vpc in result["vpcs"] if vpc["cidr_block"] == "10.9.0.0/16"]
    operations = {(call.service, call.operation) for call in recorder.calls}
    assert ("ec2", "DescribeVpcs") in operations
    assert recorder.writes == []


def test_one_module_defaults_group_configures_our_modules_and_amazon_aws(recorder):
    """``group/spillover.lambda_ecs.aws`` reaches this collection's modules and amazon.aws's alike."""
    listener = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/none/0123456789abcdef/0123456789abcdef"
    ours = run_module("alb_weighted_forward_info", {"listener_arn": listener}, endpoint=recorder.endpoint)
    theirs = run_module("amazon.aws.ec2_vpc_net_info", {}, endpoint=recorder.endpoint)
    assert ours.get("failed"), ours  # the listener does not exist
    assert not theirs.get("failed"), theirs
    services = {call.service for call in recorder.calls}
    assert {"elasticloadbalancing", "ec2"} <= services, recorder.summary()
