"""The forward-action codec (plugins/module_utils/forward_action.py) over the action lists DescribeListeners returns.

One table of shapes (plain ``TargetGroupArn``, stickiness, authenticate-oidc and -cognito before the forward,
``Order`` against list position), each read, reweighted, written and read back; then the single behaviours.
An OIDC action comes back from AWS without its ``ClientSecret`` (AWS never returns it), so the table's OIDC
actions have none.
"""

from __future__ import annotations

import copy
import sys

import pytest

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.module_utils import forward_action as codec

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012"
LAMBDA = f"{ARN}:targetgroup/app-lambda/1111111111111111"
ECS = f"{ARN}:targetgroup/app-ecs/2222222222222222"
SPARE = f"{ARN}:targetgroup/app-spare/3333333333333333"

OIDC = {
    "Type": "authenticate-oidc",
    "AuthenticateOidcConfig": {
        "Issuer": "https://idp.example.com",
        "AuthorizationEndpoint": "https://idp.example.com/authorize",
        "TokenEndpoint": "https://idp.example.com/token",
        "UserInfoEndpoint": "https://idp.example.com/userinfo",
        "ClientId": "app",
        "SessionCookieName": "AWSELBAuthSessionCookie",
        "Scope": "openid",
        "SessionTimeout": 604800,
        "OnUnauthenticatedRequest": "authenticate",
    },
}
COGNITO = {
    "Type": "authenticate-cognito",
    "AuthenticateCognitoConfig": {
        "UserPoolArn": "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abc",
        "UserPoolClientId": "client",
        "UserPoolDomain": "app",
        "SessionCookieName": "AWSELBAuthSessionCookie",
        "Scope": "openid",
        "SessionTimeout": 604800,
        "OnUnauthenticatedRequest": "authenticate",
    },
}
OFF = {"Enabled": False}  # what AWS adds to every weighted forward


def weighted(*pairs, stickiness=OFF, **extra):
    config = {"TargetGroups": [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in pairs]}
    config["TargetGroupStickinessConfig"] = stickiness
    return {"Type": "forward", "ForwardConfig": config, **extra}


def state(weights, stickiness_duration=0):
    return {"weights": weights, "stickiness_duration": stickiness_duration}


# name: (DefaultActions as DescribeListeners returns them, the forward state read from them)
SHAPES = {
    "plain TargetGroupArn": ([{"Type": "forward", "TargetGroupArn": ECS, "Order": 1}], state({ECS: 1})),
    "TargetGroupArn with the ForwardConfig AWS adds": (
        [{"Type": "forward", "TargetGroupArn": ECS, "Order": 1, **weighted((ECS, 1))}],
        state({ECS: 1}),
    ),
    "weighted, stickiness reported off": ([weighted((LAMBDA, 100), (ECS, 0), Order=1)], state({LAMBDA: 100, ECS: 0})),
    "weighted, stickiness on": (
        [weighted((LAMBDA, 3), (ECS, 1), stickiness={"Enabled": True, "DurationSeconds": 300}, Order=1)],
        state({LAMBDA: 3, ECS: 1}, 300),
    ),
    "stickiness off with a duration left": (
        [weighted((LAMBDA, 1), (ECS, 1), stickiness={"Enabled": False, "DurationSeconds": 300})],
        state({LAMBDA: 1, ECS: 1}),
    ),
    "authenticate-oidc then forward": (
        [{**OIDC, "Order": 1}, weighted((LAMBDA, 1), (ECS, 0), Order=2)],
        state({LAMBDA: 1, ECS: 0}),
    ),
    "authenticate-cognito then forward": (
        [{**COGNITO, "Order": 1}, weighted((LAMBDA, 50), (ECS, 50), Order=2)],
        state({LAMBDA: 50, ECS: 50}),
    ),
    "forward listed first, ordered last": (
        [weighted((LAMBDA, 10), (ECS, 0), (SPARE, 5), Order=3), {**COGNITO, "Order": 2}, {**OIDC, "Order": 1}],
        state({LAMBDA: 10, ECS: 0, SPARE: 5}),
    ),
    # AWS gives every action of a list of several an Order; without one, an action runs in list position.
    "no Order: list position": ([OIDC, weighted((LAMBDA, 1), (ECS, 0))], state({LAMBDA: 1, ECS: 0})),
}


def run_order(actions):
    return [action["Type"] for _index, action in codec.ordered(actions)]


@pytest.mark.parametrize("shape", SHAPES)
def test_read_reweight_write_read_back(shape):
    actions, expected = SHAPES[shape]
    described = copy.deepcopy(actions)

    current = codec.read_forward(actions)
    assert current == expected
    assert codec.terminal_type(actions) == "forward"

    # The scaler's move: ECS's share set, every other group and the stickiness kept.
    new = codec.reweighted(current, {ECS: 25, **({LAMBDA: 75} if LAMBDA in current["weights"] else {})})
    assert new["stickiness_duration"] == expected["stickiness_duration"]
    assert {arn: weight for arn, weight in new["weights"].items() if arn not in (LAMBDA, ECS)} == {
        arn: weight for arn, weight in expected["weights"].items() if arn not in (LAMBDA, ECS)
    }

    written = codec.write_forward(actions, new)

    assert actions == described, "the actions read were modified"
    assert codec.read_forward(written) == new
    assert run_order(written) == run_order(actions), "the order the ALB performs the actions in changed"
    index = codec.forward_index(actions)
    assert codec.forward_index(written) == index
    assert written[index].get("Order") == actions[index].get("Order")
    assert "TargetGroupArn" not in written[index], "a weighted forward carries its groups in ForwardConfig only"
    for position, (before, after) in enumerate(zip(actions, written, strict=True)):
        if position == index:
            continue
        if before["Type"] == "authenticate-oidc":
            # AWS refuses to write back an OIDC action without its secret unless told to keep the existing one.
            assert after == {
                **before,
                "AuthenticateOidcConfig": {**before["AuthenticateOidcConfig"], "UseExistingClientSecret": True},
            }
        else:
            assert after == before


@pytest.mark.parametrize("shape", SHAPES)
def test_a_state_written_unchanged_reads_back_the_same(shape):
    actions, expected = SHAPES[shape]
    assert codec.same_state(codec.read_forward(codec.write_forward(actions, expected)), expected)


# --- reading ---------------------------------------------------------------------------------


def test_forward_state_of_a_weighted_action_with_stickiness_reported_off():
    assert codec.read_forward([weighted((LAMBDA, 3), (ECS, 1))]) == {
        "weights": {LAMBDA: 3, ECS: 1},
        "stickiness_duration": 0,
    }


def test_forward_state_of_a_plain_forward_is_one_group_of_weight_one():
    assert codec.read_forward([{"Type": "forward", "TargetGroupArn": ECS}]) == {
        "weights": {ECS: 1},
        "stickiness_duration": 0,
    }


def test_forward_state_reads_stickiness_duration_only_when_enabled():
    on = weighted((LAMBDA, 1), stickiness={"Enabled": True, "DurationSeconds": 300})
    off = weighted((LAMBDA, 1), stickiness={"Enabled": False, "DurationSeconds": 300})
    assert codec.read_forward([on])["stickiness_duration"] == 300
    assert codec.read_forward([off])["stickiness_duration"] == 0


def test_forward_state_finds_the_forward_after_an_authenticate_action():
    actions = [
        {**weighted((ECS, 5)), "Order": 2},
        {"Type": "authenticate-cognito", "Order": 1, "AuthenticateCognitoConfig": {"UserPoolArn": "x"}},
    ]
    assert codec.read_forward(actions)["weights"] == {ECS: 5}
    assert codec.terminal_type(actions) == "forward"


def test_forward_state_of_a_non_forward_action_is_none():
    fixed = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}]
    assert codec.read_forward(fixed) is None
    assert codec.terminal_type(fixed) == "fixed-response"


# --- computing and writing ---------------------------------------------------------------------


def test_replace_forward_writes_weights_and_keeps_other_actions():
    oidc = {
        "Type": "authenticate-oidc",
        "Order": 1,
        "AuthenticateOidcConfig": {"Issuer": "https://idp", "ClientId": "c"},
    }
    actions = [oidc, {**weighted((LAMBDA, 1)), "Order": 2}]
    new = {"weights": {LAMBDA: 75, ECS: 25}, "stickiness_duration": 120}

    written = codec.write_forward(actions, new)

    assert written[0]["AuthenticateOidcConfig"] == {**oidc["AuthenticateOidcConfig"], "UseExistingClientSecret": True}
    assert written[0]["Order"] == 1
    assert written[1] == {
        "Type": "forward",
        "Order": 2,
        "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": LAMBDA, "Weight": 75}, {"TargetGroupArn": ECS, "Weight": 25}],
            "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 120},
        },
    }
    assert "UseExistingClientSecret" not in actions[0]["AuthenticateOidcConfig"], "the input was modified"


def test_an_oidc_action_given_its_secret_is_written_with_it():
    with_secret = {**OIDC, "AuthenticateOidcConfig": {**OIDC["AuthenticateOidcConfig"], "ClientSecret": "s3cret"}}
    assert codec.kept_action(with_secret) == with_secret


def test_reweighted_never_adds_a_group():
    with pytest.raises(codec.ForwardActionError, match=f"does not include {SPARE}"):
        codec.reweighted(state({LAMBDA: 1, ECS: 0}), {SPARE: 1})


def test_share_percent():
    assert codec.share_percent(state({LAMBDA: 75, ECS: 25}), ECS) == 25
    assert codec.share_percent(state({LAMBDA: 2, ECS: 1}), ECS) == 33
    assert codec.share_percent(state({LAMBDA: 0, ECS: 0}), ECS) == 0


def test_a_non_forward_action_is_replaced_only_when_converting():
    redirect = [{**OIDC, "Order": 1}, {"Type": "redirect", "Order": 2, "RedirectConfig": {"StatusCode": "HTTP_301"}}]
    with pytest.raises(codec.ForwardActionError, match="'redirect' action, not a forward action; set convert=true"):
        codec.write_forward(redirect, state({ECS: 1}))
    converted = codec.write_forward(redirect, state({ECS: 1}), convert=True)
    assert converted[1] == {**codec.forward_action(state({ECS: 1})), "Order": 2}
    assert converted[0]["AuthenticateOidcConfig"]["UseExistingClientSecret"] is True
