"""Least privilege of the lambda_function role's IAM policies, checked with parliament.

The execution policy is rendered from the role's own template with the values the role passes it (the log group ARN
AWS returns, without its trailing ":*"); the trust policy is read from the role's vars. No AWS call is made.
"""

from __future__ import annotations

import json
import re

import pytest

from lab.collection import render_role_template, role_variables
from tests.support.iam_policies import findings, grants

pytestmark = pytest.mark.integration

ACCOUNT, REGION = "123456789012", "eu-west-1"


def log_group_arn(stack: str) -> str:
    """The ARN the role templates in: what CloudWatch Logs returns, minus ":*" (as tasks/role.yml strips it)."""
    returned = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{stack}-app:*"
    return re.sub(r":\*$", "", returned)


def render_execution_policy(stack: str) -> dict:
    variables = {"lambda_function__log_group_arn": log_group_arn(stack)}
    return json.loads(render_role_template("lambda_function", "execution_policy.json.j2", variables))


@pytest.mark.parametrize("stack", ["demo", "a-twenty-char-stack1"])
def test_execution_policy_has_no_parliament_finding(stack):
    assert findings(render_execution_policy(stack)) == []


def test_execution_policy_reaches_only_the_functions_own_log_group():
    granted = grants(render_execution_policy("demo"))
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/demo-app"
    assert granted == {
        "logs:CreateLogGroup": {group},
        "logs:CreateLogStream": {f"{group}:log-stream:*"},
        "logs:PutLogEvents": {f"{group}:log-stream:*"},
    }


def test_parliament_would_flag_a_broader_policy():
    # The check above can fail: the same actions on every resource, or on the group instead of its streams, are flagged.
    policy = render_execution_policy("demo")
    broad = json.loads(json.dumps(policy))
    for statement in broad["Statement"]:
        statement["Resource"] = "*"
    assert {issue for issue, _ in findings(broad)} == {"RESOURCE_STAR"}
    mismatched = json.loads(json.dumps(policy))
    mismatched["Statement"][1]["Resource"] = log_group_arn("demo")
    assert {issue for issue, _ in findings(mismatched)} == {"RESOURCE_MISMATCH"}


def test_trust_policy_lets_only_lambda_assume_the_role():
    [statement] = role_variables("lambda_function")["lambda_function__trust_policy"]["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
