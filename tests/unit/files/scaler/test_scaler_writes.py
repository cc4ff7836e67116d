"""The scaler's weight writes on listeners and rules with an authenticate action before the forward (no AWS).

A fake ELBv2 client stands in for the local AWS here, because moto does not behave as AWS does with
authenticate actions: it returns the OIDC ``ClientSecret`` in DescribeListeners (AWS never returns it), accepts a
ModifyListener that writes an OIDC action back with neither the secret nor ``UseExistingClientSecret`` (AWS
refuses it), and accepts authenticate actions on HTTP listeners (AWS requires HTTPS). The fake answers and refuses
as AWS does (botocore's elbv2 model: ``ClientSecret`` "is required if you are creating a rule. If you are
modifying a rule, you can omit this parameter if you set UseExistingClientSecret to true").
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from tests.support.scaler_stack import load_scaler_module
from tests.unit.files.scaler.test_scaler_decide import CONFIG, state
from tests.unit.plugins.module_utils.test_forward_action import COGNITO as DESCRIBED_COGNITO
from tests.unit.plugins.module_utils.test_forward_action import OIDC as DESCRIBED_OIDC

scaler = load_scaler_module()

RULE = CONFIG.listener_arn.replace(":listener/", ":listener-rule/") + "/00000000000000aa"
HTTPS = CONFIG.listener_arn[:-4] + "0443"  # a second listener of the same load balancer
LAMBDA, ECS = CONFIG.lambda_target_group_arn, CONFIG.ecs_target_group_arn
# The authenticate actions as DescribeListeners returns them (the OIDC one without its secret), run first.
OIDC, COGNITO = {**DESCRIBED_OIDC, "Order": 1}, {**DESCRIBED_COGNITO, "Order": 1}


def forward(lambda_weight: int, ecs_weight: int, order: int = 2) -> dict:
    return {
        "Type": "forward",
        "Order": order,
        "ForwardConfig": {
            "TargetGroups": [
                {"TargetGroupArn": LAMBDA, "Weight": lambda_weight},
                {"TargetGroupArn": ECS, "Weight": ecs_weight},
            ],
            "TargetGroupStickinessConfig": {"Enabled": False},
        },
    }


class AwsLikeElbv2:
    """DescribeListeners/DescribeRules and ModifyListener/ModifyRule of two listeners and one rule, as AWS answers:
    no OIDC secret is ever returned, and an OIDC action written back with neither secret nor
    UseExistingClientSecret is refused. Records every write (and, in ``written``, the ARN it wrote)."""

    def __init__(self, actions: list[dict], https_actions: list[dict] | None = None):
        self.stored = {CONFIG.listener_arn: copy.deepcopy(actions), RULE: copy.deepcopy(actions)}
        self.stored[HTTPS] = copy.deepcopy(actions if https_actions is None else https_actions)
        self.writes: list[tuple[str, list[dict]]] = []
        self.written: list[str] = []
        self.tags: list[dict] = []

    def _described(self, arn: str) -> list[dict]:
        actions = copy.deepcopy(self.stored[arn])
        for action in actions:
            config = action.get("AuthenticateOidcConfig")
            if config is not None:
                config.pop("ClientSecret", None)
                config.pop("UseExistingClientSecret", None)
        return actions

    def _write(self, operation: str, arn: str, actions: list[dict]) -> None:
        self.writes.append((operation, copy.deepcopy(actions)))
        self.written.append(arn)
        for action in actions:
            config = action.get("AuthenticateOidcConfig")
            if config is not None and "ClientSecret" not in config and not config.get("UseExistingClientSecret"):
                error = {"Code": "ValidationError", "Message": "A client secret must be specified"}
                raise ClientError({"Error": error}, operation)
        self.stored[arn] = copy.deepcopy(actions)

    def describe_listeners(self, ListenerArns: list[str]) -> dict:
        # AWS lists them in an order of its own, not the order asked for.
        return {
            "Listeners": [{"ListenerArn": arn, "DefaultActions": self._described(arn)} for arn in ListenerArns[::-1]]
        }

    def describe_rules(self, RuleArns: list[str]) -> dict:
        return {"Rules": [{"RuleArn": RuleArns[0], "Actions": self._described(RuleArns[0])}]}

    def modify_listener(self, ListenerArn: str, DefaultActions: list[dict]) -> dict:
        self._write("ModifyListener", ListenerArn, DefaultActions)
        return {}

    def modify_rule(self, RuleArn: str, Actions: list[dict]) -> dict:
        self._write("ModifyRule", RuleArn, Actions)
        return {}

    def add_tags(self, ResourceArns: list[str], Tags: list[dict]) -> dict:
        self.tags.append({"ResourceArns": ResourceArns, "Tags": Tags})
        return {}


@pytest.mark.parametrize("on_rule", [False, True], ids=["listener", "rule"])
def test_an_authenticated_forward_is_written_with_use_existing_client_secret_and_its_order(on_rule):
    config = replace(CONFIG, rule_arn=RULE if on_rule else None)
    elbv2 = AwsLikeElbv2([forward(100, 0), OIDC])  # listed forward first, performed last (Order)
    spill = scaler.Scaler(config, elbv2, ecs=None, cloudwatch=None)
    actions = spill.read_actions()
    current = state(share=0, desired=4, healthy=4)
    decision = scaler.Decision("step_up", "test", 25, 4)

    result = spill.apply(decision, current, actions, datetime(2026, 3, 1, 12, tzinfo=UTC))

    assert result["verified"] is True and result["weights"] == {"lambda": 75, "ecs": 25}
    ((operation, written),) = elbv2.writes
    assert operation == ("ModifyRule" if on_rule else "ModifyListener")
    assert written == [
        {**forward(75, 25), "Order": 2},
        {**OIDC, "AuthenticateOidcConfig": {**OIDC["AuthenticateOidcConfig"], "UseExistingClientSecret": True}},
    ]
    assert elbv2.tags[0]["ResourceArns"] == [config.state_arn]


def test_a_cognito_action_is_written_back_as_it_is():
    elbv2 = AwsLikeElbv2([COGNITO, forward(75, 25)])
    spill = scaler.Scaler(CONFIG, elbv2, ecs=None, cloudwatch=None)
    spill.write_weights(CONFIG.listener_arn, spill.read_actions()[CONFIG.listener_arn], 0)
    assert elbv2.writes == [("ModifyListener", [COGNITO, forward(100, 0)])]


def test_the_fake_refuses_what_aws_refuses():
    """The stand-in must refuse an OIDC action written back as DescribeListeners returns it, as AWS does."""
    elbv2 = AwsLikeElbv2([OIDC, forward(100, 0)])
    with pytest.raises(ClientError, match="client secret"):
        elbv2.modify_listener(ListenerArn=CONFIG.listener_arn, DefaultActions=elbv2._described(CONFIG.listener_arn))


TWO_LISTENERS = replace(CONFIG, listener_arns=(CONFIG.listener_arn, HTTPS))


def test_two_listeners_move_as_one_with_one_last_move_record():
    elbv2 = AwsLikeElbv2([forward(100, 0), OIDC], https_actions=[forward(100, 0)])
    spill = scaler.Scaler(TWO_LISTENERS, elbv2, ecs=None, cloudwatch=None)
    actions = spill.read_actions()
    assert list(actions) == [CONFIG.listener_arn, HTTPS]  # the configured order, whatever AWS's

    result = spill.apply(scaler.Decision("step_up", "test", 25, 4), state(0, 4, 4), actions, datetime.now(UTC))

    assert result["verified"] is True and result["weights"] == {"lambda": 75, "ecs": 25}
    assert result["writes"] == ["elbv2:AddTags", "elbv2:ModifyListener", "elbv2:ModifyListener"]
    assert elbv2.written == [CONFIG.listener_arn, HTTPS]  # the record's listener first
    assert elbv2.tags == [{"ResourceArns": [CONFIG.listener_arn], "Tags": elbv2.tags[0]["Tags"]}]
    assert [scaler.read_forward(elbv2.stored[arn])["weights"][ECS] for arn in (CONFIG.listener_arn, HTTPS)] == [25, 25]


def test_a_listener_left_behind_converges_on_the_decision_without_a_new_last_move():
    """The decision is made on the first listener's weights; the other, at another share, gets the decided one."""
    elbv2 = AwsLikeElbv2([forward(75, 25)], https_actions=[forward(100, 0)])
    spill = scaler.Scaler(TWO_LISTENERS, elbv2, ecs=None, cloudwatch=None)

    result = spill.apply(
        scaler.Decision("noop", "test", 25, 4), state(25, 4, 4), spill.read_actions(), datetime.now(UTC)
    )

    assert result["writes"] == ["elbv2:ModifyListener"] and elbv2.written == [HTTPS] and elbv2.tags == []
    assert result["verified"] is True and scaler.read_forward(elbv2.stored[HTTPS])["weights"][ECS] == 25


def test_a_listener_the_alb_did_not_update_is_a_mismatch():
    elbv2 = AwsLikeElbv2([forward(100, 0)], https_actions=[forward(100, 0)])
    real_write = elbv2._write
    elbv2._write = lambda operation, arn, actions: None if arn == HTTPS else real_write(operation, arn, actions)
    spill = scaler.Scaler(TWO_LISTENERS, elbv2, ecs=None, cloudwatch=None)

    result = spill.apply(
        scaler.Decision("step_up", "test", 25, 4), state(0, 4, 4), spill.read_actions(), datetime.now(UTC)
    )

    assert result["verified"] is False and result["level"] == "WARNING"
    assert result["weights"] == {"lambda": 75, "ecs": 25} and HTTPS in result["mismatch"]
