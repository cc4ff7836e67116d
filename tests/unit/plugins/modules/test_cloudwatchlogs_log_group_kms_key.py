"""Unit tests of cloudwatchlogs_log_group_kms_key's logic against a botocore client whose answers are stubbed:
botocore's Stubber checks each request against the CloudWatch Logs model, so every call is one AWS accepts."""

from __future__ import annotations

import sys

import boto3
import pytest
from botocore.stub import Stubber

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.modules import cloudwatchlogs_log_group_kms_key as module

GROUP = "/aws/lambda/shop-app"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY = "arn:aws:kms:eu-west-1:123456789012:key/0000abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture
def logs():
    client = boto3.client("logs", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")
    with Stubber(client) as stubber:
        yield RetryingBotoClientWrapper(client, AWSRetry.jittered_backoff()), stubber
        stubber.assert_no_pending_responses()


def described(stubber, key=None, name=GROUP):
    group = {"logGroupName": name, "arn": f"arn:aws:logs:eu-west-1:123456789012:log-group:{name}:*"}
    if key:
        group["kmsKeyId"] = key
    # A sibling of the same prefix is not the group.
    sibling = {"logGroupName": name + "-old", "kmsKeyId": OTHER_KEY}
    stubber.add_response("describe_log_groups", {"logGroups": [sibling, group]}, {"logGroupNamePrefix": GROUP})


@pytest.mark.parametrize("key", ["", KEY])
def test_a_group_with_the_key_wanted_is_left_alone(logs, key):
    client, stubber = logs
    described(stubber, key)
    assert module.ensure_kms_key(client, {"log_group_name": GROUP, "kms_key_arn": key}, False) == (False, key, key)


def test_a_key_is_associated_with_a_group_that_has_none_or_another(logs):
    client, stubber = logs
    described(stubber)
    stubber.add_response("associate_kms_key", {}, {"logGroupName": GROUP, "kmsKeyId": KEY})
    assert module.ensure_kms_key(client, {"log_group_name": GROUP, "kms_key_arn": KEY}, False) == (True, "", KEY)
    described(stubber, OTHER_KEY)
    stubber.add_response("associate_kms_key", {}, {"logGroupName": GROUP, "kmsKeyId": KEY})
    assert module.ensure_kms_key(client, {"log_group_name": GROUP, "kms_key_arn": KEY}, False) == (True, OTHER_KEY, KEY)


def test_no_key_wanted_removes_the_groups_key(logs):
    client, stubber = logs
    described(stubber, KEY)
    stubber.add_response("disassociate_kms_key", {}, {"logGroupName": GROUP})
    assert module.ensure_kms_key(client, {"log_group_name": GROUP, "kms_key_arn": ""}, False) == (True, KEY, "")


def test_check_mode_reads_only(logs):
    client, stubber = logs
    described(stubber)
    # No write stubbed: a write call would fail the test.
    assert module.ensure_kms_key(client, {"log_group_name": GROUP, "kms_key_arn": KEY}, True) == (True, "", KEY)


def test_a_missing_group_is_refused(logs):
    client, stubber = logs
    stubber.add_response("describe_log_groups", {"logGroups": []}, {"logGroupNamePrefix": GROUP})
    with pytest.raises(SpilloverError, match="does not exist; create it before setting its KMS key"):
        module.ensure_kms_key(client, {"log_group_name": GROUP, "kms_key_arn": KEY}, False)


def test_a_key_cloudwatch_logs_refuses_fails_saying_what_the_key_needs(logs):
    client, stubber = logs
    described(stubber)
    stubber.add_client_error(
        "associate_kms_key",
        "InvalidParameterException",
        f"Specified KMS key {KEY} does not exist or is not allowed to be used with log group {GROUP}",
        expected_params={"logGroupName": GROUP, "kmsKeyId": KEY},
    )
    with pytest.raises(SpilloverError) as caught:
        module.ensure_kms_key(client, {"log_group_name": GROUP, "kms_key_arn": KEY}, False)
    assert "its key policy must allow the region's logs.REGION.amazonaws.com" in caught.value.message
    assert caught.value.exception is not None
