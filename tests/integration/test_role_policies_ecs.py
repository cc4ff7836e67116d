"""Least privilege of the ecs_service role's task execution policy, checked with parliament.

The policy is rendered from the role's own template with the values tasks/role.yml passes it (the log group ARN AWS
returns, without its trailing ":*", and the repository ARN in the same account and region). No AWS call is made.
"""

from __future__ import annotations

import json

import pytest

from lab.collection import render_role_template
from tests.support.iam_policies import findings, grants

pytestmark = pytest.mark.integration

ACCOUNT, REGION = "123456789012", "eu-west-1"


def render(stack: str) -> dict:
    variables = {
        "ecs_service__log_group_arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/{stack}-app",
        "ecs_service__repository_arn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{stack}-app",
    }
    return json.loads(render_role_template("ecs_service", "task_execution_policy.json.j2", variables))


@pytest.mark.parametrize("stack", ["demo", "a-twenty-char-stack1"])
def test_task_execution_policy_has_no_parliament_finding(stack):
    assert findings(render(stack)) == []


def test_task_execution_policy_reaches_only_its_repository_and_log_group():
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/demo-app"
    repository = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/demo-app"
    assert grants(render("demo")) == {
        "ecr:BatchGetImage": {repository},
        "ecr:GetDownloadUrlForLayer": {repository},
        # The only wildcard: GetAuthorizationToken has no resource-level permission (its Sid says so).
        "ecr:GetAuthorizationToken": {"*"},
        "logs:CreateLogStream": {f"{group}:log-stream:*"},
        "logs:PutLogEvents": {f"{group}:log-stream:*"},
    }
    [star] = [s for s in render("demo")["Statement"] if s["Resource"] == "*"]
    assert "NoResourceLevelPermission" in star["Sid"]


def test_parliament_would_flag_a_broader_policy():
    # The check above can fail: the pull actions on every repository are flagged.
    broad = render("demo")
    broad["Statement"][0]["Resource"] = "*"
    assert {issue for issue, _ in findings(broad)} == {"RESOURCE_STAR"}


def trust(account: str = ACCOUNT) -> dict:
    variables = {"ecs_service__account_id": account}
    return json.loads(render_role_template("ecs_service", "trust_policy.json.j2", variables))


def test_trust_policy_lets_only_ecs_tasks_of_the_stacks_account_assume_the_role():
    [statement] = trust()["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == (
        "Allow",
        {"Service": "ecs-tasks.amazonaws.com"},
        "sts:AssumeRole",
    )
    # The confused-deputy guard: a task of another account is refused. No aws:SourceArn: the execution role is
    # assumed by the Fargate agent, for which AWS documents no source ARN (roles/ecs_service/tasks/role.yml).
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
    }
    # An account ID with leading zeros stays a string.
    zeros = trust("000123456789")["Statement"][0]["Condition"]
    assert zeros == {
        "StringEquals": {"aws:SourceAccount": "000123456789"},
    }
