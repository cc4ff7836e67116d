"""Unit tests of lambda_concurrency_check's logic, with a fake Lambda client answering as Lambda does (no AWS)."""

from __future__ import annotations

import sys

import pytest
from botocore.exceptions import ClientError

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.modules import lambda_concurrency_check as check


class FakeLambda:
    """GetAccountSettings and GetFunctionConcurrency of an account whose functions reserve ``reserved``."""

    def __init__(self, limit: int, reserved: dict[str, int | None]):
        self.limit, self.reserved = limit, reserved
        self.calls: list[str] = []

    def get_account_settings(self, aws_retry):
        self.calls.append("GetAccountSettings")
        taken = sum(value or 0 for value in self.reserved.values())
        return {
            "AccountLimit": {"ConcurrentExecutions": self.limit, "UnreservedConcurrentExecutions": self.limit - taken}
        }

    def get_function_concurrency(self, aws_retry, FunctionName):
        self.calls.append(f"GetFunctionConcurrency {FunctionName}")
        if FunctionName not in self.reserved:
            error = {"Error": {"Code": "ResourceNotFoundException", "Message": f"Function not found: {FunctionName}"}}
            raise ClientError(error, "GetFunctionConcurrency")
        value = self.reserved[FunctionName]
        return {} if value is None else {"ReservedConcurrentExecutions": value}


def params(app: int = 10, scaler: int = 1) -> dict:
    return {
        "functions": [
            {"name": "demo-app", "reserved_concurrency": app},
            {"name": "demo-scaler", "reserved_concurrency": scaler},
        ],
        "minimum_unreserved": 100,
    }


def test_a_fresh_stack_in_a_roomy_account_fits():
    client = FakeLambda(1000, {"other": 50})
    assert check.check_plan(client, params()) == {
        "account_limit": 1000,
        "unreserved": 950,
        "unreserved_after": 939,
        "reservations": [{"name": "demo-app", "now": 0, "wanted": 10}, {"name": "demo-scaler", "now": 0, "wanted": 1}],
    }
    assert client.calls == [
        "GetAccountSettings",
        "GetFunctionConcurrency demo-app",
        "GetFunctionConcurrency demo-scaler",
    ]


def test_a_deployed_stack_is_not_counted_twice():
    # 111 - 100 reserved elsewhere: the stack's own 11 are already out of the unreserved pool.
    client = FakeLambda(211, {"other": 89, "demo-app": 10, "demo-scaler": 1})
    assert check.check_plan(client, params())["unreserved_after"] == 111


def test_a_new_accounts_quota_is_refused_with_the_numbers():
    client = FakeLambda(10, {})
    with pytest.raises(SpilloverError) as raised:
        check.check_plan(client, params())
    assert "quota is 10 concurrent executions" in raised.value.message
    assert "--desired-value 111" in raised.value.message
    assert raised.value.kwargs["unreserved_after"] == -1


def test_a_negative_reservation_is_refused_before_any_call():
    client = FakeLambda(1000, {})
    with pytest.raises(SpilloverError, match="0 or more"):
        check.check_plan(client, params(app=-1))
    assert client.calls == []
