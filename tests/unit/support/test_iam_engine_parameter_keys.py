"""The IAM engine's service condition keys taken from a request's parameters, and the scaler's policy narrowed by them:
the calls the scaler makes are allowed, the same grants used to switch the task definition or to change a listener's
protocol or TLS policy are refused."""

from __future__ import annotations

import sys

import pytest

from tests.support.ansible_run import link_collection
from tests.support.aws_quirks.iam import Principal, checks_for, parameter_context
from tests.support.aws_quirks.wire import Request

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.filter.scaler_policy import scaler_policy

ACCOUNT, REGION = "111122223333", "us-east-1"
ELB = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}"
LISTENER = f"{ELB}:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2"
HTTPS_LISTENER = f"{ELB}:listener/app/shop/50dc6c495c0c9188/0443dc8efc522ab2"
RULE = f"{ELB}:listener-rule/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
LAMBDA_GROUP = f"{ELB}:targetgroup/shop-lambda/73e2d6bc24d8a067"
ECS_GROUP = f"{ELB}:targetgroup/shop-ecs/8e4a1b2c3d4e5f60"
TASK_DEFINITION = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/shop-app:7"
SCALER_INPUT = {
    "account_id": ACCOUNT,
    "region": REGION,
    "cluster_name": "shop",
    "service_name": "shop-app",
    "listener_arns": [LISTENER, HTTPS_LISTENER],
    "lambda_target_group_arn": LAMBDA_GROUP,
    "ecs_target_group_arn": ECS_GROUP,
    "spill_alarm_names": ["shop-throttles"],
    "function_name": "shop-scaler",
}
SCALER = Principal(
    f"arn:aws:iam::{ACCOUNT}:role/shop-scaler", f"arn:aws:sts::{ACCOUNT}:assumed-role/shop-scaler/s", ACCOUNT
)
# The scaler's moves as files/scaler/scaler.py sends them (Scaler.apply, Scaler.write_weights).
FORWARD = [
    {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [
                {"TargetGroupArn": LAMBDA_GROUP, "Weight": 75},
                {"TargetGroupArn": ECS_GROUP, "Weight": 25},
            ]
        },
    }
]
SCALE = {"cluster": "shop", "service": "shop-app", "desiredCount": 2}
MOVE = {"ListenerArn": HTTPS_LISTENER, "DefaultActions": FORWARD}


def request(service: str, operation: str, params: dict) -> Request:
    return Request("POST", "/", {}, b"", service, operation, "KEY", REGION, params)


def verdicts(policy: dict, service: str, operation: str, params: dict) -> list[tuple[str, bool]]:
    checks = checks_for(request(service, operation, params), SCALER, [policy])
    return [(check.action, check.allowed) for check in checks]


def test_a_key_is_given_only_by_the_parameter_it_names():
    assert parameter_context(request("ecs", "UpdateService", SCALE), ACCOUNT) == {}
    switched = parameter_context(request("ecs", "UpdateService", {**SCALE, "taskDefinition": "shop-app:7"}), ACCOUNT)
    assert switched == {"ecs:task-definition": [TASK_DEFINITION]}  # AWS names the task definition by its ARN
    by_arn = parameter_context(request("ecs", "UpdateService", {**SCALE, "taskDefinition": TASK_DEFINITION}), ACCOUNT)
    assert by_arn == switched
    assert parameter_context(request("elasticloadbalancing", "ModifyListener", MOVE), ACCOUNT) == {}
    https = {**MOVE, "Protocol": "HTTPS", "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06"}
    assert parameter_context(request("elasticloadbalancing", "ModifyListener", https), ACCOUNT) == {
        "elasticloadbalancing:ListenerProtocol": ["HTTPS"],
        "elasticloadbalancing:SecurityPolicy": ["ELBSecurityPolicy-TLS13-1-2-2021-06"],
    }
    # Another action's parameter of the same name gives nothing.
    assert parameter_context(request("elasticloadbalancing", "ModifyTargetGroup", {"Protocol": "HTTP"}), ACCOUNT) == {}


def test_the_scaler_scales_its_service_and_moves_every_listener():
    policy = scaler_policy(SCALER_INPUT)
    assert verdicts(policy, "ecs", "UpdateService", SCALE) == [("ecs:UpdateService", True)]
    for listener in (LISTENER, HTTPS_LISTENER):
        move = {**MOVE, "ListenerArn": listener}
        assert verdicts(policy, "elasticloadbalancing", "ModifyListener", move) == [
            ("elasticloadbalancing:ModifyListener", True)
        ]


@pytest.mark.parametrize(
    ("service", "operation", "params"),
    [
        ("ecs", "UpdateService", {**SCALE, "taskDefinition": "shop-app:1"}),
        ("ecs", "UpdateService", {"cluster": "shop", "service": "shop-app", "taskDefinition": TASK_DEFINITION}),
        ("elasticloadbalancing", "ModifyListener", {**MOVE, "Protocol": "HTTP"}),
        ("elasticloadbalancing", "ModifyListener", {**MOVE, "SslPolicy": "ELBSecurityPolicy-2016-08"}),
    ],
    ids=["task-definition-with-count", "task-definition", "protocol", "tls-policy"],
)
def test_the_scalers_grants_cannot_switch_the_code_or_weaken_a_listener(service, operation, params):
    policy = scaler_policy(SCALER_INPUT)
    [check] = checks_for(request(service, operation, params), SCALER, [policy])
    assert (check.action, check.allowed, check.reason) == (f"{service}:{operation}", False, "implicit deny")
    # The condition is what refuses it: without it the same grant allows the call.
    unconditioned = {
        **policy,
        "Statement": [{k: v for k, v in s.items() if k != "Condition"} for s in policy["Statement"]],
    }
    assert verdicts(unconditioned, service, operation, params) == [(f"{service}:{operation}", True)]


def test_rule_mode_moves_its_rule_which_has_no_such_key():
    policy = scaler_policy({**SCALER_INPUT, "listener_arns": [LISTENER], "rule_arn": RULE})
    assert verdicts(policy, "elasticloadbalancing", "ModifyRule", {"RuleArn": RULE, "Actions": FORWARD}) == [
        ("elasticloadbalancing:ModifyRule", True)
    ]
    assert verdicts(policy, "ecs", "UpdateService", {**SCALE, "taskDefinition": "shop-app:1"}) == [
        ("ecs:UpdateService", False)
    ]
