"""The scaler's decision function, driven with fake state and a fake clock (no AWS)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import NamedTuple

import pytest

from tests.support.scaler_stack import load_scaler_module

scaler = load_scaler_module()

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
SPILL, WARM = "throttles", "concurrency"
CONFIG = scaler.ScalerConfig(
    cluster="spill",
    service="app",
    listener_arns=(
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/lb/0123456789abcdef/0123456789abcdef",
    ),
    rule_arn=None,
    lambda_target_group_arn="arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lambda/0123456789abcdef",
    ecs_target_group_arn="arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/ecs/fedcba9876543210",
    spill_alarms=(SPILL,),
    warm_alarms=(WARM,),
    spill_tasks=4,
    standby_tasks=1,
    steps=(25, 50, 100),
    step_seconds=60,
    cooldown_seconds=300,
    drain_seconds=120,
)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def alarms(spill: str = "OK", spill_since: float = 3600, warm: str = "OK", warm_since: float = 3600) -> dict:
    return {SPILL: scaler.AlarmState(spill, ago(spill_since)), WARM: scaler.AlarmState(warm, ago(warm_since))}


def state(share: int = 0, desired: int = 1, healthy: int = 0, last_move: float | None = None, **alarm_args):
    return scaler.ScalerState(
        alarms=alarms(**alarm_args),
        lambda_weight=100 - share,
        ecs_weight=share,
        desired_count=desired,
        running_count=desired,
        pending_count=0,
        healthy_targets=healthy,
        last_move=None if last_move is None else ago(last_move),
    )


def decide(current, config=CONFIG, now=NOW):
    return scaler.decide(current, config, now)


def test_idle_is_a_noop():
    decision = decide(state(share=0, desired=1, healthy=1))
    assert (decision.action, decision.ecs_share, decision.desired_count) == ("noop", 0, 1)
    assert "idle" in decision.reason


def test_spill_without_healthy_target_scales_out_and_moves_no_weight():
    decision = decide(state(spill="ALARM", spill_since=5, desired=1, healthy=0))
    assert (decision.action, decision.ecs_share, decision.desired_count) == ("scale_out", 0, 4)
    assert "needs 1 healthy" in decision.reason
    again = decide(state(spill="ALARM", spill_since=5, desired=4, healthy=0))
    assert (again.action, again.ecs_share, again.desired_count) == ("noop", 0, 4)


def test_spill_never_lowers_a_higher_desired_count():
    decision = decide(state(spill="ALARM", desired=7, healthy=0))
    assert decision.desired_count == 7


def test_first_step_up_needs_one_healthy_target():
    decision = decide(state(spill="ALARM", desired=4, healthy=1))
    assert (decision.action, decision.ecs_share, decision.desired_count) == ("step_up", 25, 4)


def test_steps_never_faster_than_step_seconds():
    early = decide(state(share=25, spill="ALARM", desired=4, healthy=4, last_move=59))
    assert (early.action, early.ecs_share) == ("noop", 25)
    assert "step time" in early.reason
    on_time = decide(state(share=25, spill="ALARM", desired=4, healthy=4, last_move=60))
    assert (on_time.action, on_time.ecs_share) == ("step_up", 50)


def test_steps_go_one_at_a_time_even_with_every_target_healthy():
    decision = decide(state(share=0, spill="ALARM", desired=4, healthy=4))
    assert decision.ecs_share == 25


@pytest.mark.parametrize(
    ("share", "healthy", "expected_share"),
    [
        (25, 1, 25),  # 50% needs 2 of 4 healthy
        (25, 2, 50),
        (50, 3, 50),  # 100% needs all 4
        (50, 4, 100),
    ],
)
def test_partial_health_gates_each_step(share, healthy, expected_share):
    decision = decide(state(share=share, spill="ALARM", desired=4, healthy=healthy, last_move=600))
    assert decision.ecs_share == expected_share
    if expected_share == share:
        assert decision.action == "noop" and f"{healthy} healthy" in decision.reason


@pytest.mark.parametrize("spill_tasks", [1, 2, 3, 5])
def test_full_spill_only_when_all_spill_tasks_are_healthy(spill_tasks):
    config = replace(CONFIG, spill_tasks=spill_tasks, standby_tasks=0)
    below = decide(state(share=50, spill="ALARM", desired=spill_tasks, healthy=spill_tasks - 1, last_move=600), config)
    assert below.ecs_share < 100
    full = decide(state(share=50, spill="ALARM", desired=spill_tasks, healthy=spill_tasks, last_move=600), config)
    assert full.ecs_share == 100


def test_healthy_targets_needed_per_step():
    assert [scaler.healthy_targets_needed(step, 4) for step in (10, 25, 50, 75, 100)] == [1, 1, 2, 3, 4]
    assert [scaler.healthy_targets_needed(step, 1) for step in (25, 100)] == [1, 1]


def test_top_step_holds():
    decision = decide(state(share=100, spill="ALARM", desired=4, healthy=4, last_move=600))
    assert (decision.action, decision.ecs_share) == ("noop", 100)
    assert "top step" in decision.reason


def test_a_share_between_steps_goes_to_the_next_step():
    current = replace(state(spill="ALARM", desired=4, healthy=4, last_move=600), lambda_weight=1, ecs_weight=2)
    assert decide(current).ecs_share == 100  # 67% today, next configured step is 100%
    down = replace(state(desired=4, healthy=4, last_move=600), lambda_weight=70, ecs_weight=30)
    assert decide(down).ecs_share == 25


def test_seed_style_weights_count_as_all_on_lambda():
    current = replace(state(desired=1, healthy=1), lambda_weight=1, ecs_weight=0)
    decision = decide(current)
    assert (decision.action, decision.ecs_share) == ("noop", 0)


@pytest.mark.parametrize("spill", ["ALARM", "OK"])
def test_fail_back_when_no_target_is_healthy_whatever_the_alarms_and_step_time(spill):
    decision = decide(state(share=50, spill=spill, spill_since=1, desired=4, healthy=0, last_move=1))
    assert (decision.action, decision.ecs_share, decision.desired_count) == ("fail_back", 0, 4)


def test_fail_back_during_spill_keeps_the_spill_capacity():
    decision = decide(state(share=25, spill="ALARM", desired=1, healthy=0, last_move=1))
    assert (decision.action, decision.ecs_share, decision.desired_count) == ("fail_back", 0, 4)


def test_cooldown_counts_from_the_alarms_own_state_timestamp():
    # The last move is long past; only the alarm's own OK time matters.
    cooling = decide(state(share=50, spill="OK", spill_since=299, desired=4, healthy=4, last_move=3600))
    assert (cooling.action, cooling.ecs_share) == ("noop", 50)
    assert "cooldown 1s left" in cooling.reason
    cooled = decide(state(share=50, spill="OK", spill_since=300, desired=4, healthy=4, last_move=3600))
    assert (cooled.action, cooled.ecs_share, cooled.desired_count) == ("step_down", 25, 4)


def test_every_spill_alarm_must_be_ok_for_the_cooldown():
    config = replace(CONFIG, spill_alarms=(SPILL, "errors"))
    current = state(share=50, desired=4, healthy=4, last_move=3600)
    both_ok = {**current.alarms, "errors": scaler.AlarmState("OK", ago(10))}
    decision = decide(replace(current, alarms=both_ok), config)
    assert (decision.action, decision.ecs_share) == ("noop", 50)
    one_alarming = {**current.alarms, "errors": scaler.AlarmState("ALARM", ago(10))}
    assert decide(replace(current, alarms=one_alarming), config).action == "step_up"


@pytest.mark.parametrize(
    ("share", "wait", "held", "expected"),
    [
        (25, 60, "step time", ("step_down", 0, 4)),  # one step down per step time
        (0, 120, "draining 1s", ("scale_in", 0, 1)),  # the drain time at 0% before scaling in
    ],
    ids=["step_down_one_step_per_step_seconds", "drain_time_at_zero_before_scaling_in"],
)
def test_a_move_back_waits_its_time_to_the_second(share, wait, held, expected):
    early = decide(state(share=share, desired=4, healthy=4, last_move=wait - 1))
    assert (early.action, early.ecs_share, early.desired_count) == ("noop", share, 4)
    assert held in early.reason
    decision = decide(state(share=share, desired=4, healthy=4, last_move=wait))
    assert (decision.action, decision.ecs_share, decision.desired_count) == expected


def test_step_down_goes_one_step_at_a_time():
    assert decide(state(share=100, desired=4, healthy=4, last_move=60)).ecs_share == 50


@pytest.mark.parametrize("value", ["INSUFFICIENT_DATA", None])
def test_unsettled_spill_alarm_holds_the_share(value):
    current = state(share=50, desired=4, healthy=4, last_move=3600)
    states = dict(current.alarms)
    if value is None:
        del states[SPILL]
    else:
        states[SPILL] = scaler.AlarmState(value, ago(3600))
    decision = decide(replace(current, alarms=states))
    assert (decision.action, decision.ecs_share, decision.desired_count) == ("noop", 50, 4)
    assert ("INSUFFICIENT_DATA" if value else "does not exist") in decision.reason


def test_scale_in_waits_for_the_cooldown_of_every_alarm():
    decision = decide(state(share=0, desired=4, healthy=4, warm="OK", warm_since=10))
    assert (decision.action, decision.desired_count) == ("noop", 4)
    assert "cooldown" in decision.reason


def test_warm_alarm_adds_capacity_and_moves_no_weight():
    decision = decide(state(share=0, warm="ALARM", desired=1, healthy=1))
    assert (decision.action, decision.ecs_share, decision.desired_count) == ("warm", 0, 4)
    again = decide(state(share=0, warm="ALARM", desired=4, healthy=4))
    assert (again.action, again.ecs_share, again.desired_count) == ("noop", 0, 4)


def test_warm_alarm_does_not_hold_traffic_on_ecs():
    decision = decide(state(share=50, warm="ALARM", desired=4, healthy=4, last_move=600))
    assert (decision.action, decision.ecs_share) == ("step_down", 25)


def test_desired_count_below_standby_is_raised():
    decision = decide(state(share=0, desired=0))
    assert (decision.action, decision.desired_count) == ("scale_out", 1)


def test_a_last_move_tag_far_in_the_future_is_not_trusted():
    decision = decide(state(share=25, spill="ALARM", desired=4, healthy=4, last_move=-3600))
    assert decision.action == "step_up"
    skewed = decide(state(share=25, spill="ALARM", desired=4, healthy=4, last_move=-5))
    assert skewed.action == "noop"


def test_a_new_alarm_during_recovery_steps_up_again_after_the_step_time():
    early = decide(state(share=25, spill="ALARM", spill_since=1, desired=4, healthy=4, last_move=30))
    assert (early.action, early.ecs_share) == ("noop", 25)
    later = decide(state(share=25, spill="ALARM", spill_since=31, desired=4, healthy=4, last_move=61))
    assert (later.action, later.ecs_share) == ("step_up", 50)


class Tick(NamedTuple):
    second: int
    action: str
    share: int
    desired: int


def simulate(alarm_at, healthy_at, seconds: int, tick: int = 10, config=CONFIG):
    """Run ``decide`` every ``tick`` seconds over a fake world that applies each decision; return the history.

    ``alarm_at(t)`` gives the spill alarm state at second t, ``healthy_at(t, desired)`` the healthy targets.
    The alarm's state timestamp moves only when its value changes, as CloudWatch does.
    """
    share, desired, last_move = 0, config.standby_tasks, None
    alarm_value, alarm_since = "OK", NOW - timedelta(hours=1)
    history = []
    for second in range(0, seconds, tick):
        now = NOW + timedelta(seconds=second)
        if alarm_at(second) != alarm_value:
            alarm_value, alarm_since = alarm_at(second), now
        current = scaler.ScalerState(
            alarms={SPILL: scaler.AlarmState(alarm_value, alarm_since), WARM: scaler.AlarmState("OK", alarm_since)},
            lambda_weight=100 - share,
            ecs_weight=share,
            desired_count=desired,
            running_count=desired,
            pending_count=0,
            healthy_targets=healthy_at(second, desired),
            last_move=last_move,
        )
        decision = scaler.decide(current, config, now)
        if decision.ecs_share != share:
            last_move = now
        share, desired = decision.ecs_share, decision.desired_count
        history.append(Tick(second, decision.action, share, desired))
    return history


def moves(history):
    return [tick for tick in history if tick.action in ("step_up", "step_down")]


def test_flapping_alarm_steps_up_at_the_step_rate_and_never_steps_down_or_scales_in():
    # ALARM for 40 s, OK for 40 s, over and over for 15 minutes; tasks healthy 30 s after they are asked for.
    def alarm_at(second):
        return "ALARM" if (second // 40) % 2 == 0 else "OK"

    def healthy_at(second, desired):
        return desired if second >= 30 else 0

    history = simulate(alarm_at, healthy_at, seconds=900)
    moved = moves(history)
    assert [tick.share for tick in moved] == [25, 50, 100]
    assert all(later.second - earlier.second >= CONFIG.step_seconds for earlier, later in pairwise(moved))
    assert not any(tick.action in ("step_down", "scale_in", "fail_back") for tick in history)
    assert (history[-1].share, history[-1].desired) == (100, 4)


def test_full_cycle_spill_then_recovery_with_cooldown_steps_and_drain():
    # ALARM from 0 to 300 s, then OK; one more task healthy every 20 s after the scale-out.
    def alarm_at(second):
        return "ALARM" if second < 300 else "OK"

    def healthy_at(second, desired):
        return min(desired, max(0, (second - 20) // 20))

    history = simulate(alarm_at, healthy_at, seconds=1500)
    moved = moves(history)
    assert [tick.share for tick in moved] == [25, 50, 100, 50, 25, 0]
    downs = [tick.second for tick in moved[3:]]
    assert downs[0] >= 300 + CONFIG.cooldown_seconds
    assert all(later - earlier >= CONFIG.step_seconds for earlier, later in pairwise(downs))
    scale_ins = [tick for tick in history if tick.action == "scale_in"]
    assert len(scale_ins) == 1 and scale_ins[0].desired == CONFIG.standby_tasks
    assert scale_ins[0].second >= downs[-1] + CONFIG.drain_seconds
    assert history[-1][1:] == ("noop", 0, CONFIG.standby_tasks)
