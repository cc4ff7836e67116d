"""spillover.lambda_ecs.lambda_reserved_concurrency against the local AWS (moto server), through Ansible.

Module runs go through the recording proxy, so "no write call" is asserted from what reached AWS; the function
itself is created with boto3 (moto stores it without running its code, which these tests do not need).
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from tests.support.ansible_run import run_module

pytestmark = pytest.mark.integration

FUNCTION = "reserved-app"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


@pytest.fixture
def function(aws_client) -> str:
    role = aws_client("iam").create_role(RoleName=FUNCTION, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    return {}\n")
    aws_client("lambda").create_function(
        FunctionName=FUNCTION,
        Runtime="python3.12",
        Role=role,
        Handler="app.lambda_handler",
        Code={"ZipFile": code.getvalue()},
    )
    return FUNCTION


def reserved(aws_client) -> int | None:
    return aws_client("lambda").get_function_concurrency(FunctionName=FUNCTION).get("ReservedConcurrentExecutions")


def test_set_change_and_remove_write_only_when_needed(recorder, aws_client, function):
    def run(args: dict, **kwargs) -> dict:
        recorder.reset()
        result = run_module("lambda_reserved_concurrency", args, endpoint=recorder.endpoint, **kwargs)
        assert not result.get("failed"), result
        return result

    ten = {"function_name": function, "reserved_concurrency": 10}

    check = run(ten, check=True, diff=True)
    assert check["changed"] and check["reserved_concurrency"] == 10
    assert check["diff"] == {"before": {"reserved_concurrency": None}, "after": {"reserved_concurrency": 10}}
    assert recorder.writes == [] and reserved(aws_client) is None

    first = run(ten)
    assert first["changed"] and first["previous_reserved_concurrency"] is None
    # Lambda is a REST API: the recorder names its calls by method and path.
    assert [call.operation for call in recorder.writes] == [f"PUT /2017-10-31/functions/{function}/concurrency"]
    assert reserved(aws_client) == 10

    again = run(ten)
    assert not again["changed"] and again["reserved_concurrency"] == 10
    assert recorder.writes == [], recorder.writes

    # By ARN, to a new value; then the reservation removed, twice.
    arn = aws_client("lambda").get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    lowered = run({"function_name": arn, "reserved_concurrency": 0})
    assert lowered["changed"] and lowered["previous_reserved_concurrency"] == 10
    assert reserved(aws_client) == 0

    removed = run({"function_name": function, "state": "absent"}, diff=True)
    assert removed["changed"] and removed["diff"]["after"] == {"reserved_concurrency": None}
    assert [call.operation for call in recorder.writes] == [f"DELETE /2017-10-31/functions/{function}/concurrency"]
    assert reserved(aws_client) is None
    assert not run({"function_name": function, "state": "absent"})["changed"]
    assert recorder.writes == []


def test_missing_function_fails_when_present_and_is_harmless_when_absent(recorder):
    failed = run_module(
        "lambda_reserved_concurrency",
        {"function_name": "no-such-function", "reserved_concurrency": 1},
        endpoint=recorder.endpoint,
    )
    assert failed["failed"] and "does not exist" in failed["msg"]
    gone = run_module(
        "lambda_reserved_concurrency",
        {"function_name": "no-such-function", "state": "absent"},
        endpoint=recorder.endpoint,
    )
    assert not gone.get("failed") and not gone["changed"], gone
    negative = run_module(
        "lambda_reserved_concurrency", {"function_name": "x", "reserved_concurrency": -1}, endpoint=recorder.endpoint
    )
    assert negative["failed"] and "0 or more" in negative["msg"]
    assert recorder.writes == []
