"""The scaler's health gate, with a fake clock and sleep (no AWS, no real waiting).

A fake ELBv2 answers DescribeTargetGroups (the health check's interval and healthy threshold) and DescribeTargetHealth
(targets turn healthy at chosen moments of the fake clock), and records every call; ``sleep`` only moves the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest
import yaml

from tests.support.scaler_stack import ROOT, load_scaler_module
from tests.unit.files.scaler.test_scaler_decide import CONFIG, decide, state

scaler = load_scaler_module()


@dataclass
class FakeTime:
    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.now += seconds


class FakeElbv2:
    """The ECS target group: health check ``interval`` x ``threshold``; target ``i`` turns healthy at
    ``healthy_at[i]`` (fake monotonic seconds), or never when that is None."""

    def __init__(self, clock: FakeTime, healthy_at: list[float | None], interval: int = 5, threshold: int = 2):
        self.clock, self.healthy_at = clock, healthy_at
        self.interval, self.threshold = interval, threshold
        self.calls: list[str] = []

    def describe_target_groups(self, TargetGroupArns: list[str]) -> dict:
        self.calls.append("DescribeTargetGroups")
        assert TargetGroupArns == [CONFIG.ecs_target_group_arn]
        group = {"TargetGroupArn": TargetGroupArns[0], "HealthCheckIntervalSeconds": self.interval}
        return {"TargetGroups": [{**group, "HealthyThresholdCount": self.threshold}]}

    def describe_target_health(self, TargetGroupArn: str) -> dict:
        self.calls.append("DescribeTargetHealth")
        return {
            "TargetHealthDescriptions": [
                {
                    "Target": {"Id": f"10.0.1.{index}", "Port": 8080},
                    "TargetHealth": {"State": "healthy" if at is not None and self.clock.now >= at else "initial"},
                }
                for index, at in enumerate(self.healthy_at)
            ]
        }


@dataclass
class Context:
    """The Lambda context's remaining time, counted down by the fake clock."""

    clock: FakeTime
    deadline: float

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - self.clock.now) * 1000)


def gate(healthy_at: list[float | None], **elbv2_settings) -> tuple[object, FakeTime, FakeElbv2]:
    clock = FakeTime()
    elbv2 = FakeElbv2(clock, [None if at is None else clock.now + at for at in healthy_at], **elbv2_settings)
    spill = scaler.Scaler(CONFIG, elbv2, ecs=None, cloudwatch=None, sleep=clock.sleep, monotonic=clock.monotonic)
    return spill, clock, elbv2


# The 25% step needs 1 healthy target of the 4 spill tasks; 2 are running, neither healthy yet.
STARTING = replace(state(share=0, desired=4, healthy=0, spill="ALARM", spill_since=30), running_count=2)


def test_a_step_that_waits_only_for_health_says_how_many_targets_it_needs():
    assert decide(STARTING).healthy_needed == 1
    assert decide(replace(STARTING, healthy_targets=1)).action == "step_up"
    assert decide(replace(STARTING, healthy_targets=1)).healthy_needed is None
    assert decide(state(share=25, desired=4, healthy=0, spill="ALARM")).action == "fail_back"  # no waiting there
    # The step time is not over: waiting for health alone would not make the step due.
    assert decide(state(share=25, desired=4, healthy=1, spill="ALARM", last_move=10)).healthy_needed is None
    assert decide(state(share=100, desired=4, healthy=4, spill="ALARM")).healthy_needed is None
    assert decide(state(desired=4, healthy=0, warm="ALARM")).healthy_needed is None


def test_the_wait_takes_the_step_the_moment_enough_targets_are_healthy():
    spill, clock, elbv2 = gate([4.5, None])
    wait = spill.wait_for_health(STARTING, needed=1)
    assert wait["outcome"] == "healthy" and wait["healthy"] == 1
    assert clock.sleeps == [1.0] * 5  # polled every second: seen healthy at the first poll after 4.5 s
    assert (wait["waited_seconds"], wait["polls"], wait["bound_seconds"], wait["bound_by"]) == (
        5.0,
        5,
        15.0,
        "health check",
    )
    assert elbv2.calls == ["DescribeTargetGroups"] + ["DescribeTargetHealth"] * 5


def test_the_wait_is_bounded_by_the_health_check_plus_a_margin_and_times_out():
    spill, clock, elbv2 = gate([None, None], interval=2, threshold=3)  # 6 s + the 5 s margin
    wait = spill.wait_for_health(STARTING, needed=1)
    assert wait["outcome"] == "timeout" and wait["healthy"] == 0
    assert sum(clock.sleeps) == pytest.approx(11.0) and max(clock.sleeps) <= scaler.HEALTH_POLL_SECONDS
    assert (wait["waited_seconds"], wait["bound_seconds"], wait["polls"]) == (11.0, 11.0, 11)
    # The settings are read once per execution environment, not once per wait.
    spill.wait_for_health(STARTING, needed=1)
    assert elbv2.calls.count("DescribeTargetGroups") == 1


def test_the_wait_never_runs_into_the_invocations_last_seconds():
    spill, clock, _ = gate([None, None])
    context = Context(clock, deadline=clock.now + 18.5)  # 18.5 s left: 8.5 s may be waited, 10 s are kept
    wait = spill.wait_for_health(STARTING, needed=1, context=context)
    assert (wait["outcome"], wait["bound_by"], wait["bound_seconds"]) == ("timeout", "invocation time", 8.5)
    assert sum(clock.sleeps) == pytest.approx(8.5)
    assert context.get_remaining_time_in_millis() == scaler.REMAINING_TIME_MARGIN_SECONDS * 1000


def test_no_time_left_means_no_sleep():
    spill, clock, _ = gate([0.5])
    wait = spill.wait_for_health(STARTING, needed=1, context=Context(clock, deadline=clock.now + 4))
    assert (wait["outcome"], wait["bound_seconds"], wait["polls"]) == ("timeout", 0.0, 0)
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "current",
    [
        replace(STARTING, running_count=0),  # tasks still provisioning: no target to check yet
        replace(STARTING, running_count=1, healthy_targets=1),  # every running task already healthy
    ],
    ids=["provisioning", "all-running-healthy"],
)
def test_nothing_being_health_checked_means_no_sleep_and_no_call(current):
    spill, clock, elbv2 = gate([None, None])
    wait = spill.wait_for_health(current, needed=2)
    assert wait["outcome"] == "not waited: no ECS target is being health-checked"
    assert clock.sleeps == [] and elbv2.calls == []


def test_a_target_in_its_first_checks_is_worth_waiting_for_even_before_ecs_counts_its_task_running():
    spill, clock, _ = gate([2.0])
    current = replace(STARTING, running_count=0, checking_targets=1)
    assert current.health_checks_running
    assert spill.wait_for_health(current, needed=1)["outcome"] == "healthy"
    assert clock.sleeps == [1.0, 1.0]


def test_the_scaler_roles_timeout_covers_the_longest_wait_of_the_ecs_service_roles_health_check():
    """With the roles' defaults, the whole wait fits in the invocation with the margin kept for the writes."""
    ecs = yaml.safe_load((ROOT / "roles" / "ecs_service" / "defaults" / "main.yml").read_text())
    timeout = yaml.safe_load((ROOT / "roles" / "scaler" / "defaults" / "main.yml").read_text())["scaler_timeout"]
    spill, clock, _ = gate(
        [None], interval=ecs["ecs_service_health_check_interval"], threshold=ecs["ecs_service_healthy_threshold"]
    )
    wait = spill.wait_for_health(STARTING, needed=1, context=Context(clock, deadline=clock.now + timeout))
    assert (wait["bound_by"], wait["bound_seconds"]) == ("health check", 15.0)
    assert wait["bound_seconds"] + scaler.REMAINING_TIME_MARGIN_SECONDS < timeout
