"""Unit tests of iam_service_linked_role's logic, with a fake IAM client answering as IAM does (no AWS)."""

from __future__ import annotations

import sys

import pytest
from botocore.exceptions import ClientError

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.modules import iam_service_linked_role as slr

ECS = "ecs.amazonaws.com"
ROLE = {
    "RoleName": "AWSServiceRoleForECS",
    "Path": f"/aws-service-role/{ECS}/",
    "Arn": f"arn:aws:iam::123456789012:role/aws-service-role/{ECS}/AWSServiceRoleForECS",
}


class Paginator:
    def __init__(self, iam):
        self.iam = iam

    def paginate(self, PathPrefix):
        self.iam.listed.append(PathPrefix)
        roles = [role for role in self.iam.roles if role["Path"].startswith(PathPrefix)]
        return type("Pages", (), {"build_full_result": lambda _self: {"Roles": roles}})()


class FakeIam:
    """ListRoles under a path and CreateServiceLinkedRole; ``create_error`` is IAM's answer to the create."""

    def __init__(self, roles=(), create_error=None, created_meanwhile=False):
        self.roles = list(roles)
        self.create_error = create_error
        self.created_meanwhile = created_meanwhile
        self.listed: list[str] = []
        self.created: list[dict] = []

    def get_paginator(self, name):
        assert name == "list_roles"
        return Paginator(self)

    def create_service_linked_role(self, aws_retry, **request):
        self.created.append(request)
        if self.created_meanwhile:
            self.roles.append(ROLE)
        if self.create_error:
            code, message = self.create_error
            raise ClientError({"Error": {"Code": code, "Message": message}}, "CreateServiceLinkedRole")
        self.roles.append(ROLE)
        return {"Role": ROLE}


def params(**changes):
    return {"aws_service_name": ECS, "description": None, **changes}


def test_an_existing_role_is_no_change_and_no_write():
    iam = FakeIam([ROLE])
    assert slr.ensure_role(iam, params(), check_mode=False) == (
        False,
        {"role_name": "AWSServiceRoleForECS", "arn": ROLE["Arn"], "created": False},
    )
    assert iam.created == [] and iam.listed == [f"/aws-service-role/{ECS}/"]


def test_a_missing_role_is_created_once():
    iam = FakeIam()
    changed, result = slr.ensure_role(iam, params(description="ECS of the spillover stacks"), check_mode=False)
    assert (changed, result["created"], result["arn"]) == (True, True, ROLE["Arn"])
    assert iam.created == [{"AWSServiceName": ECS, "Description": "ECS of the spillover stacks"}]
    assert slr.ensure_role(iam, params(), check_mode=False)[0] is False
    assert len(iam.created) == 1


def test_check_mode_reports_the_creation_and_writes_nothing():
    iam = FakeIam()
    assert slr.ensure_role(iam, params(), check_mode=True) == (True, {"role_name": None, "arn": None, "created": True})
    assert iam.created == []


@pytest.mark.parametrize(
    "answer",
    [
        (
            "InvalidInput",
            "Service role name AWSServiceRoleForECS has been taken in this account, please try a different suffix.",
        ),
        ("EntityAlreadyExists", "Role with name AWSServiceRoleForecs already exists."),  # the local AWS (moto)
    ],
)
def test_a_role_created_meanwhile_by_another_caller_is_no_change(answer):
    iam = FakeIam(create_error=answer, created_meanwhile=True)
    changed, result = slr.ensure_role(iam, params(), check_mode=False)
    assert (changed, result["arn"]) == (False, ROLE["Arn"])


def test_a_principal_that_may_not_create_it_is_told_what_to_grant():
    iam = FakeIam(create_error=("AccessDenied", "User: x is not authorized to perform: iam:CreateServiceLinkedRole"))
    with pytest.raises(SpilloverError) as caught:
        slr.ensure_role(iam, params(), check_mode=False)
    assert "iam:CreateServiceLinkedRole" in caught.value.message
    assert "aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com" in caught.value.message


def test_another_invalid_input_is_an_aws_failure():
    iam = FakeIam(create_error=("InvalidInput", "Description is too long"))
    with pytest.raises(SpilloverError, match=r"Failed to create the service-linked role of ecs\.amazonaws\.com"):
        slr.ensure_role(iam, params(), check_mode=False)


def test_a_service_that_is_not_a_principal_is_refused_before_any_call():
    iam = FakeIam()
    with pytest.raises(SpilloverError, match="service principal"):
        slr.ensure_role(iam, params(aws_service_name="ecs"), check_mode=False)
    assert iam.listed == []
