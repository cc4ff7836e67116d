"""Unit tests of iam_policy_simulation_info's logic, with fake STS and IAM clients answering as AWS does (no AWS)."""

from __future__ import annotations

import sys

from botocore.exceptions import ClientError

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.modules import iam_policy_simulation_info as sim

ROLE = "arn:aws:iam::123456789012:role/deploy/spillover-deploy"
SESSION = "arn:aws:sts::123456789012:assumed-role/spillover-deploy/s"  # the caller, as STS names an assumed role
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Reads", "Effect": "Allow", "Action": ["ec2:DescribeVpcs", "iam:ListRoles"], "Resource": "*"},
        {
            "Sid": "Pass",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": ["arn:aws:iam::123456789012:role/a", "arn:aws:iam::123456789012:role/b"],
            "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
        },
        {
            "Sid": "Tags",
            "Effect": "Allow",
            "Action": ["elasticloadbalancing:AddTags"],
            "Resource": ["arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/t/*"],
            "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["spillover:stack", "Name"]}},
        },
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*"},
    ],
}


class FakeSts:
    def __init__(self, arn):
        self.arn = arn

    def get_caller_identity(self, aws_retry):
        return {"Arn": self.arn, "Account": self.arn.split(":")[4]}


class Pages:
    def __init__(self, results):
        self.results = results

    def build_full_result(self):
        return {"EvaluationResults": self.results}


class FakeIam:
    """GetRole and SimulatePrincipalPolicy; ``denied`` are the (action, resource) pairs the principal may not make."""

    def __init__(self, denied=(), simulate_error=None, get_role_error=None):
        self.denied, self.simulate_error, self.get_role_error = set(denied), simulate_error, get_role_error
        self.requests: list[dict] = []

    def get_role(self, aws_retry, RoleName):
        if self.get_role_error:
            raise ClientError({"Error": {"Code": self.get_role_error, "Message": "no"}}, "GetRole")
        return {"Role": {"Arn": ROLE, "RoleName": RoleName}}

    def get_paginator(self, name):
        assert name == "simulate_principal_policy"
        return self

    def paginate(self, **request):
        self.requests.append(request)
        if self.simulate_error:
            raise ClientError({"Error": {"Code": self.simulate_error, "Message": "not authorized"}}, "Simulate")
        results = []
        for action in request["ActionNames"]:
            resources = request.get("ResourceArns")
            if not resources:
                decision = "implicitDeny" if (action, "*") in self.denied else "allowed"
                results.append({"EvalActionName": action, "EvalResourceName": "*", "EvalDecision": decision})
                continue
            specific = [
                {
                    "EvalResourceName": resource,
                    "EvalResourceDecision": "implicitDeny" if (action, resource) in self.denied else "allowed",
                }
                for resource in resources
            ]
            results.append({"EvalActionName": action, "EvalDecision": "allowed", "ResourceSpecificResults": specific})
        return Pages(results)


def check(iam, policy=POLICY, caller=SESSION):
    """The module's check of ``policy`` for the default principal, the caller ``caller``, with ``iam`` answering."""
    return sim.check(FakeSts(caller), iam, {"policy": policy, "principal_arn": None})


def test_every_allow_statement_is_simulated_with_its_conditions_as_context():
    iam = FakeIam()
    result = check(iam)
    assert result == {
        "principal_arn": ROLE,
        "account_id": "123456789012",
        "simulated": True,
        "evaluated": 5,
        "denied": [],
    }
    reads, passes, tags = iam.requests
    assert reads == {"PolicySourceArn": ROLE, "ActionNames": ["ec2:DescribeVpcs", "iam:ListRoles"]}
    assert passes["ContextEntries"] == [
        {
            "ContextKeyName": "iam:PassedToService",
            "ContextKeyValues": ["lambda.amazonaws.com"],
            "ContextKeyType": "string",
        }
    ]
    assert tags["ContextEntries"] == [
        {
            "ContextKeyName": "aws:TagKeys",
            "ContextKeyValues": ["spillover:stack", "Name"],
            "ContextKeyType": "stringList",
        }
    ]


def test_what_the_principal_may_not_do_is_listed_with_its_statement():
    iam = FakeIam(denied={("iam:PassRole", "arn:aws:iam::123456789012:role/b"), ("iam:ListRoles", "*")})
    result = check(iam)
    assert result["denied"] == [
        {"sid": "Reads", "action": "iam:ListRoles", "resource": "*", "decision": "implicitDeny"},
        {
            "sid": "Pass",
            "action": "iam:PassRole",
            "resource": "arn:aws:iam::123456789012:role/b",
            "decision": "implicitDeny",
        },
    ]


def test_without_a_policy_only_the_principal_is_found():
    iam = FakeIam()
    result = check(iam, policy=None)
    assert (result["principal_arn"], result["account_id"], result["evaluated"]) == (ROLE, "123456789012", 0)
    assert iam.requests == []


def test_a_principal_that_may_not_simulate_is_skipped_with_the_reason():
    result = check(FakeIam(simulate_error="AccessDenied"))
    assert result["simulated"] is False
    assert "may not call iam:SimulatePrincipalPolicy" in result["not_simulated_because"]


def test_a_role_it_may_not_read_is_simulated_by_the_arn_its_session_names():
    iam = FakeIam(get_role_error="AccessDenied")
    result = check(iam, policy=None)
    assert result["principal_arn"] == "arn:aws:iam::123456789012:role/spillover-deploy"


def test_the_root_user_is_not_simulated():
    result = check(FakeIam(), caller="arn:aws:iam::123456789012:root")
    assert result["simulated"] is False and "root" in result["not_simulated_because"]


def test_a_caller_the_simulator_cannot_take_is_not_simulated():
    result = check(FakeIam(), caller="arn:aws:sts::123456789012:federated-user/bob")
    assert result["simulated"] is False and "simulates IAM users and roles" in result["not_simulated_because"]
    user = check(FakeIam(), policy=None, caller="arn:aws:iam::123456789012:user/ci")
    assert user["principal_arn"] == "arn:aws:iam::123456789012:user/ci"


def test_a_null_condition_asks_for_the_keys_absence_or_presence():
    condition = {
        "StringEquals": {"aws:RequestTag/spillover:stack": "shop"},
        "Null": {"ec2:ResourceTag/spillover:stack": "true", "aws:TagKeys": "false"},
    }
    assert sim.context_entries(condition) == [
        {"ContextKeyName": "aws:RequestTag/spillover:stack", "ContextKeyValues": ["shop"], "ContextKeyType": "string"},
        {"ContextKeyName": "aws:TagKeys", "ContextKeyValues": ["present"], "ContextKeyType": "string"},
    ]
