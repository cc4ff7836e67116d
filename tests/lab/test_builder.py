"""lab/builder.py and lab/collection.py: the stack builder's pieces take what they need from the collection itself.

The alarms are the alarm role's: the role is applied for real (tests/support/infra_roles.py) and the builder's
alarms, made with the same variables, must read back from the local AWS exactly as the role's did.
"""

from __future__ import annotations

import io
import zipfile

import pytest

from lab import builder
from lab.collection import RoleRenderError, forward_action, lambda_zip, render, render_role
from lab.stack import read_weights, write_weights
from tests.support.infra_roles import apply_role
from tests.support.local_aws import REGION

STACK = "alarmed"
# Not the role's defaults, so that a builder that ignored a variable would differ.
ALARM_VARIABLES = {
    "alarm_stack_name": STACK,
    "alarm_function_name": "alarmed-fn",
    "alarm_reserved_concurrency": 20,
    "alarm_spill_concurrency_share": 0.75,
    "alarm_warm_concurrency_share": 0.5,
    "alarm_period": 10,
    "alarm_evaluation_periods": 3,
    "alarm_datapoints_to_alarm": 2,
}
# What AWS sets on its own when an alarm is written or evaluated.
ALARM_STATE_KEYS = {
    "AlarmConfigurationUpdatedTimestamp",
    "StateValue",
    "StateReason",
    "StateReasonData",
    "StateUpdatedTimestamp",
    "StateTransitionedTimestamp",
}


def described_alarms(cloudwatch) -> list[dict]:
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=f"{STACK}-")["MetricAlarms"]
    return sorted(
        ({key: value for key, value in alarm.items() if key not in ALARM_STATE_KEYS} for alarm in alarms),
        key=lambda alarm: alarm["AlarmName"],
    )


@pytest.mark.integration
def test_the_builders_alarms_are_the_ones_the_alarm_role_creates(local_aws, aws_client):
    elbv2, cloudwatch = aws_client("elbv2"), aws_client("cloudwatch")
    where = builder.network(aws_client("ec2"), REGION)
    variables = {
        **ALARM_VARIABLES,
        "alarm_load_balancer_arn": builder.load_balancer(elbv2, STACK, where, "tasks"),
        "alarm_lambda_target_group_arn": builder.lambda_target_group(elbv2, f"{STACK}-lambda"),
    }

    role = apply_role("alarm", local_aws.endpoint, variables)
    by_role = described_alarms(cloudwatch)
    names = role.facts["alarm__spill_alarm_names"] + role.facts["alarm__warm_alarm_names"]
    assert sorted(names) == [alarm["AlarmName"] for alarm in by_role] and len(names) == 6  # 4 + the 2 pressure ones
    cloudwatch.delete_alarms(AlarmNames=names)
    assert described_alarms(cloudwatch) == []

    built = builder.alarms(cloudwatch, **variables)
    assert described_alarms(cloudwatch) == by_role
    assert [alarm["arn"] for alarm in built] == role.facts["alarm__alarm_arns"]
    assert [alarm["name"] for alarm in built if alarm["kind"] == "spill"] == role.facts["alarm__spill_alarm_names"]
    assert [alarm["name"] for alarm in built if alarm["kind"] == "warm"] == role.facts["alarm__warm_alarm_names"]
    # The variables did reach the alarms: 0.75 x 20 and 0.5 x 20 concurrent executions, 3 periods of 10 s.
    thresholds = {alarm["AlarmName"]: alarm["Threshold"] for alarm in by_role}
    assert (thresholds[f"{STACK}-spill-concurrency"], thresholds[f"{STACK}-warm-concurrency"]) == (15.0, 10.0)
    # The pressure alarms: the same shares of 20 executions x 10 s x 1000 ms of the app's Duration.
    assert (thresholds[f"{STACK}-spill-pressure"], thresholds[f"{STACK}-warm-pressure"]) == (150_000.0, 100_000.0)
    assert {(alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) for alarm in by_role} == {
        (10, 3, 2)
    }


def test_role_variables_render_as_ansible_renders_them():
    rendered = render_role(
        "alarm", ["alarm__function_name", "alarm__spill_threshold"], {"alarm_stack_name": "s", "alarm_period": 10}
    )
    # A string that is one expression gives the expression's value, not its text.
    assert rendered == {"alarm__function_name": "s-app", "alarm__spill_threshold": 9}
    assert render({"a": "{{ n + 1 }}", "b": "n is {{ n }}", "c": ["{{ [n] }}"], "d": 5}, {"n": 1}) == {
        "a": 2,
        "b": "n is 1",
        "c": [[1]],
        "d": 5,
    }


def test_a_variable_the_role_does_not_have_is_refused():
    with pytest.raises(RoleRenderError, match="role alarm has no variable alarm_perod"):
        builder.alarm_requests(alarm_stack_name="s", alarm_perod=10)


def test_the_zips_come_from_lambda_zip_and_the_scaler_carries_the_codec():
    scaler = zipfile.ZipFile(io.BytesIO(builder.scaler_zip()))
    assert {"scaler.py", "forward_action.py"} <= set(scaler.namelist())
    assert scaler.read("forward_action.py") == (builder.ROOT / "plugins/module_utils/forward_action.py").read_bytes()
    # The same sources give the same bytes (lambda_zip's fixed timestamps and modes).
    assert builder.scaler_zip() == builder.scaler_zip()
    assert lambda_zip.zip_listing(builder.stub_zip()) == lambda_zip.zip_listing(lambda_zip.zip_bytes(builder.STUB_CODE))


@pytest.mark.integration
def test_weights_are_read_and_written_through_the_codec(local_aws, aws_client):
    elbv2 = aws_client("elbv2")
    where = builder.network(aws_client("ec2"), REGION)
    lambda_tg = builder.lambda_target_group(elbv2, "weights-lambda")
    ecs_tg = builder.ip_target_group(elbv2, "weights-ecs", where.vpc_id)
    balancer = builder.load_balancer(elbv2, "weights", where, "tasks")
    listener = builder.weighted_listener(elbv2, balancer, {lambda_tg: 1, ecs_tg: 0}, stickiness_duration=60)
    assert read_weights(elbv2, listener) == {lambda_tg: 1, ecs_tg: 0}

    write_weights(elbv2, listener, {ecs_tg: 3})
    actions = elbv2.describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"]
    assert forward_action.read_forward(actions) == {"weights": {lambda_tg: 1, ecs_tg: 3}, "stickiness_duration": 60}
    with pytest.raises(forward_action.ForwardActionError, match="does not include"):
        write_weights(elbv2, listener, {"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/1": 1})
