"""Unit tests of iam_managed_policy_info's logic, with a fake IAM client answering as IAM does (no AWS)."""

from __future__ import annotations

import sys

import pytest
from botocore.exceptions import ClientError

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.modules import iam_managed_policy_info as info

ARN = "arn:aws:iam::123456789012:policy/org-boundary"


class FakeIam:
    def __init__(self, policies: dict[str, dict], error: str = ""):
        self.policies, self.error = policies, error
        self.asked: list[str] = []

    def get_policy(self, aws_retry, PolicyArn):
        self.asked.append(PolicyArn)
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "refused"}}, "GetPolicy")
        if PolicyArn not in self.policies:
            message = f"Policy {PolicyArn} was not found."
            raise ClientError({"Error": {"Code": "NoSuchEntity", "Message": message}}, "GetPolicy")
        return {"Policy": self.policies[PolicyArn]}


def test_an_existing_policy_is_read_by_its_arn():
    iam = FakeIam({ARN: {"PolicyName": "org-boundary", "Arn": ARN, "DefaultVersionId": "v2"}})
    assert info.managed_policy(iam, ARN)["DefaultVersionId"] == "v2"
    assert iam.asked == [ARN]


def test_a_policy_the_account_has_not_is_none():
    assert info.managed_policy(FakeIam({}), ARN) is None


def test_any_other_refusal_fails_with_what_was_being_done():
    with pytest.raises(SpilloverError, match="Failed to read the managed policy"):
        info.managed_policy(FakeIam({}, error="AccessDenied"), ARN)
