"""Fixtures of the lab's tests: a contract stack created with boto3 in the test's private local AWS."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.aws import Aws
from lab.stack import Stack, discover, write_weights
from lab.stack_fixture import FixtureSettings, create_stack
from tests.support.app_support import ZIP_CACHE


@dataclass
class LabStack:
    aws: Aws
    stack: Stack
    build_dir: Path
    arns: dict[str, str]

    def rediscover(self) -> Stack:
        self.stack = discover(self.aws, self.stack.name)
        return self.stack

    def set_weights(self, lambda_weight: int, ecs_weight: int) -> None:
        weights = {self.stack.lambda_target_group.arn: lambda_weight, self.stack.ecs_target_group.arn: ecs_weight}
        write_weights(self.aws.client("elbv2"), self.stack.listener_arn, weights)


def quick_settings(**overrides) -> FixtureSettings:
    """The lab inventory's idea (short periods), shorter still so that tests stay fast."""
    settings = FixtureSettings(
        stack="lab-test",
        zip_cache=ZIP_CACHE,
        alarm_period=5,
        health_check_interval=5,
        healthy_threshold=2,
        unhealthy_threshold=2,
        health_check_timeout=2,
        deregistration_delay=1,
        scaler_environment={
            "SPILLOVER_SPILL_TASKS": "2",
            "SPILLOVER_STANDBY_TASKS": "0",
            "SPILLOVER_STEPS": "80,100",
            "SPILLOVER_STEP_SECONDS": "4",
            "SPILLOVER_COOLDOWN_SECONDS": "8",
            "SPILLOVER_DRAIN_SECONDS": "1",
        },
    )
    for key, value in overrides.items():
        setattr(settings, key, value)
    return settings


@pytest.fixture
def lab_stack_of(local_aws, tmp_path):
    """A contract stack of :func:`quick_settings` with these ``overrides`` (``app``: the app it deploys)."""

    def make(**overrides) -> LabStack:
        aws = Aws(local_aws.endpoint)
        settings = quick_settings(**overrides)
        arns = create_stack(aws, settings, tmp_path / "build")
        return LabStack(aws, discover(aws, settings.stack), tmp_path / "build", arns)

    return make


@pytest.fixture
def lab_stack(lab_stack_of) -> LabStack:
    return lab_stack_of()
