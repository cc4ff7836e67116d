"""Unit tests of plugins/module_utils/common.py: the error idiom, the target-group resolver, the ARN helpers."""

from __future__ import annotations

import sys

import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.module_utils import common

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012"
LAMBDA = {"TargetGroupArn": f"{ARN}:targetgroup/app-lambda/1111111111111111", "TargetGroupName": "app-lambda"}
ECS = {"TargetGroupArn": f"{ARN}:targetgroup/app-ecs/2222222222222222", "TargetGroupName": "app-ecs"}


def client_error(code: str, operation: str = "DescribeTargetGroups") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} happened"}}, operation)


class TargetGroups:
    """DescribeTargetGroups as AWS answers it: one unknown name or ARN fails the whole call with TargetGroupNotFound."""

    def __init__(self, *known):
        self.known = known
        self.asked = []

    def describe_target_groups(self, aws_retry, **query):
        assert aws_retry is True
        self.asked.append(query)
        ((key, values),) = query.items()
        field = {"Names": "TargetGroupName", "TargetGroupArns": "TargetGroupArn"}[key]
        found = [group for value in values for group in self.known if group[field] == value]
        if len(found) != len(values):
            raise client_error("TargetGroupNotFound")
        return {"TargetGroups": found}


def test_target_groups_by_name_and_by_arn_come_back_in_the_order_asked():
    client = TargetGroups(LAMBDA, ECS)
    assert common.describe_target_groups(client, ["app-ecs", LAMBDA["TargetGroupArn"]]) == [ECS, LAMBDA]
    assert client.asked == [{"Names": ["app-ecs"]}, {"TargetGroupArns": [LAMBDA["TargetGroupArn"]]}]


def test_every_missing_group_is_named_in_one_refusal():
    client = TargetGroups(LAMBDA)
    missing_arn = f"{ARN}:targetgroup/gone/3333333333333333"
    with pytest.raises(common.SpilloverError) as raised:
        common.describe_target_groups(client, ["app-lambda", "nope", missing_arn])
    assert raised.value.message == f"Target group(s) nope, {missing_arn} do not exist; create them first."
    assert raised.value.exception is None, "a refusal, not an AWS failure"


def test_the_refusal_says_what_the_caller_asks():
    with pytest.raises(common.SpilloverError, match=r"^Target group nope does not exist; create it first\.$"):
        common.describe_target_groups(
            TargetGroups(), ["nope"], "Target group {missing} does not exist; create it first."
        )


def test_other_aws_errors_of_the_resolver_are_failures_with_aws_answer():
    class Denied(TargetGroups):
        def describe_target_groups(self, aws_retry, **query):
            raise client_error("AccessDenied")

    with pytest.raises(common.SpilloverError) as raised:
        common.describe_target_groups(Denied(), ["app-ecs"])
    assert raised.value.message == "Failed to describe the target groups"
    assert raised.value.exception.response["Error"]["Code"] == "AccessDenied"


def test_aws_call_returns_the_answer_refuses_named_codes_and_fails_on_others():
    assert common.aws_call("read it", lambda: {"ok": 1}) == {"ok": 1}

    def missing():
        raise client_error("ListenerNotFound", "DescribeListeners")

    with pytest.raises(common.SpilloverError) as refused:
        common.aws_call("describe the listener", missing, {"ListenerNotFound": "Listener x does not exist."})
    assert (refused.value.message, refused.value.exception) == ("Listener x does not exist.", None)

    with pytest.raises(common.SpilloverError) as failed:
        common.aws_call("describe the listener", missing)
    assert failed.value.message == "Failed to describe the listener"
    assert isinstance(failed.value.exception, ClientError)

    def timeout():
        raise WaiterError("listener_exists", "Max attempts exceeded", {})

    with pytest.raises(common.SpilloverError, match=r"^Timeout trying to wait for the listener"):
        common.aws_call("wait for the listener", timeout)


class RecordingModule:
    """The AnsibleAWSModule methods fail and finish call; exit and fail raise like the real ones."""

    def __init__(self, diff: bool = True):
        self._diff = diff
        self.calls = []

    def warn(self, warning):
        self.calls.append(("warn", warning))

    def exit_json(self, **result):
        self.calls.append(("exit_json", result))
        raise SystemExit(0)

    def fail_json(self, **result):
        self.calls.append(("fail_json", result))
        raise SystemExit(1)

    def fail_json_aws(self, exception, msg=None, **kwargs):
        self.calls.append(("fail_json_aws", exception, msg, kwargs))
        raise SystemExit(1)


def test_fail_reports_a_refusal_with_its_kwargs_and_an_aws_failure_with_aws_answer():
    module = RecordingModule()
    with pytest.raises(SystemExit):
        common.fail(module, common.SpilloverError("Refused.", target_health={"a": []}))
    error = client_error("Throttling")
    with pytest.raises(SystemExit):
        common.fail(module, common.SpilloverError("Failed to read", exception=error, reported={}))
    assert module.calls == [
        ("fail_json", {"msg": "Refused.", "target_health": {"a": []}}),
        ("fail_json_aws", error, "Failed to read", {"reported": {}}),
    ]


@pytest.mark.parametrize("diff_mode", [True, False])
def test_finish_warns_then_exits_with_the_diff_in_diff_mode_only(diff_mode):
    module = RecordingModule(diff=diff_mode)
    with pytest.raises(SystemExit):
        common.finish(module, True, {"weight": 1}, {"before": 0, "after": 1}, ["careful"])
    result = {"changed": True, "weight": 1, **({"diff": {"before": 0, "after": 1}} if diff_mode else {})}
    assert module.calls == [("warn", "careful"), ("exit_json", result)]


def test_run_exits_with_what_the_work_returns_or_fails_with_its_refusal():
    module = RecordingModule()
    with pytest.raises(SystemExit):
        common.run(module, lambda: (True, {"weight": 1}, {"before": 0, "after": 1}, ["careful"]))
    with pytest.raises(SystemExit):
        common.run(module, lambda: (False, {"weight": 1}))

    def refused():
        raise common.SpilloverError("Refused.", target_health={})

    with pytest.raises(SystemExit):
        common.run(module, refused)
    assert module.calls == [
        ("warn", "careful"),
        ("exit_json", {"changed": True, "weight": 1, "diff": {"before": 0, "after": 1}}),
        ("exit_json", {"changed": False, "weight": 1}),
        ("fail_json", {"msg": "Refused.", "target_health": {}}),
    ]


def test_run_info_exits_unchanged_with_what_is_read_or_fails_with_its_aws_failure():
    module = RecordingModule()
    with pytest.raises(SystemExit):
        common.run_info(module, lambda: {"weight": 1})
    error = client_error("Throttling")

    def failing():
        raise common.SpilloverError("Failed to read", exception=error)

    with pytest.raises(SystemExit):
        common.run_info(module, failing)
    assert module.calls == [
        ("exit_json", {"changed": False, "weight": 1}),
        ("fail_json_aws", error, "Failed to read", {}),
    ]


def test_arn_helpers():
    assert common.target_group_name(ECS["TargetGroupArn"]) == "app-ecs"
    parsed, parts = common.resource_parts(f"{ARN}:listener/app/alb/3333/4444", "listener")
    assert parts == ["app", "alb", "3333", "4444"]
    assert common.with_resource(parsed, "loadbalancer/app/alb/3333") == f"{ARN}:loadbalancer/app/alb/3333"
    assert common.resource_parts(ECS["TargetGroupArn"], "listener") == (None, [])
    assert common.resource_parts("app-ecs", "targetgroup") == (None, [])
    assert common.is_arn(ECS["TargetGroupArn"]) and not common.is_arn("app-ecs")
