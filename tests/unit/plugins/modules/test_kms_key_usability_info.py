"""Unit tests of kms_key_usability_info's logic: what keeps a key from encrypting the stack's log groups and
functions' environment, read with DescribeKey alone (botocore's Stubber checks the request against the KMS model)."""

from __future__ import annotations

import datetime
import sys

import boto3
import pytest
from botocore.stub import Stubber

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.modules import kms_key_usability_info as info

REGION = "eu-west-1"
KEY = f"arn:aws:kms:{REGION}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
USABLE = {
    "KeyId": KEY.rsplit("/", 1)[1],
    "Arn": KEY,
    "KeyState": "Enabled",
    "KeyUsage": "ENCRYPT_DECRYPT",
    "KeySpec": "SYMMETRIC_DEFAULT",
    "KeyManager": "CUSTOMER",
}


@pytest.fixture
def kms():
    client = boto3.client("kms", region_name=REGION, aws_access_key_id="a", aws_secret_access_key="b")
    with Stubber(client) as stubber:
        yield RetryingBotoClientWrapper(client, AWSRetry.jittered_backoff()), stubber
        stubber.assert_no_pending_responses()


def test_an_enabled_symmetric_customer_key_of_the_region_is_usable(kms):
    client, stubber = kms
    stubber.add_response("describe_key", {"KeyMetadata": USABLE}, {"KeyId": KEY})
    metadata, unreadable = info.key_metadata(client, KEY)
    assert (metadata["Arn"], unreadable) == (KEY, None)
    assert info.problems(metadata, REGION) == []


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("NotFoundException", "it does not exist"),
        ("AccessDeniedException", "may not describe it (kms:DescribeKey)"),
    ],
)
def test_a_key_that_cannot_be_read_says_why(kms, code, expected):
    client, stubber = kms
    stubber.add_client_error("describe_key", code, "refused", expected_params={"KeyId": KEY})
    metadata, unreadable = info.key_metadata(client, KEY)
    assert metadata is None
    assert expected in unreadable


def test_any_other_error_fails_with_what_was_being_done(kms):
    client, stubber = kms
    stubber.add_client_error("describe_key", "KMSInternalException", "boom", http_status_code=500)
    with pytest.raises(SpilloverError, match="Failed to describe the KMS key"):
        info.key_metadata(client, KEY)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"KeyState": "Disabled"}, "it is Disabled, not Enabled: enable it"),
        (
            {"KeyState": "PendingDeletion", "DeletionDate": datetime.datetime(2026, 12, 14, tzinfo=datetime.UTC)},
            "it is PendingDeletion (deletion on 2026-12-14 00:00:00+00:00), not Enabled: cancel its deletion",
        ),
        # Asymmetric, though for encryption.
        ({"KeySpec": "RSA_2048"}, "it is a RSA_2048 key for ENCRYPT_DECRYPT: CloudWatch Logs and Lambda take only"),
        ({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}, "it is a HMAC_256 key for GENERATE_VERIFY_MAC"),
        ({"KeyManager": "AWS"}, "it is an AWS managed key"),
        ({"Arn": KEY.replace(REGION, "us-east-1")}, "it is a key of us-east-1, not of the stack's region eu-west-1"),
    ],
)
def test_each_thing_that_keeps_a_key_from_use_is_named(change, expected):
    [problem] = info.problems({**USABLE, **change}, REGION)
    assert problem.startswith(expected)


def test_every_problem_is_named_at_once():
    metadata = {**USABLE, "KeyState": "Disabled", "KeyManager": "AWS", "Arn": KEY.replace(REGION, "us-east-2")}
    assert len(info.problems(metadata, REGION)) == 3
