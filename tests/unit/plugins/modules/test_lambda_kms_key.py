"""Unit tests of lambda_kms_key's logic against a botocore client whose answers are stubbed: botocore's Stubber checks
each request against the Lambda model, so every call is one AWS accepts (the local AWS ignores an update's
KMSKeyArn)."""

from __future__ import annotations

import sys

import boto3
import pytest
from botocore.stub import Stubber

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.modules import lambda_kms_key as module

FUNCTION = "shop-app"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY = "arn:aws:kms:eu-west-1:123456789012:key/0000abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture
def functions():
    client = boto3.client("lambda", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")
    with Stubber(client) as stubber:
        yield RetryingBotoClientWrapper(client, AWSRetry.jittered_backoff()), stubber
        stubber.assert_no_pending_responses()


def configuration(stubber, key=None, status="Successful"):
    answer = {"FunctionName": FUNCTION, "LastUpdateStatus": status, "State": "Active"}
    if key:
        answer["KMSKeyArn"] = key
    stubber.add_response("get_function_configuration", answer, {"FunctionName": FUNCTION})


@pytest.mark.parametrize("key", ["", KEY])
def test_a_function_with_the_key_wanted_is_left_alone(functions, key):
    client, stubber = functions
    configuration(stubber, key)
    assert module.ensure_kms_key(client, {"function_name": FUNCTION, "kms_key_arn": key}, False) == (False, key, key)


@pytest.mark.parametrize(("before", "wanted"), [("", KEY), (OTHER_KEY, KEY), (KEY, "")])
def test_the_key_is_set_after_any_update_in_progress_and_waited_for(functions, before, wanted):
    client, stubber = functions
    configuration(stubber, before)
    configuration(stubber, before)  # the waiter: no update in progress
    stubber.add_response(
        "update_function_configuration",
        {"FunctionName": FUNCTION, "LastUpdateStatus": "InProgress"},
        {"FunctionName": FUNCTION, "KMSKeyArn": wanted},
    )
    configuration(stubber, wanted)  # the waiter: the update is done
    assert module.ensure_kms_key(client, {"function_name": FUNCTION, "kms_key_arn": wanted}, False) == (
        True,
        before,
        wanted,
    )


def test_check_mode_reads_only(functions):
    client, stubber = functions
    configuration(stubber)
    assert module.ensure_kms_key(client, {"function_name": FUNCTION, "kms_key_arn": KEY}, True) == (True, "", KEY)


def test_a_missing_function_is_refused(functions):
    client, stubber = functions
    stubber.add_client_error("get_function_configuration", "ResourceNotFoundException", "Function not found")
    with pytest.raises(SpilloverError, match="does not exist; create it before setting its KMS key"):
        module.ensure_kms_key(client, {"function_name": FUNCTION, "kms_key_arn": KEY}, False)


def test_a_key_the_caller_may_not_use_fails_saying_what_it_needs(functions):
    client, stubber = functions
    configuration(stubber)
    configuration(stubber)
    stubber.add_client_error(
        "update_function_configuration",
        "KMSAccessDeniedException",
        "Lambda was unable to configure access to your environment variables because the KMS key is invalid for "
        "CreateGrant.",
        http_status_code=502,
    )
    with pytest.raises(SpilloverError) as caught:
        module.ensure_kms_key(client, {"function_name": FUNCTION, "kms_key_arn": KEY}, False)
    assert "kms:CreateGrant, kms:Encrypt and kms:Decrypt" in caught.value.message
