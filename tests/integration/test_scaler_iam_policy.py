"""The scaler's IAM policy filter used from Ansible, and checked against the calls the scaler really makes."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.support.ansible_run import run_module
from tests.support.local_aws import REGION
from tests.support.scaler_stack import SCHEDULED_EVENT, SPILL_ALARM, build_stack, load_scaler_module

pytestmark = pytest.mark.integration
scaler = load_scaler_module()


def render(data) -> dict:
    # JSON is a valid Jinja literal for dicts of strings and lists.
    template = "{{ " + json.dumps(data) + " | spillover.lambda_ecs.scaler_policy }}"
    return run_module("ansible.builtin.set_fact", {"policy": template}, endpoint="http://127.0.0.1:9")


def test_policy_covers_every_call_of_a_full_cycle_and_nothing_else(local_aws, recorder):
    stack = build_stack(local_aws.endpoint)
    env = stack.environment(AWS_ENDPOINT_URL=recorder.endpoint, SPILLOVER_COOLDOWN_SECONDS="0")
    del env["SPILLOVER_DRAIN_SECONDS"]  # so the deregistration delay is read too
    now = [scaler.utc_now()]

    def second_task_turns_healthy(seconds: float) -> None:  # during the health gate's wait for the 100% step
        now[0] += timedelta(seconds=seconds)
        stack.add_healthy_targets(1)

    cycle = scaler.Scaler.from_environment(env, clock=lambda: now[0], sleep=second_task_turns_healthy)
    stack.set_alarm(SPILL_ALARM, "ALARM")
    stack.add_healthy_targets(1)
    actions = []
    for step in (25, 50, 100, 100):  # scale out and 25%, then 50%, 100% (after the gate's wait), top
        record = cycle.handle(SCHEDULED_EVENT)
        assert record["weights"]["ecs"] == step
        actions.append(record["action"])
        now[0] += timedelta(seconds=61)
    stack.set_alarm(SPILL_ALARM, "OK")
    for step in (50, 25, 0, 0):  # then scale in after the 300 s deregistration delay
        now[0] += timedelta(seconds=301)
        record = cycle.handle(SCHEDULED_EVENT)
        assert record["weights"]["ecs"] == step
        actions.append(record["action"])
    assert actions == ["step_up", "step_up", "step_up", "noop", "step_down", "step_down", "step_down", "scale_in"]

    service_prefix = {"elasticloadbalancing": "elasticloadbalancing", "ecs": "ecs", "monitoring": "cloudwatch"}
    called = {f"{service_prefix[call.service]}:{call.operation}" for call in recorder.calls}
    result = render(stack.policy_input())
    assert not result.get("failed"), result
    granted = {action for statement in result["ansible_facts"]["policy"]["Statement"] for action in statement["Action"]}
    assert called == granted - {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}


def test_bad_input_fails_the_task_with_every_problem():
    result = render({"account_id": "1", "region": REGION})
    assert result["failed"]
    for expected in ("invalid scaler_policy input", "cluster_name is required", "account_id must be a string"):
        assert expected in result["msg"]
