"""Unit tests of iam_managed_policy_info's logic, with a fake IAM client answering as IAM does (no AWS)."""

from __future__ import annotations

import json
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
        self.documents: dict[str, dict] = {}
        self.asked: list[str] = []

    def get_policy(self, aws_retry, PolicyArn):
        self.asked.append(PolicyArn)
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "refused"}}, "GetPolicy")
        if PolicyArn not in self.policies:
            message = f"Policy {PolicyArn} was not found."
            raise ClientError({"Error": {"Code": "NoSuchEntity", "Message": message}}, "GetPolicy")
        return {"Policy": self.policies[PolicyArn]}

    def get_policy_version(self, aws_retry, PolicyArn, VersionId):
        self.asked.append(f"{PolicyArn} {VersionId}")
        return {
            "PolicyVersion": {"VersionId": VersionId, "IsDefaultVersion": True, "Document": self.documents[VersionId]}
        }


def test_an_existing_policy_is_read_by_its_arn():
    iam = FakeIam({ARN: {"PolicyName": "org-boundary", "Arn": ARN, "DefaultVersionId": "v2"}})
    assert info.managed_policy(iam, ARN)["DefaultVersionId"] == "v2"
    assert iam.asked == [ARN]


def test_a_policy_the_account_has_not_is_none():
    assert info.managed_policy(FakeIam({}), ARN) is None


def test_any_other_refusal_fails_with_what_was_being_done():
    with pytest.raises(SpilloverError, match="Failed to read the managed policy"):
        info.managed_policy(FakeIam({}, error="AccessDenied"), ARN)


BOUNDARY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "OwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}
    ],
}


def iam_with_boundary(document: dict) -> FakeIam:
    iam = FakeIam({ARN: {"PolicyName": "org-boundary", "Arn": ARN, "DefaultVersionId": "v2"}})
    iam.documents["v2"] = document
    return iam


def test_the_default_versions_document_is_read_and_compared():
    iam = iam_with_boundary(BOUNDARY)
    result = info.read_policy(iam, ARN, BOUNDARY)
    assert result["exists"] and result["current"]
    assert result["document"] == BOUNDARY  # as written: keys not converted
    assert result["policy"]["default_version_id"] == "v2"
    assert iam.asked == [ARN, f"{ARN} v2"]


def test_the_order_of_actions_is_no_difference_but_another_grant_is():
    reordered = json.loads(json.dumps(BOUNDARY))
    reordered["Statement"][0]["Action"].reverse()
    assert info.read_policy(iam_with_boundary(reordered), ARN, BOUNDARY)["current"]
    widened = json.loads(json.dumps(BOUNDARY))
    widened["Statement"][0]["Action"].append("iam:*")
    assert info.read_policy(iam_with_boundary(widened), ARN, BOUNDARY)["current"] is False


def test_a_policy_that_does_not_exist_is_not_current_and_without_a_document_nothing_is_compared():
    missing = info.read_policy(FakeIam({}), ARN, BOUNDARY)
    assert missing == {"exists": False, "policy": {}, "document": {}, "current": False}
    assert "current" not in info.read_policy(iam_with_boundary(BOUNDARY), ARN)
