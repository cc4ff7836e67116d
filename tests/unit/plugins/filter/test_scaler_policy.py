"""spillover.lambda_ecs.scaler_policy: the scaler's least-privilege IAM policy."""

from __future__ import annotations

import sys

import pytest

from tests.support.ansible_run import link_collection
from tests.support.aws_quirks.iam import privilege
from tests.support.iam_policies import parliament_findings

sys.path.insert(0, str(link_collection()))

from ansible.errors import AnsibleFilterError
from ansible_collections.spillover.lambda_ecs.plugins.filter.scaler_policy import (
    FilterModule,
    scaler_policy,
)

ELB = "arn:aws:elasticloadbalancing:eu-west-1:000123456789"
LISTENER = f"{ELB}:listener/app/spill/50dc6c495c0c9188/f2f7dc8efc522ab2"
RULE = f"{ELB}:listener-rule/app/spill/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
INPUT = {
    "account_id": "000123456789",
    "region": "eu-west-1",
    "cluster_name": "spill",
    "service_name": "app",
    "listener_arn": LISTENER,
    "lambda_target_group_arn": f"{ELB}:targetgroup/spill-lambda/73e2d6bc24d8a067",
    "ecs_target_group_arn": f"{ELB}:targetgroup/spill-ecs/0aa2d6bc24d8a067",
    "spill_alarm_names": ["app-throttles", "app-5xx"],
    "warm_alarm_names": ["app-concurrency-high"],
    "function_name": "spillover-scaler",
}
READ_ONLY_PREFIXES = ("Describe", "List", "Get")


def statements(policy: dict) -> list[dict]:
    return policy["Statement"]


def allowed(policy: dict) -> dict[str, list[str]]:
    """Action -> the resources it is allowed on."""
    grants: dict[str, list[str]] = {}
    for statement in statements(policy):
        assert statement["Effect"] == "Allow"
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in statement["Action"]:
            grants.setdefault(action, []).extend(resources)
    return grants


@pytest.mark.parametrize("rule_arn", [None, RULE])
def test_no_wildcard_action_and_no_wildcard_resource_on_a_write(rule_arn):
    policy = scaler_policy({**INPUT, "rule_arn": rule_arn} if rule_arn else INPUT)
    for action, resources in allowed(policy).items():
        service, name = action.split(":")
        assert "*" not in action and service and name
        if not name.startswith(READ_ONLY_PREFIXES):
            assert "*" not in resources
            assert all("*" not in resource for resource in resources if ":log-stream:" not in resource), action
    assert not any(action.startswith("iam:") for action in allowed(policy))


def test_listener_mode_grants_exactly_what_the_scaler_calls():
    grants = allowed(scaler_policy(INPUT))
    service = "arn:aws:ecs:eu-west-1:000123456789:service/spill/app"
    log_group = "arn:aws:logs:eu-west-1:000123456789:log-group:/aws/lambda/spillover-scaler"
    assert grants == {
        "cloudwatch:DescribeAlarms": [
            "arn:aws:cloudwatch:eu-west-1:000123456789:alarm:app-throttles",
            "arn:aws:cloudwatch:eu-west-1:000123456789:alarm:app-5xx",
            "arn:aws:cloudwatch:eu-west-1:000123456789:alarm:app-concurrency-high",
        ],
        "elasticloadbalancing:DescribeListeners": ["*"],
        "elasticloadbalancing:DescribeTags": ["*"],
        "elasticloadbalancing:DescribeTargetGroupAttributes": ["*"],
        "elasticloadbalancing:DescribeTargetGroups": ["*"],
        "elasticloadbalancing:DescribeTargetHealth": ["*"],
        "ecs:DescribeServices": [service],
        "ecs:UpdateService": [service],
        "elasticloadbalancing:ModifyListener": [LISTENER],
        "elasticloadbalancing:AddTags": [LISTENER],
        "logs:CreateLogGroup": [log_group, f"{log_group}:log-stream:*"],
        "logs:CreateLogStream": [log_group, f"{log_group}:log-stream:*"],
        "logs:PutLogEvents": [log_group, f"{log_group}:log-stream:*"],
    }
    by_sid = {statement["Sid"]: statement for statement in statements(scaler_policy(INPUT))}
    assert by_sid["ReadLoadBalancerStateElbDescribeHasNoResourceLevelPermissions"]["Resource"] == "*"
    assert by_sid["RememberLastMoveInOwnTag"]["Condition"] == {
        "ForAllValues:StringEquals": {"aws:TagKeys": ["spillover:last-move"]}
    }


@pytest.mark.parametrize("rule_arn", [None, RULE])
def test_the_writes_are_narrowed_by_the_condition_keys_aws_supplies_for_them(rule_arn):
    policy = scaler_policy({**INPUT, "rule_arn": rule_arn} if rule_arn else INPUT)
    conditions = {statement["Action"][0]: statement.get("Condition") for statement in statements(policy)}
    # Scaling cannot switch the task definition; moving the weights cannot change a listener's protocol or TLS policy.
    assert conditions["ecs:UpdateService"] == {"Null": {"ecs:task-definition": "true"}}
    if rule_arn:
        assert conditions["elasticloadbalancing:ModifyRule"] is None  # ModifyRule has no such key
    else:
        assert conditions["elasticloadbalancing:ModifyListener"] == {
            "Null": {"elasticloadbalancing:ListenerProtocol": "true", "elasticloadbalancing:SecurityPolicy": "true"}
        }
    # Every key is one the Service Authorization Reference lists for each action of its statement.
    for statement in statements(policy):
        for keys in (statement.get("Condition") or {}).values():
            for key in keys:
                for action in statement["Action"]:
                    offered = {k.lower() for entry in privilege(action) for k in entry["condition_keys"]}
                    assert key.lower() in offered, (action, key)


HTTPS_LISTENER = f"{ELB}:listener/app/spill/50dc6c495c0c9188/0443dc8efc522ab2"


def test_each_listener_is_moved_and_only_the_first_holds_the_last_move_record():
    two = {key: value for key, value in INPUT.items() if key != "listener_arn"}
    policy = scaler_policy({**two, "listener_arns": [LISTENER, HTTPS_LISTENER]})
    grants = allowed(policy)
    assert grants["elasticloadbalancing:ModifyListener"] == [LISTENER, HTTPS_LISTENER]
    assert grants["elasticloadbalancing:AddTags"] == [LISTENER]
    assert set(grants) == set(allowed(scaler_policy(INPUT)))  # no other action, no rule's
    assert scaler_policy({**two, "listener_arns": [LISTENER]}) == scaler_policy(INPUT)
    assert parliament_findings(policy) == []


def test_rule_mode_moves_and_tags_only_the_rule():
    grants = allowed(scaler_policy({**INPUT, "rule_arn": RULE, "partition": "aws", "log_group_name": "/spill/scaler"}))
    assert grants["elasticloadbalancing:ModifyRule"] == [RULE] and grants["elasticloadbalancing:AddTags"] == [RULE]
    assert "elasticloadbalancing:ModifyListener" not in grants
    assert "elasticloadbalancing:DescribeRules" in grants and "elasticloadbalancing:DescribeListeners" not in grants
    assert grants["logs:PutLogEvents"][0] == "arn:aws:logs:eu-west-1:000123456789:log-group:/spill/scaler"


def test_other_partitions_name_their_arns():
    gov = {
        key: value.replace("arn:aws:", "arn:aws-us-gov:") if isinstance(value, str) else value
        for key, value in INPUT.items()
    }
    grants = allowed(scaler_policy({**gov, "partition": "aws-us-gov"}))
    assert grants["ecs:UpdateService"] == ["arn:aws-us-gov:ecs:eu-west-1:000123456789:service/spill/app"]


def test_the_step_down_guard_adds_metric_data_and_the_app_functions_reserved_concurrency():
    grants = allowed(scaler_policy({**INPUT, "app_function_name": "spill-app"}))
    assert grants["lambda:GetFunctionConcurrency"] == ["arn:aws:lambda:eu-west-1:000123456789:function:spill-app"]
    assert grants["cloudwatch:GetMetricData"] == ["*"]
    assert set(grants) - set(allowed(scaler_policy(INPUT))) == {
        "lambda:GetFunctionConcurrency",
        "cloudwatch:GetMetricData",
    }
    by_sid = {
        statement["Sid"]: statement for statement in statements(scaler_policy({**INPUT, "app_function_name": "a"}))
    }
    assert by_sid["ReadRequestRateAndDurationGetMetricDataHasNoResourceLevelPermissions"]["Resource"] == "*"


def test_an_app_function_arn_is_refused():
    with pytest.raises(AnsibleFilterError, match="app_function_name must be a string"):
        scaler_policy({**INPUT, "app_function_name": "arn:aws:lambda:eu-west-1:000123456789:function:app"})


@pytest.mark.parametrize(("rule_arn", "app_function_name"), [(None, None), (RULE, None), (None, "spill-app")])
def test_parliament_reports_no_findings(rule_arn, app_function_name):
    data = {**INPUT, "rule_arn": rule_arn, "app_function_name": app_function_name}
    policy = scaler_policy({key: value for key, value in data.items() if value is not None})
    assert [str(finding) for finding in parliament_findings(policy)] == []


def test_parliament_does_flag_a_wrongly_scoped_write():
    # Shows the check above can fail: a cluster ARN where UpdateService needs a service ARN.
    policy = scaler_policy(INPUT)
    for statement in statements(policy):
        if "ecs:UpdateService" in statement["Action"]:
            statement["Resource"] = ["arn:aws:ecs:eu-west-1:000123456789:cluster/spill"]
    issues = {finding.issue for finding in parliament_findings(policy)}
    assert "RESOURCE_MISMATCH" in issues


def test_every_problem_of_the_input_in_one_error():
    broken = {
        **INPUT,
        "account_id": 123456789012,
        "region": "Europe",
        "spill_alarm_names": "app-throttles",
        "function_name": "",
        "colour": "blue",
    }
    del broken["cluster_name"]
    with pytest.raises(AnsibleFilterError) as caught:
        scaler_policy(broken)
    message = str(caught.value)
    for expected in (
        "cluster_name is required",
        "function_name is required",
        "unknown key 'colour'",
        "account_id must be a string",
        "region must be a string",
        "spill_alarm_names must be a list",
    ):
        assert expected in message


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"listener_arn": LISTENER.replace("000123456789", "999999999999")}, "listener_arn must be an application"),
        ({"ecs_target_group_arn": LISTENER}, "ecs_target_group_arn must be an application"),
        ({"rule_arn": RULE.replace("f2f7dc8efc522ab2", "0000000000000000")}, "rule_arn must be a rule of listener_arn"),
        ({"listener_arn": None}, "listener_arns is required"),
        ({"listener_arns": [HTTPS_LISTENER]}, "give listener_arns, or listener_arn for one listener, not both"),
        ({"listener_arn": None, "listener_arns": [LISTENER, LISTENER]}, "listener_arns names a listener twice"),
        (
            {"listener_arn": None, "listener_arns": [LISTENER, f"{ELB}:listener/app/other/60dc6c495c0c9188/0443"]},
            "listener_arns must be listeners of one load balancer",
        ),
        (
            {"listener_arn": None, "listener_arns": [LISTENER, HTTPS_LISTENER], "rule_arn": RULE},
            "rule_arn moves a rule of one listener",
        ),
        ({"warm_alarm_names": ["app-*"]}, "no wildcards"),
        ({"spill_alarm_names": []}, "spill_alarm_names is required"),
        ({"partition": "azure"}, "partition must be a string"),
    ],
)
def test_wrong_inputs_are_refused(changes, expected):
    with pytest.raises(AnsibleFilterError, match="invalid scaler_policy input") as caught:
        scaler_policy({key: value for key, value in {**INPUT, **changes}.items() if value is not None})
    assert expected in str(caught.value)


def test_refuses_a_non_dict():
    with pytest.raises(AnsibleFilterError, match="expects a dict"):
        scaler_policy(["not", "a", "dict"])


def test_registered_under_its_name():
    assert FilterModule().filters() == {"scaler_policy": scaler_policy}
