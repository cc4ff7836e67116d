"""Shared fixtures: a private local AWS (moto server) for the session, and a call recorder."""

from __future__ import annotations

import os

import boto3
import pytest

from tests.support.aws_recorder import AwsRecorder
from tests.support.local_aws import CREDENTIALS, REGION, MotoServer
from tests.support.local_registry import ensure_base_image, local_registry


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    server = MotoServer(log_path=tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield server
    server.stop()


@pytest.fixture
def local_aws(moto_server, monkeypatch):
    """An empty local AWS for this test; the process environment points boto3 at it."""
    moto_server.reset()
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_server


@pytest.fixture
def aws_client(local_aws):
    """``aws_client("elbv2")``: a boto3 client of the local AWS."""

    def make(service: str, **kwargs):
        return boto3.client(service, region_name=REGION, endpoint_url=local_aws.endpoint, **kwargs)

    return make


@pytest.fixture
def recorder(local_aws):
    """A recording proxy in front of the local AWS: use ``recorder.endpoint`` as ``endpoint_url``."""
    proxy = AwsRecorder(local_aws.endpoint).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def registry(tmp_path):
    """A private docker-registry on a free loopback port (``host:port``), standing in for ECR's endpoint."""
    with local_registry(tmp_path) as address:
        yield address


@pytest.fixture(scope="session")
def base_image():
    """The local base image of the app's Dockerfile (no public registry is reachable here)."""
    return ensure_base_image()


def pytest_configure(config):
    os.environ.setdefault("ANSIBLE_LOCAL_TEMP", str(config.rootpath / "build" / "ansible-tmp"))
