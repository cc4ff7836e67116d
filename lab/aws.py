"""boto3 clients of the AWS the lab talks to (the local AWS unless told otherwise)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import boto3
from botocore.config import Config

LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def local_endpoint() -> str:
    """The endpoint `make local-aws-up` serves (the same expression inventories/local uses)."""
    host = os.environ.get("LOCAL_AWS_HOST", "127.0.0.1")
    port = os.environ.get("LOCAL_AWS_PORT", "45660")
    return f"http://{host}:{port}"


@dataclass
class Aws:
    """One endpoint and region; clients are created once and shared between threads (boto3 allows it)."""

    endpoint: str | None
    region: str = "us-east-1"
    _clients: dict = field(default_factory=dict, repr=False)

    def client(self, service: str):
        if service not in self._clients:
            credentials = {}
            if self.endpoint:
                credentials = {
                    "aws_access_key_id": os.environ.get("AWS_ACCESS_KEY_ID", LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"]),
                    "aws_secret_access_key": os.environ.get(
                        "AWS_SECRET_ACCESS_KEY", LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
                    ),
                    "aws_session_token": os.environ.get("AWS_SESSION_TOKEN", LOCAL_CREDENTIALS["AWS_SESSION_TOKEN"]),
                }
            config = Config(
                retries={"mode": "standard", "max_attempts": 4},
                connect_timeout=5,
                read_timeout=30,
                max_pool_connections=32,
            )
            self._clients[service] = boto3.client(
                service, region_name=self.region, endpoint_url=self.endpoint, config=config, **credentials
            )
        return self._clients[service]

    def environment(self) -> dict[str, str]:
        """The standard AWS environment a subprocess (the scaler) needs to reach the same AWS."""
        env = {"AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}
        if self.endpoint:
            env["AWS_ENDPOINT_URL"] = self.endpoint
            for key, default in LOCAL_CREDENTIALS.items():
                env[key] = os.environ.get(key, default)
        return env
