"""The lambda_function role against the local AWS: twice (no change), then absent twice.

Moto stores the function without running it (no Docker engine): these tests check what was deployed and wired.
The role's elb_target_group_attributes task is the only setter of lambda.multi_value_headers.enabled here.
"""

from __future__ import annotations

import json

import pytest

from tests.support.infra_roles import apply_role

pytestmark = pytest.mark.integration

STACK = "fnstack"
FUNCTION = f"{STACK}-app"


def test_function_converges_then_goes_away_twice(local_aws, aws_client, tmp_path):
    lambda_, elbv2, iam, logs = (aws_client(name) for name in ("lambda", "elbv2", "iam", "logs"))
    role_vars = {
        "lambda_function_stack_name": STACK,
        "lambda_function_reserved_concurrency": 7,
        "lambda_function_build_dir": str(tmp_path),
    }

    first = apply_role("lambda_function", local_aws.endpoint, role_vars)
    assert first.changed > 0
    facts = first.facts
    configuration = lambda_.get_function(FunctionName=FUNCTION)["Configuration"]
    assert facts["lambda_function__function_name"] == FUNCTION
    assert facts["lambda_function__function_arn"] == ":".join(configuration["FunctionArn"].split(":")[:7])
    assert facts["lambda_function__function_arn"].endswith(f":function:{FUNCTION}")
    assert (configuration["Runtime"], configuration["Handler"]) == ("python3.12", "spillover_entry.handler")
    assert configuration["Environment"]["Variables"] == {"APP_CALLABLE": "app:app", "APP_INTERFACE": "wsgi"}
    assert configuration["Architectures"] == ["x86_64"]
    assert configuration["Role"].endswith(f":role/{STACK}-app-lambda")
    assert lambda_.get_function_concurrency(FunctionName=FUNCTION)["ReservedConcurrentExecutions"] == 7
    assert (tmp_path / f"{FUNCTION}.zip").exists()

    group_arn = facts["lambda_function__target_group_arn"]
    [group] = elbv2.describe_target_groups(TargetGroupArns=[group_arn])["TargetGroups"]
    assert (group["TargetGroupName"], group["TargetType"]) == (f"{STACK}-lambda", "lambda")
    attributes = {
        a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(TargetGroupArn=group_arn)["Attributes"]
    }
    assert attributes["lambda.multi_value_headers.enabled"] == "true"
    targets = elbv2.describe_target_health(TargetGroupArn=group_arn)["TargetHealthDescriptions"]
    assert [t["Target"]["Id"] for t in targets] == [facts["lambda_function__function_arn"]]

    [statement] = json.loads(lambda_.get_policy(FunctionName=FUNCTION)["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "elasticloadbalancing.amazonaws.com"}
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == group_arn

    policy_names = iam.list_role_policies(RoleName=f"{STACK}-app-lambda")["PolicyNames"]
    assert iam.list_attached_role_policies(RoleName=f"{STACK}-app-lambda")["AttachedPolicies"] == []
    [document] = [
        iam.get_role_policy(RoleName=f"{STACK}-app-lambda", PolicyName=name)["PolicyDocument"] for name in policy_names
    ]
    resources = {
        r for s in document["Statement"] for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
    }
    assert all(f"log-group:/aws/lambda/{FUNCTION}" in r for r in resources), resources
    [log_group] = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{FUNCTION}")["logGroups"]
    assert log_group["retentionInDays"] == 14

    second = apply_role("lambda_function", local_aws.endpoint, role_vars)
    assert second.changed == 0, second.output[-5000:]
    assert second.facts == facts

    absent = {"lambda_function_stack_name": STACK, "lambda_function_state": "absent"}
    assert apply_role("lambda_function", local_aws.endpoint, absent).changed > 0
    assert [f for f in lambda_.list_functions()["Functions"] if f["FunctionName"] == FUNCTION] == []
    assert [
        g for g in elbv2.describe_target_groups()["TargetGroups"] if g["TargetGroupName"] == f"{STACK}-lambda"
    ] == []
    assert [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(STACK)] == []
    assert logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{FUNCTION}")["logGroups"] == []
    assert apply_role("lambda_function", local_aws.endpoint, absent).changed == 0


UNASSUMABLE = {
    "__type": "InvalidParameterValueException",
    "message": "The role defined for the function cannot be assumed by Lambda.",
}
CREATE_FUNCTION = "POST /2015-03-31/functions"  # the recorder names Lambda's REST calls by method and path


def test_the_log_group_is_created_encrypted_with_the_key_named(local_aws, aws_client, tmp_path):
    # The local AWS keeps a log group's key given at creation, but has no AssociateKmsKey and ignores an update's
    # KMSKeyArn: the modules that change a key (cloudwatchlogs_log_group_kms_key, lambda_kms_key) are tested against
    # botocore's models in tests/unit/plugins/modules.
    logs, kms = aws_client("logs"), aws_client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    role_vars = {
        "lambda_function_stack_name": STACK,
        "lambda_function_build_dir": str(tmp_path),
        "lambda_function_log_kms_key_arn": key,
    }
    assert apply_role("lambda_function", local_aws.endpoint, role_vars).changed > 0
    [group] = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{FUNCTION}")["logGroups"]
    assert group["kmsKeyId"] == key
    second = apply_role("lambda_function", local_aws.endpoint, role_vars)
    assert second.changed == 0, second.output[-5000:]


def test_a_role_lambda_cannot_assume_yet_is_waited_for(local_aws, recorder, aws_client, tmp_path):
    """AWS's answer while a new role propagates (the local AWS creates it at once): CreateFunction is retried on it,
    and only on it."""
    recorder.answer(CREATE_FUNCTION, 400, UNASSUMABLE, headers={"x-amzn-ErrorType": UNASSUMABLE["__type"]}, times=2)
    role_vars = {
        "lambda_function_stack_name": STACK,
        "lambda_function_build_dir": str(tmp_path),
        "lambda_function__retry_delay": 1,  # the role's delay (10 s), shortened for the test
    }
    apply_role("lambda_function", recorder.endpoint, role_vars)
    assert [call.operation for call in recorder.calls].count(CREATE_FUNCTION) == 3
    assert aws_client("lambda").get_function(FunctionName=FUNCTION)["Configuration"]["Role"].endswith("-app-lambda")


def test_a_role_that_stays_unassumable_fails_with_what_to_do(local_aws, recorder, tmp_path):
    recorder.answer(CREATE_FUNCTION, 400, UNASSUMABLE, headers={"x-amzn-ErrorType": UNASSUMABLE["__type"]}, times=50)
    role_vars = {
        "lambda_function_stack_name": STACK,
        "lambda_function_build_dir": str(tmp_path),
        "lambda_function__retry_delay": 1,
        "lambda_function__role_retries": 2,
    }
    with pytest.raises(AssertionError) as failed:
        apply_role("lambda_function", recorder.endpoint, role_vars)
    assert "The role defined for the function cannot be assumed by Lambda." in str(failed.value)
    assert "run the play again in a minute" in str(failed.value)
    assert [call.operation for call in recorder.calls].count(CREATE_FUNCTION) == 3
    # Nothing of the function behind it: no target group, no reservation.
    assert not any(call.operation.startswith(("CreateTargetGroup", "PUT ")) for call in recorder.calls)


def test_another_create_error_is_not_retried(local_aws, recorder, tmp_path):
    denied = {
        "__type": "AccessDeniedException",
        "message": "User: x is not authorized to perform: lambda:CreateFunction",
    }
    recorder.answer(CREATE_FUNCTION, 403, denied, headers={"x-amzn-ErrorType": denied["__type"]}, times=50)
    role_vars = {"lambda_function_stack_name": STACK, "lambda_function_build_dir": str(tmp_path)}
    with pytest.raises(AssertionError) as failed:
        apply_role("lambda_function", recorder.endpoint, role_vars)
    assert "not authorized to perform: lambda:CreateFunction" in str(failed.value)
    assert [call.operation for call in recorder.calls].count(CREATE_FUNCTION) == 1
