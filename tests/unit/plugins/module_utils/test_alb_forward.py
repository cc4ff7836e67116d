"""Unit tests of the pure logic of plugins/module_utils/alb_forward.py (no AWS)."""

from __future__ import annotations

import re
import sys

import pytest

from tests.support.ansible_run import link_collection
from tests.unit.plugins.module_utils.test_common import TargetGroups

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.module_utils import alb_forward as af
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError, target_group_name
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.forward_action import (
    forward_action,
    read_forward,
    same_state,
    write_forward,
)

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012"
LAMBDA = f"{ARN}:targetgroup/app-lambda/1111111111111111"
ECS = f"{ARN}:targetgroup/app-ecs/2222222222222222"
LISTENER = f"{ARN}:listener/app/alb/3333333333333333/4444444444444444"
RULE = f"{ARN}:listener-rule/app/alb/3333333333333333/4444444444444444/5555555555555555"


def entries(**weights):
    return [{"name": name.replace("_", "-"), "weight": weight} for name, weight in weights.items()]


def weighted(*pairs, stickiness=None):
    config = {"TargetGroups": [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in pairs]}
    config["TargetGroupStickinessConfig"] = stickiness or {"Enabled": False}
    return {"Type": "forward", "ForwardConfig": config}


# --- validation ------------------------------------------------------------------------------


def test_validate_request_accepts_a_normal_request():
    af.validate_request(entries(app_lambda=999, app_ecs=0), 0, allow_all_zero=False)
    af.validate_request(entries(a=0), 604800, allow_all_zero=True)


@pytest.mark.parametrize(
    ("groups", "stickiness", "allow_all_zero", "message"),
    [
        (entries(a=1000), 0, False, "weight 1000; weights must be 0 to 999"),
        (entries(a=1, b=-1), 0, False, "weight -1"),
        ([], 0, False, "lists 0 target groups"),
        (entries(a=1, b=1, c=1, d=1, e=1, f=1), 0, False, "lists 6 target groups; a forward action takes 1 to 5"),
        (entries(a=1) + entries(a=2), 0, False, "'a' is listed more than once"),
        (entries(a=0, b=0), 0, False, "allow_all_zero=true"),
        (entries(a=1), -1, False, "stickiness_duration is -1"),
        (entries(a=1), 604801, False, "stickiness_duration is 604801"),
    ],
)
def test_validate_request_rejects(groups, stickiness, allow_all_zero, message):
    with pytest.raises(SpilloverError, match=re.escape(message)):
        af.validate_request(groups, stickiness, allow_all_zero)


@pytest.mark.parametrize("priority", [0, 50001])
def test_validate_selector_rejects_priorities_outside_the_range(priority):
    with pytest.raises(SpilloverError, match=f"priority is {priority}"):
        af.validate_selector(priority)


def test_check_distinct_catches_one_group_named_by_name_and_by_arn():
    group = {"TargetGroupArn": LAMBDA, "TargetGroupName": "app-lambda"}
    with pytest.raises(SpilloverError, match=r"'app-lambda' and .* are the same group"):
        af.check_distinct([{"name": "app-lambda", "weight": 1}, {"arn": LAMBDA, "weight": 1}], [group, group])


# --- ARNs --------------------------------------------------------------------------------------


def test_arns_are_derived_without_aws_calls():
    assert target_group_name(ECS) == "app-ecs"
    assert af.listener_arn_of_rule(RULE) == LISTENER
    assert af.load_balancer_arn_of_listener(LISTENER) == f"{ARN}:loadbalancer/app/alb/3333333333333333"


@pytest.mark.parametrize("bad", [LISTENER, f"{ARN}:listener-rule/app/alb/333"])
def test_listener_arn_of_rule_rejects_what_is_not_a_rule_arn(bad):
    with pytest.raises(SpilloverError, match="is not the ARN of a load balancer listener rule"):
        af.listener_arn_of_rule(bad)


# --- computing the change --------------------------------------------------------------------


def test_same_state_ignores_group_order_but_not_weights_or_stickiness():
    current = read_forward([weighted((LAMBDA, 1), (ECS, 0))])
    groups = [{"TargetGroupArn": ECS}, {"TargetGroupArn": LAMBDA}]
    assert same_state(current, af.desired_state(groups, entries(app_ecs=0, app_lambda=1), 0))
    assert not same_state(current, af.desired_state(groups, entries(app_ecs=1, app_lambda=1), 0))
    assert not same_state(current, af.desired_state(groups, entries(app_ecs=0, app_lambda=1), 60))
    assert not same_state(current, af.desired_state(groups[1:], entries(app_lambda=1), 0))
    assert not same_state(None, af.desired_state(groups[1:], entries(app_lambda=1), 0))


def test_replace_forward_refuses_a_non_forward_action_unless_converting():
    redirect = [{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "StatusCode": "HTTP_301"}}]
    state = {"weights": {ECS: 1}, "stickiness_duration": 0}
    with pytest.raises(SpilloverError, match="'redirect' action, not a forward action; set convert=true"):
        af.check_replaceable(redirect, convert=False)
    af.check_replaceable(redirect, convert=True)
    converted = write_forward(redirect, state, convert=True)
    assert converted == [forward_action(state)]
    assert converted[0]["ForwardConfig"]["TargetGroupStickinessConfig"] == {"Enabled": False}


def test_weights_view_names_groups():
    assert af.weights_view({"weights": {LAMBDA: 1, ECS: 0}, "stickiness_duration": 0}) == {
        "action_type": "forward",
        "weights": {"app-lambda": 1, "app-ecs": 0},
        "stickiness_duration": 0,
    }
    assert af.weights_view(None, "fixed-response") == {
        "action_type": "fixed-response",
        "weights": {},
        "stickiness_duration": 0,
    }


def test_attached_group_matches_by_arn_or_by_the_name_in_the_arn():
    current = {"weights": {LAMBDA: 1, ECS: 0}, "stickiness_duration": 0}
    expected = {"TargetGroupArn": ECS, "TargetGroupName": "app-ecs"}
    assert af.attached_group({"arn": ECS, "weight": 1}, current) == expected
    assert af.attached_group({"name": "app-ecs", "weight": 1}, current) == expected
    assert af.attached_group({"name": "app", "weight": 1}, current) is None
    assert af.attached_group({"name": "app-ecs", "weight": 1}, None) is None


def test_resolve_target_groups_describes_only_groups_not_in_the_action():
    spare = {"TargetGroupArn": f"{ARN}:targetgroup/spare/6", "TargetGroupName": "spare", "VpcId": "vpc-1"}
    client = TargetGroups(spare)
    current = {"weights": {LAMBDA: 1}, "stickiness_duration": 0}
    resolved = af.resolve_target_groups(client, [{"name": "spare", "weight": 1}, {"arn": LAMBDA, "weight": 1}], current)
    assert resolved == [spare, {"TargetGroupArn": LAMBDA, "TargetGroupName": "app-lambda"}]
    assert client.asked == [{"Names": ["spare"]}]

    client.asked.clear()
    af.resolve_target_groups(client, [{"name": "app-lambda", "weight": 1}], current)
    assert client.asked == []


# --- health ------------------------------------------------------------------------------------


def test_refusal_names_the_group_and_its_target_states():
    groups = [
        {"TargetGroupArn": LAMBDA, "TargetGroupName": "app-lambda"},
        {"TargetGroupArn": ECS, "TargetGroupName": "app-ecs"},
    ]
    desired = {"weights": {LAMBDA: 0, ECS: 50}, "stickiness_duration": 0}
    target = {
        "Target": {"Id": "10.0.0.0", "Port": 8080},
        "TargetHealth": {"State": "unhealthy", "Reason": "Target.Timeout"},
    }
    by_arn = {LAMBDA: [], ECS: [target]}

    unhealthy = af.unhealthy_receivers(desired, groups, by_arn)
    assert unhealthy == [groups[1]], "a group at weight 0 may be empty"
    error = af.refusal(unhealthy, desired, by_arn)

    assert "'app-ecs' would get weight 50 but has no healthy target (10.0.0.0:8080 unhealthy (Target.Timeout))" in (
        error.message
    )
    assert "Nothing was changed" in error.message
    assert error.kwargs["target_health"] == {
        "app-ecs": [{"id": "10.0.0.0", "port": 8080, "state": "unhealthy", "reason": "Target.Timeout"}]
    }


def test_describe_states_of_an_empty_group():
    assert af.describe_states([]) == "no target registered"


# --- verify (moto is immediately consistent, so the read-back retry is exercised with a stub) --------


class StaleListener:
    """Reports ``stale`` actions for the first ``stale_reads`` reads, then ``fresh`` ones."""

    def __init__(self, stale, fresh, stale_reads):
        self.reads = 0
        self._stale, self._fresh, self._stale_reads = stale, fresh, stale_reads

    def describe_listeners(self, aws_retry, ListenerArns):
        assert aws_retry is True and ListenerArns == [LISTENER]
        self.reads += 1
        actions = self._stale if self.reads <= self._stale_reads else self._fresh
        return {"Listeners": [{"ListenerArn": LISTENER, "DefaultActions": actions}]}


def test_verify_retries_until_the_load_balancer_reports_the_change():
    desired = {"weights": {LAMBDA: 1, ECS: 1}, "stickiness_duration": 0}
    client = StaleListener([weighted((LAMBDA, 1), (ECS, 0))], [weighted((ECS, 1), (LAMBDA, 1))], stale_reads=2)
    pauses = []
    af.verify(client, af.SelectedAction(LISTENER, []), desired, sleep=pauses.append)
    assert client.reads == 3
    assert pauses == list(af.VERIFY_DELAYS[:2])


def test_verify_fails_with_what_the_load_balancer_reports():
    desired = {"weights": {LAMBDA: 1, ECS: 1}, "stickiness_duration": 0}
    stale = [weighted((LAMBDA, 1), (ECS, 0))]
    client = StaleListener(stale, stale, stale_reads=99)
    pauses = []
    with pytest.raises(SpilloverError, match="still reports") as raised:
        af.verify(client, af.SelectedAction(LISTENER, []), desired, sleep=pauses.append)
    assert client.reads == len(af.VERIFY_DELAYS) + 1
    assert pauses == list(af.VERIFY_DELAYS)
    assert raised.value.kwargs["reported"]["weights"] == {"app-lambda": 1, "app-ecs": 0}
