"""The scaler's configuration validation and event classification (no AWS)."""

from __future__ import annotations

import json

import pytest

from tests.support.scaler_stack import SCHEDULED_EVENT, alarm_event, load_scaler_module, task_event

scaler = load_scaler_module()

ACCOUNT = "arn:aws:elasticloadbalancing:us-east-1:123456789012"
LISTENER = f"{ACCOUNT}:listener/app/lb/0123456789abcdef/0123456789abcdef"
HTTPS_LISTENER = f"{ACCOUNT}:listener/app/lb/0123456789abcdef/00000000000000aa"
OTHER_BALANCERS_LISTENER = f"{ACCOUNT}:listener/app/other/00000000000000bb/00000000000000aa"
VALID = {
    "SPILLOVER_CLUSTER": "spill",
    "SPILLOVER_SERVICE": "app",
    "SPILLOVER_LISTENER_ARN": LISTENER,
    "SPILLOVER_LAMBDA_TARGET_GROUP_ARN": f"{ACCOUNT}:targetgroup/lambda/0123456789abcdef",
    "SPILLOVER_ECS_TARGET_GROUP_ARN": f"{ACCOUNT}:targetgroup/ecs/fedcba9876543210",
    "SPILLOVER_SPILL_ALARMS": "throttles, errors",
    "SPILLOVER_SPILL_TASKS": "3",
    "AWS_REGION": "us-east-1",
}


def problems_of(**changes) -> list[str]:
    env = {**VALID, **changes}
    env = {key: value for key, value in env.items() if value is not None}
    with pytest.raises(scaler.ConfigError) as caught:
        scaler.load_config(env)
    return caught.value.problems


def test_defaults_fill_the_optional_settings():
    config = scaler.load_config(VALID)
    assert config.spill_alarms == ("throttles", "errors") and config.warm_alarms == ()
    assert (config.spill_tasks, config.standby_tasks, config.steps) == (3, 0, (25, 50, 100))
    assert (config.step_seconds, config.cooldown_seconds, config.drain_seconds) == (60, 300, None)
    assert config.rule_arn is None and config.state_arn == LISTENER
    assert config.health_gate is True


def test_every_listener_of_the_weighted_forward_is_read_in_order():
    listeners = {"SPILLOVER_LISTENER_ARN": None, "SPILLOVER_LISTENER_ARNS": f"{LISTENER}, {HTTPS_LISTENER}"}
    config = scaler.load_config({key: value for key, value in {**VALID, **listeners}.items() if value})
    assert config.listener_arns == (LISTENER, HTTPS_LISTENER) and config.forward_arns == config.listener_arns
    assert config.state_arn == LISTENER  # the last-move record lives on the first


def test_every_setting_is_read():
    rule = f"{ACCOUNT}:listener-rule/app/lb/0123456789abcdef/0123456789abcdef/00000000000000aa"
    config = scaler.load_config(
        {
            **VALID,
            "SPILLOVER_RULE_ARN": rule,
            "SPILLOVER_WARM_ALARMS": "concurrency",
            "SPILLOVER_STANDBY_TASKS": "1",
            "SPILLOVER_STEPS": "10, 30,100",
            "SPILLOVER_STEP_SECONDS": "30",
            "SPILLOVER_COOLDOWN_SECONDS": "0",
            "SPILLOVER_DRAIN_SECONDS": "45",
            "SPILLOVER_HEALTH_GATE": "False",
        }
    )
    assert config.state_arn == rule and config.warm_alarms == ("concurrency",)
    assert (config.standby_tasks, config.steps, config.step_seconds) == (1, (10, 30, 100), 30)
    assert (config.cooldown_seconds, config.drain_seconds, config.health_gate) == (0, 45, False)


def test_all_problems_are_reported_together():
    with pytest.raises(scaler.ConfigError) as caught:
        scaler.load_config({})
    problems = caught.value.problems
    for key in (
        "SPILLOVER_CLUSTER",
        "SPILLOVER_SERVICE",
        "SPILLOVER_LISTENER_ARN",
        "SPILLOVER_LAMBDA_TARGET_GROUP_ARN",
        "SPILLOVER_ECS_TARGET_GROUP_ARN",
        "SPILLOVER_SPILL_ALARMS",
        "SPILLOVER_SPILL_TASKS",
        "AWS_REGION",
    ):
        assert sum(key in problem for problem in problems) == 1, (key, problems)
    assert len(problems) == 8
    assert "SPILLOVER_CLUSTER is required" in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"SPILLOVER_LISTENER_ARN": "listener-1"}, "SPILLOVER_LISTENER_ARN is not an application load balancer"),
        ({"SPILLOVER_LISTENER_ARNS": LISTENER}, "SPILLOVER_LISTENER_ARNS, or SPILLOVER_LISTENER_ARN for one listener"),
        (
            {"SPILLOVER_LISTENER_ARN": None, "SPILLOVER_LISTENER_ARNS": f"{LISTENER}, listener-2"},
            "SPILLOVER_LISTENER_ARNS has what is not an application load balancer listener ARN: 'listener-2'",
        ),
        ({"SPILLOVER_LISTENER_ARN": None, "SPILLOVER_LISTENER_ARNS": f"{LISTENER},{LISTENER}"}, "a listener twice"),
        (
            {"SPILLOVER_LISTENER_ARN": None, "SPILLOVER_LISTENER_ARNS": f"{LISTENER},{OTHER_BALANCERS_LISTENER}"},
            "SPILLOVER_LISTENER_ARNS must name listeners of one load balancer",
        ),
        (
            {
                "SPILLOVER_LISTENER_ARN": None,
                "SPILLOVER_LISTENER_ARNS": f"{LISTENER},{HTTPS_LISTENER}",
                "SPILLOVER_RULE_ARN": f"{LISTENER.replace(':listener/', ':listener-rule/')}/00000000000000aa",
            },
            "SPILLOVER_RULE_ARN moves a rule of one listener",
        ),
        ({"SPILLOVER_ECS_TARGET_GROUP_ARN": LISTENER}, "SPILLOVER_ECS_TARGET_GROUP_ARN is not"),
        ({"SPILLOVER_ECS_TARGET_GROUP_ARN": VALID["SPILLOVER_LAMBDA_TARGET_GROUP_ARN"]}, "must differ"),
        (
            {"SPILLOVER_RULE_ARN": f"{ACCOUNT}:listener-rule/app/lb/0123456789abcdef/00000000000000ff/0000000000aa"},
            "must be a rule of SPILLOVER_LISTENER_ARN",
        ),
        ({"SPILLOVER_SPILL_ALARMS": " "}, "SPILLOVER_SPILL_ALARMS is required"),
        ({"SPILLOVER_SPILL_ALARMS": "a,,b"}, "empty alarm name"),
        ({"SPILLOVER_SPILL_ALARMS": "a,a"}, "names an alarm twice"),
        ({"SPILLOVER_WARM_ALARMS": "errors"}, "both spill and warm alarms: errors"),
        ({"SPILLOVER_SPILL_ALARMS": ",".join(f"a{i}" for i in range(101))}, "at most 100"),
        ({"SPILLOVER_SPILL_TASKS": "0"}, "SPILLOVER_SPILL_TASKS must be >= 1"),
        ({"SPILLOVER_SPILL_TASKS": "two"}, "SPILLOVER_SPILL_TASKS must be an integer"),
        ({"SPILLOVER_STANDBY_TASKS": "-1"}, "SPILLOVER_STANDBY_TASKS must be >= 0"),
        ({"SPILLOVER_STANDBY_TASKS": "4"}, "must not exceed SPILLOVER_SPILL_TASKS"),
        ({"SPILLOVER_STEPS": "25,x"}, "comma-separated integers"),
        ({"SPILLOVER_STEPS": "50,25,100"}, "strictly ascending"),
        ({"SPILLOVER_STEPS": "25,25,100"}, "strictly ascending"),
        ({"SPILLOVER_STEPS": "0,100"}, "in 1..100"),
        ({"SPILLOVER_STEPS": "50,150"}, "in 1..100"),
        ({"SPILLOVER_STEP_SECONDS": "1.5"}, "SPILLOVER_STEP_SECONDS must be an integer"),
        ({"SPILLOVER_COOLDOWN_SECONDS": "-5"}, "SPILLOVER_COOLDOWN_SECONDS must be >= 0"),
        ({"SPILLOVER_DRAIN_SECONDS": "soon"}, "SPILLOVER_DRAIN_SECONDS must be an integer"),
        ({"SPILLOVER_HEALTH_GATE": "off"}, "SPILLOVER_HEALTH_GATE must be true or false, got 'off'"),
        ({"AWS_REGION": None}, "AWS_REGION is not set"),
    ],
)
def test_each_problem_has_one_clear_message(changes, expected):
    problems = problems_of(**changes)
    assert len(problems) == 1, problems
    assert expected in problems[0]


CONFIG = scaler.load_config({**VALID, "SPILLOVER_WARM_ALARMS": "concurrency"})


@pytest.mark.parametrize(
    "event",
    [SCHEDULED_EVENT, alarm_event("throttles"), alarm_event("errors", "OK", "ALARM"), alarm_event("concurrency")],
)
def test_own_alarm_and_schedule_events_wake_the_scaler(event):
    assert scaler.classify_event(event, CONFIG) is None


@pytest.mark.parametrize("last_status", ["RUNNING", "STOPPED"])
def test_a_task_state_change_of_its_own_service_wakes_the_scaler(last_status):
    assert scaler.classify_event(task_event("spill", "app", last_status), CONFIG) is None
    by_arn = scaler.load_config(
        {
            **VALID,
            "SPILLOVER_CLUSTER": "arn:aws:ecs:us-east-1:123456789012:cluster/spill",
            "SPILLOVER_SERVICE": "arn:aws:ecs:us-east-1:123456789012:service/spill/app",
        }
    )
    assert scaler.classify_event(task_event("spill", "app"), by_arn) is None


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (task_event("spill", "other-app"), "a task of 'service:other-app' in arn:aws:ecs:us-east-1:123456789012:"),
        (task_event("other-cluster", "app"), "cluster/other-cluster: not this scaler's service"),
        (task_event("spill-2", "app"), "cluster/spill-2: not this scaler's service"),  # a name that only starts alike
        (task_event("spill", "app-2"), "a task of 'service:app-2'"),
    ],
)
def test_a_task_state_change_of_another_service_or_cluster_is_ignored(event, expected):
    reason = scaler.classify_event(event, CONFIG)
    assert reason is not None and not reason.startswith("malformed") and expected in reason


def test_a_standalone_task_of_the_cluster_is_not_the_service():
    event = task_event("spill", "app")
    event["detail"]["group"] = "family:app"  # RunTask, not the service scheduler
    assert "not this scaler's service" in scaler.classify_event(event, CONFIG)


def test_a_task_event_for_another_clusters_arn_is_ignored_when_the_cluster_is_given_by_arn():
    by_arn = scaler.load_config({**VALID, "SPILLOVER_CLUSTER": "arn:aws:ecs:us-east-1:123456789012:cluster/spill"})
    assert scaler.classify_event(task_event("spill", "app", account="210987654321"), by_arn) is not None


def test_another_alarms_event_is_ignored():
    assert (
        scaler.classify_event(alarm_event("someone-else"), CONFIG)
        == "alarm 'someone-else' is not one of this scaler's alarms"
    )


def broken(**detail_changes):
    event = alarm_event("throttles")
    event["detail"] = {**event["detail"], **detail_changes}
    return event


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({}, "not an alarm state change, a task state change or a scheduled event"),
        ([], "a list, not an object"),
        ([SCHEDULED_EVENT], "a list, not an object"),
        (None, "a NoneType, not an object"),
        ("ALARM", "a str, not an object"),
        ({"source": "aws.cloudwatch"}, "not an alarm state change"),
        ({"source": ["aws.events"], "detail-type": "Scheduled Event"}, "not an alarm state change"),
        ({**alarm_event("throttles"), "detail": None}, "detail is not an object"),
        ({**alarm_event("throttles"), "detail": ["throttles"]}, "detail is not an object"),
        (broken(alarmName=None), "alarmName is not a non-empty string"),
        (broken(alarmName=42), "alarmName is not a non-empty string"),
        (broken(alarmName=""), "alarmName is not a non-empty string"),
        (broken(state="ALARM"), "state.value is not a string"),
        (broken(state={"value": 1}), "state.value is not a string"),
        (broken(state=None), "state.value is not a string"),
        ({**task_event(), "detail": None}, "detail is not an object"),
        ({**task_event(), "detail": {**task_event()["detail"], "clusterArn": "spill"}}, "not an ECS cluster ARN"),
        ({**task_event(), "detail": {**task_event()["detail"], "group": None}}, "detail.group is not a string"),
    ],
)
def test_malformed_events_are_named(event, expected):
    reason = scaler.classify_event(event, CONFIG)
    assert reason.startswith("malformed event") and expected in reason


@pytest.mark.parametrize(
    "event", [{}, [], None, broken(alarmName=7), alarm_event("someone-else"), task_event("spill", "other-app")]
)
def test_ignored_events_make_no_aws_call_and_log_one_json_line(event, capsys):
    # No clients at all: any AWS call would raise AttributeError on None.
    quiet = scaler.Scaler(CONFIG, elbv2=None, ecs=None, cloudwatch=None)
    record = quiet.handle(event)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and json.loads(lines[0]) == record
    assert record["action"] == "ignored" and record["weights"] is None
    assert record["level"] == (
        "INFO" if event in (alarm_event("someone-else"), task_event("spill", "other-app")) else "WARNING"
    )


def test_handler_raises_the_startup_configuration_error(monkeypatch, capsys):
    error = scaler.ConfigError(["SPILLOVER_CLUSTER is required"])
    monkeypatch.setattr(scaler, "STARTUP_ERROR", error)
    with pytest.raises(scaler.ConfigError, match="SPILLOVER_CLUSTER is required"):
        scaler.handler(SCHEDULED_EVENT, None)
    logged = json.loads(capsys.readouterr().out)
    assert logged["level"] == "ERROR" and "SPILLOVER_CLUSTER is required" in logged["reason"]
