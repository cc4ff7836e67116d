"""Unit tests of the logic of elb_target_group_attributes, with a fake ELBv2 client (no AWS)."""

from __future__ import annotations

import sys

import pytest
from botocore.exceptions import ClientError

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.modules import elb_target_group_attributes as tga

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/app-lambda/0123456789abcdef"


class FakeElbv2:
    def __init__(self, attributes: dict[str, str], exists: bool = True):
        self.attributes = dict(attributes)
        self.exists = exists
        self.writes: list[list[dict]] = []

    def describe_target_groups(self, aws_retry: bool, Names=None, TargetGroupArns=None) -> dict:
        if not self.exists:
            raise ClientError({"Error": {"Code": "TargetGroupNotFound", "Message": "nope"}}, "DescribeTargetGroups")
        assert Names == ["app-lambda"] or TargetGroupArns == [ARN]
        return {"TargetGroups": [{"TargetGroupArn": ARN, "TargetGroupName": "app-lambda"}]}

    def describe_target_group_attributes(self, aws_retry: bool, TargetGroupArn: str) -> dict:
        return {"Attributes": [{"Key": k, "Value": v} for k, v in self.attributes.items()]}

    def modify_target_group_attributes(self, aws_retry: bool, TargetGroupArn: str, Attributes: list[dict]) -> None:
        self.writes.append(Attributes)
        self.attributes.update({a["Key"]: a["Value"] for a in Attributes})


STORED = {"lambda.multi_value_headers.enabled": "false", "deregistration_delay.timeout_seconds": "300"}


@pytest.mark.parametrize("target_group", ["app-lambda", ARN])
def test_sets_only_what_differs_as_lowercase_strings(target_group):
    client = FakeElbv2(STORED)
    wanted = {"lambda.multi_value_headers.enabled": True, "deregistration_delay.timeout_seconds": 300}
    arn, before, after, changed = tga.ensure_attributes(
        client, {"target_group": target_group, "attributes": wanted}, check_mode=False
    )
    assert (arn, changed) == (ARN, ["lambda.multi_value_headers.enabled"])
    assert client.writes == [[{"Key": "lambda.multi_value_headers.enabled", "Value": "true"}]]
    assert before == STORED and after["lambda.multi_value_headers.enabled"] == "true"

    again = tga.ensure_attributes(client, {"target_group": target_group, "attributes": wanted}, check_mode=False)
    assert again[3] == [] and len(client.writes) == 1


def test_check_mode_predicts_and_writes_nothing():
    client = FakeElbv2(STORED)
    params = {"target_group": "app-lambda", "attributes": {"lambda.multi_value_headers.enabled": True}}
    _, _, after, changed = tga.ensure_attributes(client, params, check_mode=True)
    assert changed == ["lambda.multi_value_headers.enabled"]
    assert after["lambda.multi_value_headers.enabled"] == "true"
    assert client.writes == [] and client.attributes == STORED


def test_missing_target_group_is_reported():
    with pytest.raises(SpilloverError, match=r"^Target group app-lambda does not exist; create it first\.$"):
        tga.ensure_attributes(
            FakeElbv2({}, exists=False), {"target_group": "app-lambda", "attributes": {"a": 1}}, check_mode=False
        )
