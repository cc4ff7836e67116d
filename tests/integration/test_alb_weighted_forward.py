"""spillover.lambda_ecs.alb_weighted_forward (and its _info twin) against the local AWS.

Every run goes through the recording proxy, so "no write call" is asserted from what reached AWS.
The ALB (tests/support/alb_stack.py) is built directly with boto3, which the proxy does not record."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.alb_stack import ECS_TG, LAMBDA_TG, LOAD_BALANCER, Stack, build_alb_stack
from tests.support.ansible_run import run_module, run_playbook

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stack(aws_client) -> Stack:
    return build_alb_stack(aws_client)


def run(recorder, module: str, args: dict, **kwargs) -> dict:
    """Run the module through the recording proxy.

    endpoint_url is passed as a module argument: run_module's ``group/amazon.aws.aws`` module defaults
    do not reach this collection's modules (``extend_group`` makes group/spillover.lambda_ecs.spillover
    include amazon.aws's modules, not the other way round), and without it the module would fall back to
    AWS_ENDPOINT_URL, the moto server itself, bypassing the recorder.
    """
    return run_module(module, {**args, "endpoint_url": recorder.endpoint}, endpoint=recorder.endpoint, **kwargs)


def groups(**weights: int) -> list[dict]:
    return [{"name": name.replace("_", "-"), "weight": weight} for name, weight in weights.items()]


def writes(recorder) -> list[str]:
    return [call.operation for call in recorder.writes]


def test_shift_default_action_check_mode_diff_and_rerun(stack, recorder):
    args = {"load_balancer": LOAD_BALANCER, "port": 80, "target_groups": groups(my_app_lambda=75, my_app_ecs=25)}
    before = stack.snapshot()

    checked = run(recorder, "alb_weighted_forward", args, check=True, diff=True)
    assert checked["changed"] is True, checked
    assert checked["diff"]["before"]["weights"] == {LAMBDA_TG: 1, ECS_TG: 0}
    assert checked["diff"]["after"]["weights"] == {LAMBDA_TG: 75, ECS_TG: 25}
    assert writes(recorder) == []
    assert stack.snapshot() == before

    recorder.reset()
    applied = run(recorder, "alb_weighted_forward", args, diff=True)
    assert applied["changed"] is True, applied
    assert writes(recorder) == ["ModifyListener"]
    assert stack.weights(stack.default_actions()) == {LAMBDA_TG: 75, ECS_TG: 25}
    assert applied["listener_arn"] == stack.listener_arn
    assert applied["load_balancer_arn"] == stack.load_balancer_arn
    assert "rule_arn" not in applied
    assert applied["target_groups"] == [
        {"arn": stack.arns[LAMBDA_TG], "name": LAMBDA_TG, "weight": 75, "healthy_targets": 1},
        {"arn": stack.arns[ECS_TG], "name": ECS_TG, "weight": 25, "healthy_targets": 1},
    ]
    assert applied["stickiness_duration"] == 0
    assert applied["diff"] == checked["diff"]
    # The rules of the listener were not touched.
    assert stack.snapshot()[1] == before[1]

    recorder.reset()
    again = run(recorder, "alb_weighted_forward", args)
    assert again["changed"] is False, again
    assert recorder.calls, "the re-run made no AWS call at all"
    assert writes(recorder) == []

    # The same weights listed by ARN and in another order are the same state.
    recorder.reset()
    reordered = {
        "listener_arn": stack.listener_arn,
        "target_groups": [
            {"arn": stack.arns[ECS_TG], "weight": 25},
            {"arn": stack.arns[LAMBDA_TG], "weight": 75},
        ],
    }
    same = run(recorder, "alb_weighted_forward", reordered)
    assert same["changed"] is False, same
    assert writes(recorder) == []


def test_rule_by_priority_then_by_arn_with_stickiness(stack, recorder):
    before = stack.snapshot()
    rule_before = stack.rule(stack.forward_rule_arn)
    by_priority = {
        "listener_arn": stack.listener_arn,
        "priority": 20,
        "target_groups": groups(my_app_lambda=50, my_app_ecs=50),
    }
    applied = run(recorder, "alb_weighted_forward", by_priority)
    assert applied["changed"] is True, applied
    assert applied["rule_arn"] == stack.forward_rule_arn
    assert writes(recorder) == ["ModifyRule"]
    rule = stack.rule(stack.forward_rule_arn)
    assert stack.weights(rule["Actions"]) == {LAMBDA_TG: 50, ECS_TG: 50}
    assert rule["Conditions"] == rule_before["Conditions"]
    assert rule["Priority"] == "20"
    assert stack.default_actions() == before[0]

    recorder.reset()
    by_arn = {"rule_arn": stack.forward_rule_arn, "target_groups": by_priority["target_groups"]}
    same = run(recorder, "alb_weighted_forward", by_arn)
    assert same["changed"] is False, same
    assert writes(recorder) == []

    recorder.reset()
    sticky = run(recorder, "alb_weighted_forward", {**by_arn, "stickiness_duration": 60}, diff=True)
    assert sticky["changed"] is True, sticky
    assert sticky["stickiness_duration"] == 60
    assert sticky["diff"]["before"]["stickiness_duration"] == 0
    assert sticky["diff"]["after"]["stickiness_duration"] == 60
    forward = stack.rule(stack.forward_rule_arn)["Actions"][0]["ForwardConfig"]
    assert forward["TargetGroupStickinessConfig"] == {"Enabled": True, "DurationSeconds": 60}
    assert writes(recorder) == ["ModifyRule"]


def test_convert_fixed_response_rule_and_query_forms(stack, recorder):
    fixed = {"rule_arn": stack.fixed_rule_arn}
    queried = run(recorder, "alb_weighted_forward_info", fixed)
    assert queried["action_type"] == "fixed-response", queried
    assert queried["target_groups"] == []

    converted = run(
        recorder,
        "alb_weighted_forward",
        {**fixed, "convert": True, "target_groups": groups(my_app_lambda=1)},
    )
    assert converted["changed"] is True, converted
    rule = stack.rule(stack.fixed_rule_arn)
    assert [action["Type"] for action in rule["Actions"]] == ["forward"]
    assert stack.weights(rule["Actions"]) == {LAMBDA_TG: 1}
    assert rule["Conditions"] == [{"Field": "path-pattern", "Values": ["/maintenance"]}]
    assert writes(recorder) == ["ModifyRule"]

    # Both query forms return the same, and write nothing.
    recorder.reset()
    selector = {"load_balancer": stack.load_balancer_arn, "port": 80}
    info = run(recorder, "alb_weighted_forward_info", selector)
    query = run(recorder, "alb_weighted_forward", {**selector, "state": "query"})
    assert writes(recorder) == []
    assert info["changed"] is False and query["changed"] is False
    expected = [
        {"arn": stack.arns[LAMBDA_TG], "name": LAMBDA_TG, "weight": 1, "healthy_targets": 1},
        {"arn": stack.arns[ECS_TG], "name": ECS_TG, "weight": 0, "healthy_targets": 1},
    ]
    for result in (info, query):
        assert result["target_groups"] == expected, result
        assert result["action_type"] == "forward"
        assert result["listener_arn"] == stack.listener_arn
        assert result["stickiness_duration"] == 0

    # What the info module returns feeds back (as its EXAMPLES do with ansible.utils.keep_keys): a no-op.
    fed_back = [{"arn": group["arn"], "weight": group["weight"]} for group in info["target_groups"]]
    restored = run(recorder, "alb_weighted_forward", {**selector, "target_groups": fed_back})
    assert restored["changed"] is False, restored
    assert writes(recorder) == []


def test_require_healthy_counts_registered_targets(stack, recorder, aws_client):
    # A Lambda group with health checks on counts a function the ALB reports healthy (moto reports
    # every registered function healthy; it does not invoke it).
    stack.elbv2.modify_target_group(TargetGroupArn=stack.arns[LAMBDA_TG], HealthCheckEnabled=True)
    args = {"listener_arn": stack.listener_arn, "target_groups": groups(my_app_lambda=3, spare=1)}
    applied = run(recorder, "alb_weighted_forward", args)
    assert applied["changed"] is True, applied
    assert {group["name"]: group["healthy_targets"] for group in applied["target_groups"]} == {
        LAMBDA_TG: 1,
        "spare": 1,
    }
    assert stack.weights(stack.default_actions()) == {LAMBDA_TG: 3, "spare": 1}

    # An empty group refused first is accepted once a target is registered.
    recorder.reset()
    to_empty = {"listener_arn": stack.listener_arn, "target_groups": groups(my_app_lambda=1, empty_ecs=1)}
    refused = run(recorder, "alb_weighted_forward", to_empty)
    assert refused.get("failed") is True, refused
    assert refused["target_health"] == {"empty-ecs": []}
    stack.elbv2.register_targets(TargetGroupArn=stack.arns["empty-ecs"], Targets=[{"Id": "10.0.2.7", "Port": 8080}])
    accepted = run(recorder, "alb_weighted_forward", to_empty)
    assert accepted["changed"] is True, accepted
    assert writes(recorder) == ["ModifyListener"]

    # require_healthy=false sends weight to an empty group, with a warning.
    recorder.reset()
    unsafe = {
        "listener_arn": stack.listener_arn,
        "require_healthy": False,
        "target_groups": groups(my_app_lambda=1, empty_lambda=1),
    }
    forced = run(recorder, "alb_weighted_forward", unsafe)
    assert forced["changed"] is True, forced
    assert any("empty-lambda" in warning for warning in forced["warnings"])
    assert writes(recorder) == ["ModifyListener"]

    # All weights 0 only with allow_all_zero.
    recorder.reset()
    zero = {"listener_arn": stack.listener_arn, "allow_all_zero": True, "target_groups": groups(my_app_lambda=0)}
    assert run(recorder, "alb_weighted_forward", zero)["changed"] is True
    assert stack.weights(stack.default_actions()) == {LAMBDA_TG: 0}


REJECTIONS = {
    "weight above 999": ({"target_groups": groups(my_app_lambda=1000)}, "weights must be 0 to 999"),
    "negative weight": ({"target_groups": groups(my_app_lambda=1, my_app_ecs=-1)}, "weights must be 0 to 999"),
    "six groups": (
        {"target_groups": groups(my_app_lambda=1, my_app_ecs=1, spare=1, empty_ecs=0, empty_lambda=0, other_vpc=0)},
        "takes 1 to 5",
    ),
    "name and arn in one entry": ("name-and-arn", "mutually exclusive: name|arn"),
    "present without target_groups": ({}, "state is present but all of the following are missing: target_groups"),
    "same name twice": ({"target_groups": groups(my_app_lambda=1) * 2}, "listed more than once"),
    "same group by name and arn": ("same-by-arn", "are the same group"),
    "all weights zero": ({"target_groups": groups(my_app_lambda=0, my_app_ecs=0)}, "allow_all_zero"),
    "missing group": ({"target_groups": groups(my_app_lambda=1, nope=1)}, "nope do not exist"),
    "group of another VPC": ({"target_groups": groups(my_app_lambda=1, other_vpc=1)}, "not in the load balancer's VPC"),
    "missing listener": ("missing-listener", "does not exist"),
    "missing rule": ("missing-rule", "does not exist"),
    "missing priority": ({"priority": 99, "target_groups": groups(my_app_lambda=1)}, "no rule with priority 99"),
    "not a forward action": ("fixed-rule", "not a forward action; set convert=true"),
    "empty group": (
        {"target_groups": groups(my_app_lambda=1, empty_ecs=1)},
        "'empty-ecs' would get weight 1 but has no healthy target (no target registered)",
    ),
}


def _rejected_args(stack: Stack, case) -> dict:
    base = {"listener_arn": stack.listener_arn}
    one = groups(my_app_lambda=1)
    if case == "same-by-arn":
        return {**base, "target_groups": [*one, {"arn": stack.arns[LAMBDA_TG], "weight": 2}]}
    if case == "name-and-arn":
        return {**base, "target_groups": [{"name": LAMBDA_TG, "arn": stack.arns[LAMBDA_TG], "weight": 1}]}
    if case == "missing-listener":
        return {"listener_arn": stack.listener_arn[:-4] + "0000", "target_groups": one}
    if case == "missing-rule":
        return {"rule_arn": stack.forward_rule_arn[:-4] + "0000", "target_groups": one}
    if case == "fixed-rule":
        return {"rule_arn": stack.fixed_rule_arn, "target_groups": one}
    return {**base, **case}


def _module_examples() -> str:
    """The EXAMPLES string of the module, read without importing it."""
    tree = ast.parse((ROOT / "plugins" / "modules" / "alb_weighted_forward.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(target, "id", None) == "EXAMPLES" for target in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("alb_weighted_forward.py has no EXAMPLES")


@pytest.mark.parametrize("case", list(REJECTIONS))
def test_rejection_writes_nothing(stack, recorder, case):
    args, message = REJECTIONS[case]
    before = stack.snapshot()
    result = run(recorder, "alb_weighted_forward", _rejected_args(stack, args))
    assert result.get("failed") is True, result
    assert message in result["msg"]
    assert writes(recorder) == []
    assert stack.snapshot() == before


def test_stepped_shift_example_playbook(stack, recorder, tmp_path):
    """The stepped shift (25 -> 50 -> 100 and back) from the module's EXAMPLES runs as written."""
    plays = [play for play in yaml.safe_load(_module_examples()) if "hosts" in play]
    assert len(plays) == 1
    playbook = tmp_path / "shift.yml"
    playbook.write_text(yaml.safe_dump(plays))
    completed = run_playbook(
        playbook,
        inventory="localhost,",
        extra_vars={
            "listener_arn": stack.listener_arn,
            "shift_pause": 0,
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
        },
        env={"AWS_ENDPOINT_URL": recorder.endpoint},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "changed=1" in completed.stdout  # one task, looped over the six steps
    assert writes(recorder) == ["ModifyListener"] * 6
    assert stack.weights(stack.default_actions()) == {LAMBDA_TG: 100, ECS_TG: 0}
