"""The alarm role's pressure alarms, applied for real against the local AWS: check mode, idempotence, and the switch.

Moto stores the alarms but never evaluates them (the lab does); these tests check what the role writes.
"""

from __future__ import annotations

import pytest

from lab import builder
from tests.support.infra_roles import apply_role
from tests.support.local_aws import REGION

pytestmark = pytest.mark.integration

STACK = "pressed"
PRESSURE = [f"{STACK}-spill-pressure", f"{STACK}-warm-pressure"]


@pytest.fixture
def variables(aws_client) -> dict:
    elbv2 = aws_client("elbv2")
    where = builder.network(aws_client("ec2"), REGION)
    return {
        "alarm_stack_name": STACK,
        "alarm_load_balancer_arn": builder.load_balancer(elbv2, STACK, where, "tasks"),
        "alarm_lambda_target_group_arn": builder.lambda_target_group(elbv2, f"{STACK}-lambda"),
    }


def alarm_names(cloudwatch) -> list[str]:
    return sorted(alarm["AlarmName"] for alarm in cloudwatch.describe_alarms(AlarmNamePrefix=STACK)["MetricAlarms"])


def test_the_pressure_alarms_converge_then_go_when_turned_off(local_aws, aws_client, variables):
    cloudwatch = aws_client("cloudwatch")
    checked = apply_role("alarm", local_aws.endpoint, variables, check=True)
    assert checked.changed > 0 and alarm_names(cloudwatch) == []

    first = apply_role("alarm", local_aws.endpoint, variables)
    assert first.changed > 0
    assert set(PRESSURE) <= set(alarm_names(cloudwatch)) and len(alarm_names(cloudwatch)) == 6
    assert f"{STACK}-spill-pressure" in first.facts["alarm__spill_alarm_names"]
    assert f"{STACK}-warm-pressure" in first.facts["alarm__warm_alarm_names"]
    assert len(first.facts["alarm__alarm_arns"]) == 6
    (spill,) = cloudwatch.describe_alarms(AlarmNames=[f"{STACK}-spill-pressure"])["MetricAlarms"]
    # The defaults: 0.9 of 10 reserved executions over 10 s, on the app's own Duration (ms) at high resolution.
    assert (spill["Namespace"], spill["MetricName"], spill["Statistic"], spill["Period"]) == (
        "Spillover",
        "Duration",
        "Sum",
        10,
    )
    assert (spill["Threshold"], spill["ComparisonOperator"], spill["TreatMissingData"]) == (
        90_000.0,
        "GreaterThanOrEqualToThreshold",
        "notBreaching",
    )
    assert spill["Dimensions"] == [{"Name": "FunctionName", "Value": f"{STACK}-app"}]

    again = apply_role("alarm", local_aws.endpoint, variables)
    assert again.changed == 0

    off = apply_role("alarm", local_aws.endpoint, {**variables, "alarm_pressure": False})
    assert off.changed > 0
    assert not set(PRESSURE) & set(alarm_names(cloudwatch)) and len(alarm_names(cloudwatch)) == 4
    assert not set(PRESSURE) & set(off.facts["alarm__spill_alarm_names"] + off.facts["alarm__warm_alarm_names"])
    assert apply_role("alarm", local_aws.endpoint, {**variables, "alarm_pressure": False}).changed == 0

    gone = apply_role("alarm", local_aws.endpoint, {**variables, "alarm_state": "absent"})
    assert gone.changed > 0 and alarm_names(cloudwatch) == []
