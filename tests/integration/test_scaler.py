"""The scaler against the local AWS (moto server): a real ALB listener and rule with a weighted forward action,
a Lambda and an ip target group, an awsvpc ECS service and CloudWatch alarms driven with SetAlarmState.

What moto cannot model, and how these tests stand in for it:
- Target health: moto marks a registered ip target healthy at once. "Tasks becoming healthy" is registering
  targets; "no healthy target" is having none registered (``remove_all_targets``).
- Time: the scaler takes an injectable clock. Tests start it at the real time (moto stamps alarm state changes
  with the real time) and move it forward instead of sleeping. One test instead sets the remembered last-move
  tag back in time, as an operator or an older invocation would have left it, with the real clock.
- Throttling: moto never throttles; ``ThrottlingProxy`` answers chosen operations with "400 Throttling".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from lab.builder import zip_extra_files
from tests.support.imports import imported_modules
from tests.support.scaler_stack import (
    FOREIGN_ALARM,
    SCALER_DIR,
    SCALER_EXTRA_FILES,
    SCHEDULED_EVENT,
    SPILL_ALARM,
    WARM_ALARM,
    alarm_event,
    build_stack,
    load_scaler_module,
    scaler_code_dir,
    task_event,
)
from tests.support.throttling_proxy import ThrottlingProxy

pytestmark = pytest.mark.integration
scaler = load_scaler_module()


class FakeClock:
    """The scaler's time of day, and the health gate's sleep and monotonic clock: sleeping moves time on at once.
    ``on_sleep`` (if set) is called after each sleep, as the world would change meanwhile."""

    def __init__(self):
        self.now = datetime.now(UTC)
        self.sleeps: list[float] = []
        self.on_sleep = None

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        if self.on_sleep:
            self.on_sleep(len(self.sleeps))

    def monotonic(self) -> float:
        return self.now.timestamp()


@pytest.fixture
def stack(local_aws):
    return build_stack(local_aws.endpoint)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def make_scaler(stack, clock):
    def make(endpoint: str | None = None, boto_config=scaler.BOTO_CONFIG, **overrides: str):
        env = stack.environment(AWS_ENDPOINT_URL=endpoint or stack.endpoint, **overrides)
        return scaler.Scaler.from_environment(
            env, clock=clock, boto_config=boto_config, sleep=clock.sleep, monotonic=clock.monotonic
        )

    return make


def last_move_tag(stack, arn: str | None = None) -> str | None:
    descriptions = stack.client("elbv2").describe_tags(ResourceArns=[arn or stack.listener_arn])["TagDescriptions"]
    return {tag["Key"]: tag["Value"] for tag in descriptions[0]["Tags"]}.get(scaler.LAST_MOVE_TAG)


def test_idle_is_a_noop_with_reads_only(stack, make_scaler, recorder):
    quiet = make_scaler(endpoint=recorder.endpoint)
    record = quiet.handle(SCHEDULED_EVENT)
    assert (record["action"], record["weights"], record["desired_count"]) == ("noop", {"lambda": 100, "ecs": 0}, 0)
    assert record["inputs"]["alarms"][SPILL_ALARM]["state"] == "OK" and record["writes"] == []
    late_ok = quiet.handle(alarm_event(SPILL_ALARM, "OK", "ALARM"))  # a late event about a past spill
    assert late_ok["action"] == "noop"
    assert recorder.calls and recorder.writes == []
    assert {call.operation for call in recorder.calls} == {
        "DescribeListeners",
        "DescribeServices",
        "DescribeAlarms",
        "DescribeTargetHealth",
        "DescribeTags",
    }


def test_spill_with_no_healthy_target_scales_out_and_moves_no_weight(stack, make_scaler, recorder):
    spill = make_scaler(endpoint=recorder.endpoint)
    stack.set_alarm(SPILL_ALARM, "ALARM")
    record = spill.handle(alarm_event(SPILL_ALARM))
    assert (record["action"], record["desired_count"], record["healthy_targets"]) == ("scale_out", 2, 0)
    assert stack.desired_count() == 2
    assert stack.weights() == {"lambda": 100, "ecs": 0} and last_move_tag(stack) is None
    assert [call.operation for call in recorder.writes] == ["UpdateService"]


def test_steps_25_50_100_as_targets_become_healthy_and_time_passes(stack, make_scaler, clock, recorder):
    spill = make_scaler(endpoint=recorder.endpoint)
    stack.set_alarm(SPILL_ALARM, "ALARM")
    assert spill.handle(alarm_event(SPILL_ALARM))["action"] == "scale_out"
    stack.add_healthy_targets(1)

    recorder.reset()
    first = spill.handle(SCHEDULED_EVENT)
    assert (first["action"], first["weights"], first["verified"]) == ("step_up", {"lambda": 75, "ecs": 25}, True)
    assert [call.operation for call in recorder.writes] == ["AddTags", "ModifyListener"]
    assert last_move_tag(stack) == first["time"]

    recorder.reset()
    duplicate = spill.handle(alarm_event(SPILL_ALARM))  # EventBridge delivers at least once
    assert duplicate["action"] == "noop" and "step time" in duplicate["reason"]
    assert recorder.writes == [] and stack.weights() == {"lambda": 75, "ecs": 25}

    clock.advance(60)
    assert spill.handle(SCHEDULED_EVENT)["weights"] == {"lambda": 50, "ecs": 50}  # 50% of 2 tasks: 1 healthy is enough
    clock.advance(60)
    waiting = spill.handle(SCHEDULED_EVENT)
    assert waiting["action"] == "noop" and "100% needs 2 healthy ECS targets, 1 healthy" in waiting["reason"]
    stack.add_healthy_targets(1)
    full = spill.handle(SCHEDULED_EVENT)
    assert (full["action"], full["weights"]) == ("step_up", {"lambda": 0, "ecs": 100})
    top = spill.handle(SCHEDULED_EVENT)
    assert top["action"] == "noop" and "top step" in top["reason"]

    # Only the weights changed: stickiness and the rest of the action are as they were.
    assert stack.forward_action()["ForwardConfig"]["TargetGroupStickinessConfig"] == {
        "Enabled": True,
        "DurationSeconds": 300,
    }
    assert stack.desired_count() == 2


def remaining(seconds: float) -> SimpleNamespace:
    """A Lambda context with ``seconds`` of the invocation left (fixed: the bound is taken once, at the start)."""
    return SimpleNamespace(get_remaining_time_in_millis=lambda: int(seconds * 1000))


def test_the_health_gate_takes_the_step_in_the_same_invocation_once_a_target_is_healthy(
    stack, make_scaler, clock, recorder
):
    """A task of the service runs (moto counts the desired tasks as running), its target is not healthy yet: the
    invocation its RUNNING event starts polls the target health and steps the moment one is healthy."""
    stack.set_desired_count(2)
    stack.set_alarm(SPILL_ALARM, "ALARM")
    spill = make_scaler(endpoint=recorder.endpoint)
    clock.on_sleep = lambda polls: polls == 3 and stack.add_healthy_targets(1)  # healthy during the 3rd second
    recorder.reset()
    record = spill.handle(task_event("spill", "app", "RUNNING"), remaining(55))

    assert record["trigger"] == "task 845bdcb25e2d4e008a3370094a309636 RUNNING"
    assert (record["action"], record["weights"], record["verified"]) == ("step_up", {"lambda": 75, "ecs": 25}, True)
    assert "after 3s of health gate" in record["reason"]
    wait = record["health_wait"]
    assert (wait["outcome"], wait["needed"], wait["healthy"], wait["polls"], wait["waited_seconds"]) == (
        "healthy",
        1,
        1,
        3,
        3.0,
    )
    assert (wait["bound_seconds"], wait["bound_by"]) == (15.0, "health check")
    assert clock.sleeps == [1.0, 1.0, 1.0]
    assert record["writes"] == ["elbv2:AddTags", "elbv2:ModifyListener"]
    assert stack.weights() == {"lambda": 75, "ecs": 25}
    operations = [call.operation for call in recorder.calls]
    assert operations.count("DescribeTargetGroups") == 1 and operations.count("DescribeTargetHealth") == 5


def test_a_health_gate_timeout_loses_nothing_the_schedule_steps_later(stack, make_scaler, clock, recorder):
    stack.set_desired_count(2)
    stack.set_alarm(SPILL_ALARM, "ALARM")
    spill = make_scaler(endpoint=recorder.endpoint)
    recorder.reset()
    timed_out = spill.handle(alarm_event(SPILL_ALARM), remaining(20))  # 10 s may be waited, 10 s are kept
    assert (timed_out["action"], timed_out["health_wait"]["outcome"]) == ("noop", "timeout")
    assert timed_out["reason"].endswith(
        "; waited 10s (invocation time bound) for 1 healthy ECS targets, 0 healthy: the next event or the schedule "
        "carries on"
    )
    assert sum(clock.sleeps) == 10.0 and timed_out["writes"] == [] and recorder.writes == []
    assert stack.weights() == {"lambda": 100, "ecs": 0}

    stack.add_healthy_targets(1)
    sleeps = len(clock.sleeps)
    later = spill.handle(SCHEDULED_EVENT, remaining(55))
    assert (later["action"], later["weights"]) == ("step_up", {"lambda": 75, "ecs": 25})
    assert "health_wait" not in later and len(clock.sleeps) == sleeps  # nothing to wait for: no sleep


def test_with_the_gate_off_a_step_waiting_for_health_is_left_to_the_next_wake_up(stack, make_scaler, clock, recorder):
    """SPILLOVER_HEALTH_GATE=false (scaler_health_gate): the same RUNNING event as above, no poll and no sleep."""
    stack.set_desired_count(2)
    stack.set_alarm(SPILL_ALARM, "ALARM")
    spill = make_scaler(endpoint=recorder.endpoint, SPILLOVER_HEALTH_GATE="false")
    recorder.reset()
    record = spill.handle(task_event("spill", "app", "RUNNING"), remaining(55))
    assert (record["action"], record["weights"]) == ("noop", {"lambda": 100, "ecs": 0})
    assert record["health_wait"] == {"needed": 1, "outcome": "not waited: the gate is off"}
    assert clock.sleeps == [] and recorder.writes == []
    assert [call.operation for call in recorder.calls].count("DescribeTargetHealth") == 1  # the state's own read

    stack.add_healthy_targets(1)
    later = spill.handle(SCHEDULED_EVENT, remaining(55))
    assert (later["action"], later["weights"]) == ("step_up", {"lambda": 75, "ecs": 25})


def test_nothing_being_health_checked_means_no_sleep(stack, make_scaler, clock):
    """Right after the scale-out no task runs yet (moto: desired 0 until the scaler's own UpdateService)."""
    stack.set_alarm(SPILL_ALARM, "ALARM")
    record = make_scaler().handle(alarm_event(SPILL_ALARM), remaining(55))
    assert record["action"] == "scale_out"
    assert record["health_wait"]["outcome"] == "not waited: no ECS target is being health-checked"
    assert clock.sleeps == []


def test_another_services_task_event_is_ignored_without_any_call(stack, make_scaler, recorder):
    record = make_scaler(endpoint=recorder.endpoint).handle(task_event("spill", "other-app"))
    assert record["action"] == "ignored" and "not this scaler's service" in record["reason"]
    assert recorder.calls == []


def test_cooldown_then_step_down_then_drain_then_scale_in(stack, make_scaler, clock, recorder):
    recovering = make_scaler(endpoint=recorder.endpoint)
    stack.set_weights(0, 100)
    stack.set_desired_count(2)
    stack.add_healthy_targets(2)
    stack.set_alarm(SPILL_ALARM, "ALARM")
    stack.set_alarm(SPILL_ALARM, "OK")  # the cooldown counts from this state change

    def tick(seconds: float = 0) -> dict:
        clock.advance(seconds)
        return recovering.handle(SCHEDULED_EVENT)

    assert "cooldown" in tick()["reason"]
    recorder.reset()
    cooling = tick(295)
    assert cooling["action"] == "noop" and "cooldown" in cooling["reason"] and recorder.writes == []
    assert [(r["action"], r["weights"]["ecs"]) for r in (tick(10), tick(30), tick(30), tick(60))] == [
        ("step_down", 50),
        ("noop", 50),  # one step per step time
        ("step_down", 25),
        ("step_down", 0),
    ]
    assert stack.desired_count() == 2
    draining = tick(119)
    assert draining["action"] == "noop" and "draining 1s" in draining["reason"]
    scale_in = tick(1)
    assert (scale_in["action"], scale_in["desired_count"]) == ("scale_in", 0)
    assert stack.desired_count() == 0
    recorder.reset()
    assert tick(60)["action"] == "noop" and recorder.writes == []


def test_fail_back_when_no_ecs_target_is_healthy_whatever_the_alarm_says(stack, make_scaler):
    stack.set_weights(50, 50)
    stack.set_desired_count(2)
    stack.set_alarm(SPILL_ALARM, "ALARM")
    record = make_scaler().handle(SCHEDULED_EVENT)
    assert (record["action"], record["weights"], record["desired_count"]) == ("fail_back", {"lambda": 100, "ecs": 0}, 2)
    assert stack.weights() == {"lambda": 100, "ecs": 0} and stack.desired_count() == 2


def test_out_of_order_events_act_on_the_real_alarm_state(stack, make_scaler, clock, recorder):
    scaler_ = make_scaler(endpoint=recorder.endpoint)
    stack.set_alarm(SPILL_ALARM, "ALARM")
    stale_ok = scaler_.handle(alarm_event(SPILL_ALARM, "OK", "ALARM"))  # arrives after the ALARM it precedes
    assert stale_ok["action"] == "scale_out" and stack.desired_count() == 2

    stack.set_alarm(SPILL_ALARM, "OK")
    recorder.reset()
    clock.advance(5)
    late_alarm = scaler_.handle(alarm_event(SPILL_ALARM, "ALARM", "OK"))  # the old ALARM, delivered late
    assert late_alarm["action"] == "noop" and "cooldown" in late_alarm["reason"]
    assert recorder.writes == [] and stack.desired_count() == 2 and stack.weights()["ecs"] == 0


def test_warm_alarm_adds_capacity_and_moves_no_weight(stack, make_scaler):
    stack.set_alarm(WARM_ALARM, "ALARM")
    record = make_scaler().handle(alarm_event(WARM_ALARM))
    assert (record["action"], record["desired_count"]) == ("warm", 2)
    assert stack.desired_count() == 2 and stack.weights() == {"lambda": 100, "ecs": 0}


def test_another_alarms_event_makes_no_aws_call(stack, make_scaler, recorder):
    stack.set_alarm(FOREIGN_ALARM, "ALARM")
    record = make_scaler(endpoint=recorder.endpoint).handle(alarm_event(FOREIGN_ALARM))
    assert record["action"] == "ignored" and FOREIGN_ALARM in record["reason"]
    assert recorder.calls == [] and stack.desired_count() == 0


MALFORMED = [
    {},
    [],
    [alarm_event(SPILL_ALARM)],
    {"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change"},
    {**alarm_event(SPILL_ALARM), "detail": "ALARM"},
    {**alarm_event(SPILL_ALARM), "detail": {"alarmName": 42, "state": {"value": "ALARM"}}},
    {**alarm_event(SPILL_ALARM), "detail": {"alarmName": SPILL_ALARM, "state": "ALARM"}},
]


def test_malformed_events_are_logged_and_ignored(stack, make_scaler, recorder, capsys):
    stack.set_alarm(SPILL_ALARM, "ALARM")
    ignoring = make_scaler(endpoint=recorder.endpoint)
    for event in MALFORMED:
        record = ignoring.handle(event)
        assert (record["action"], record["level"]) == ("ignored", "WARNING") and "malformed" in record["reason"]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == len(MALFORMED) and all(line["action"] == "ignored" for line in lines)
    assert recorder.calls == [] and stack.desired_count() == 0


def test_rule_instead_of_the_default_action(stack, make_scaler):
    by_rule = make_scaler(SPILLOVER_RULE_ARN=stack.rule_arn)
    stack.set_alarm(SPILL_ALARM, "ALARM")
    stack.add_healthy_targets(1)
    record = by_rule.handle(SCHEDULED_EVENT)
    assert (record["action"], record["weights"]) == ("step_up", {"lambda": 75, "ecs": 25})
    assert stack.weights(rule=True) == {"lambda": 75, "ecs": 25}
    assert stack.weights() == {"lambda": 100, "ecs": 0}  # the listener's default action is not touched
    assert last_move_tag(stack, stack.rule_arn) == record["time"] and last_move_tag(stack) is None


def test_every_listener_of_the_weighted_forward_moves_as_one_on_a_spill_and_a_return(stack, make_scaler, clock):
    """HTTP and HTTPS (here a second HTTP port): the same weights, one decision, one last-move record, on the first."""
    second = stack.add_listener(8443)
    both = make_scaler(SPILLOVER_LISTENER_ARN="", SPILLOVER_LISTENER_ARNS=f"{stack.listener_arn},{second}")
    stack.set_alarm(SPILL_ALARM, "ALARM")
    stack.add_healthy_targets(2)

    spill = both.handle(SCHEDULED_EVENT)
    assert (spill["action"], spill["weights"], spill["verified"]) == ("step_up", {"lambda": 75, "ecs": 25}, True)
    assert spill["writes"] == ["ecs:UpdateService", "elbv2:AddTags", "elbv2:ModifyListener", "elbv2:ModifyListener"]
    assert [stack.weights(listener=arn)["ecs"] for arn in (stack.listener_arn, second)] == [25, 25]
    assert spill["inputs"]["listeners"] == {arn: {"lambda": 100, "ecs": 0} for arn in (stack.listener_arn, second)}
    assert last_move_tag(stack) == spill["time"] and last_move_tag(stack, second) is None

    stack.set_alarm(SPILL_ALARM, "OK")
    clock.advance(301)
    back = both.handle(SCHEDULED_EVENT)
    assert (back["action"], back["weights"], back["verified"]) == ("step_down", {"lambda": 100, "ecs": 0}, True)
    assert [stack.weights(listener=arn)["ecs"] for arn in (stack.listener_arn, second)] == [0, 0]
    assert last_move_tag(stack) == back["time"] and last_move_tag(stack, second) is None


def test_listeners_that_disagree_are_logged_and_converge_on_the_first_ones_decision(stack, make_scaler, recorder):
    second = stack.add_listener(8443)
    both = make_scaler(
        endpoint=recorder.endpoint, SPILLOVER_LISTENER_ARN="", SPILLOVER_LISTENER_ARNS=f"{stack.listener_arn},{second}"
    )
    stack.add_healthy_targets(2)
    stack.set_desired_count(2)
    stack.set_alarm(SPILL_ALARM, "ALARM")
    for listener in (stack.listener_arn, second):
        stack.set_weights(75, 25, listener=listener)
    assert both.handle(SCHEDULED_EVENT)["action"] == "step_up"  # to 50%; the record holds the next step back
    stack.set_weights(100, 0, listener=second)  # a hand edit, or a write cut short

    recorder.reset()
    record = both.handle(SCHEDULED_EVENT)
    assert (record["action"], record["level"]) == ("noop", "WARNING") and "next step 100%" in record["reason"]
    assert "disagree (0%, 50%)" in record["disagreement"] and stack.listener_arn in record["disagreement"]
    assert [call.operation for call in recorder.writes] == ["ModifyListener"]
    assert record["writes"] == ["elbv2:ModifyListener"] and record["verified"] is True
    assert stack.weights(listener=second) == {"lambda": 50, "ecs": 50}
    assert both.handle(SCHEDULED_EVENT)["level"] == "INFO"


def test_drain_defaults_to_the_deregistration_delay_and_the_last_move_tag_is_what_counts(stack, make_scaler):
    # The real clock here; time is moved by writing the remembered last move back in the past.
    elbv2 = stack.client("elbv2")
    elbv2.modify_target_group_attributes(
        TargetGroupArn=stack.ecs_target_group_arn,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "600"}],
    )
    env = stack.environment(SPILLOVER_COOLDOWN_SECONDS="0")
    del env["SPILLOVER_DRAIN_SECONDS"]
    real_clock = scaler.Scaler.from_environment(env)
    stack.set_desired_count(2)

    def moved_ago(seconds: int) -> None:
        moment = (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()
        elbv2.add_tags(ResourceArns=[stack.listener_arn], Tags=[{"Key": scaler.LAST_MOVE_TAG, "Value": moment}])

    moved_ago(500)
    draining = real_clock.handle(SCHEDULED_EVENT)
    assert draining["action"] == "noop" and "draining" in draining["reason"]
    moved_ago(601)
    assert real_clock.handle(SCHEDULED_EVENT)["action"] == "scale_in"
    assert stack.desired_count() == 0


def test_a_weight_the_alb_did_not_apply_is_logged_as_a_mismatch(stack, make_scaler):
    ignored_write = make_scaler()
    # Stand-in for an ALB that does not apply a change: ModifyListener is answered locally and never sent.
    accepted = (SimpleNamespace(status_code=200), {"ResponseMetadata": {"HTTPStatusCode": 200}})
    ignored_write.elbv2.meta.events.register(
        "before-call.elastic-load-balancing-v2.ModifyListener", lambda **kwargs: accepted
    )
    stack.set_alarm(SPILL_ALARM, "ALARM")
    stack.add_healthy_targets(1)
    record = ignored_write.handle(SCHEDULED_EVENT)
    assert record["action"] == "step_up" and record["verified"] is False and record["level"] == "WARNING"
    assert "wrote 25% ECS" in record["mismatch"] and record["weights"] == {"lambda": 100, "ecs": 0}


def test_throttling_is_retried(stack, make_scaler):
    budgets = {"DescribeServices": 1, "DescribeTargetHealth": 2, "ModifyListener": 1}
    with ThrottlingProxy(stack.endpoint, budgets) as proxy:
        patient = make_scaler(endpoint=proxy.endpoint)
        stack.set_alarm(SPILL_ALARM, "ALARM")
        stack.add_healthy_targets(1)
        record = patient.handle(SCHEDULED_EVENT)
    assert record["action"] == "step_up" and record["verified"] is True
    assert sorted(proxy.throttled) == [
        "DescribeServices",
        "DescribeTargetHealth",
        "DescribeTargetHealth",
        "ModifyListener",
    ]
    assert proxy.operations.count("ModifyListener") == 2 and stack.weights() == {"lambda": 75, "ecs": 25}


def test_persistent_throttling_raises_after_the_retries_and_writes_nothing(stack, make_scaler, capsys):
    few_retries = Config(retries={"mode": "standard", "max_attempts": 2})  # retries, not counting the first call
    with ThrottlingProxy(stack.endpoint, {"DescribeServices": None}) as proxy:
        failing = make_scaler(endpoint=proxy.endpoint, boto_config=few_retries)
        stack.set_alarm(SPILL_ALARM, "ALARM")
        with pytest.raises(ClientError, match="Throttling"):
            failing.handle(SCHEDULED_EVENT)
    assert proxy.throttled == ["DescribeServices"] * 3  # the first attempt and max_attempts=2 retries
    logged = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert logged["level"] == "ERROR" and logged["action"] == "error" and "Throttling" in logged["reason"]
    assert stack.desired_count() == 0


@pytest.fixture(scope="module")
def scaler_code(tmp_path_factory):
    """The unpacked zip of the scaler, as roles/scaler builds it."""
    return scaler_code_dir(tmp_path_factory.mktemp("scaler"))


def run_handler(code_dir, env: dict[str, str], event) -> subprocess.CompletedProcess:
    """Import the scaler from its unpacked zip in a fresh interpreter (as Lambda does), call handler(event, None)."""
    code = "import json, sys, scaler; print(json.dumps(scaler.handler(json.loads(sys.argv[1]), None)))"
    clean = {
        key: value for key, value in os.environ.items() if not key.startswith("SPILLOVER_") and key != "PYTHONPATH"
    }
    return subprocess.run(
        [sys.executable, "-c", code, json.dumps(event)],
        cwd=code_dir,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_handler_in_a_fresh_process_with_the_deployed_environment(stack, scaler_code):
    stack.set_alarm(SPILL_ALARM, "ALARM")
    done = run_handler(scaler_code, stack.environment(), alarm_event(SPILL_ALARM))
    assert done.returncode == 0, done.stderr
    logged, returned = (json.loads(line) for line in done.stdout.splitlines())
    assert logged == returned and returned["action"] == "scale_out" and stack.desired_count() == 2


def test_configuration_errors_fail_each_invocation_with_every_problem(stack, scaler_code):
    env = stack.environment(SPILLOVER_SPILL_TASKS="0", SPILLOVER_STEPS="50,25", SPILLOVER_LISTENER_ARN="listener")
    done = run_handler(scaler_code, env, SCHEDULED_EVENT)
    assert done.returncode != 0
    assert "scaler.ConfigError: invalid scaler configuration" in done.stderr
    for problem in ("SPILLOVER_LISTENER_ARN is not", "SPILLOVER_SPILL_TASKS must be >= 1", "SPILLOVER_STEPS must be"):
        assert problem in done.stderr
    logged = json.loads(done.stdout.splitlines()[0])
    assert logged["level"] == "ERROR" and "SPILLOVER_SPILL_TASKS must be >= 1" in logged["reason"]
    assert stack.desired_count() == 0


def test_the_scaler_file_is_self_contained():
    """It ships in a Lambda zip with the files packed beside it: only boto3/botocore, the standard library and those
    files, which import nothing but the standard library (nothing of Ansible or of the rest of plugins/)."""
    packed = {path.stem for path in SCALER_EXTRA_FILES}
    assert imported_modules(SCALER_DIR / "scaler.py") - set(sys.stdlib_module_names) == {"boto3", "botocore", *packed}
    for path in SCALER_EXTRA_FILES:
        assert imported_modules(path) - set(sys.stdlib_module_names) == set(), path
    assert sorted(path.name for path in SCALER_DIR.iterdir() if path.suffix == ".py") == ["scaler.py"]


def test_the_role_packs_what_the_scaler_imports(scaler_code):
    """roles/scaler's zip task packs files/scaler and SCALER_EXTRA_FILES, and that zip is all the scaler needs."""
    assert zip_extra_files("scaler") == list(SCALER_EXTRA_FILES)
    assert sorted(path.name for path in scaler_code.iterdir()) == sorted(
        ["scaler.py", *(path.name for path in SCALER_EXTRA_FILES)]
    )
