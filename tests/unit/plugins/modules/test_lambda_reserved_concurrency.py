"""Unit tests of the logic of lambda_reserved_concurrency, with a fake Lambda client (no AWS)."""

from __future__ import annotations

import sys

import pytest
from botocore.exceptions import ClientError

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.modules import lambda_reserved_concurrency as lrc


class FakeLambda:
    """GetFunctionConcurrency / PutFunctionConcurrency / DeleteFunctionConcurrency of one stored value."""

    def __init__(self, reserved: int | None = None, exists: bool = True):
        self.reserved = reserved
        self.exists = exists
        self.writes: list[tuple] = []

    def _check(self, name: str) -> None:
        if not self.exists:
            error = {"Error": {"Code": "ResourceNotFoundException", "Message": f"Function not found: {name}"}}
            raise ClientError(error, "GetFunctionConcurrency")

    def get_function_concurrency(self, aws_retry: bool, FunctionName: str) -> dict:
        self._check(FunctionName)
        return {} if self.reserved is None else {"ReservedConcurrentExecutions": self.reserved}

    def put_function_concurrency(self, aws_retry: bool, FunctionName: str, ReservedConcurrentExecutions: int) -> dict:
        self.writes.append(("put", FunctionName, ReservedConcurrentExecutions))
        self.reserved = ReservedConcurrentExecutions
        return {"ReservedConcurrentExecutions": ReservedConcurrentExecutions}

    def delete_function_concurrency(self, aws_retry: bool, FunctionName: str) -> None:
        self.writes.append(("delete", FunctionName))
        self.reserved = None


def params(state: str = "present", reserved: int | None = 10) -> dict:
    return {"function_name": "app", "reserved_concurrency": reserved, "state": state}


@pytest.mark.parametrize(
    ("stored", "state", "wanted", "expected"),
    [
        (None, "present", 10, (True, None, 10)),
        (5, "present", 10, (True, 5, 10)),
        (10, "present", 10, (False, 10, 10)),
        (10, "present", 0, (True, 10, 0)),
        (0, "present", 0, (False, 0, 0)),
        (10, "absent", None, (True, 10, None)),
        (None, "absent", None, (False, None, None)),
    ],
)
def test_ensure_reports_before_and_after(stored, state, wanted, expected):
    client = FakeLambda(stored)
    assert lrc.ensure_reserved_concurrency(client, params(state, wanted), check_mode=False) == expected
    assert client.reserved == expected[2]
    assert bool(client.writes) == expected[0]


def test_writes_the_right_call():
    client = FakeLambda(5)
    lrc.ensure_reserved_concurrency(client, params("present", 7), check_mode=False)
    lrc.ensure_reserved_concurrency(client, params("absent", None), check_mode=False)
    assert client.writes == [("put", "app", 7), ("delete", "app")]


@pytest.mark.parametrize(("state", "wanted"), [("present", 3), ("absent", None)])
def test_check_mode_reports_the_change_and_writes_nothing(state, wanted):
    client = FakeLambda(8)
    assert lrc.ensure_reserved_concurrency(client, params(state, wanted), check_mode=True) == (True, 8, wanted)
    assert client.writes == []
    assert client.reserved == 8


def test_missing_function_fails_when_present_and_is_nothing_to_do_when_absent():
    client = FakeLambda(exists=False)
    refusal = r"^Lambda function app does not exist; create it before reserving its concurrency\.$"
    with pytest.raises(SpilloverError, match=refusal) as raised:
        lrc.ensure_reserved_concurrency(client, params("present", 1), check_mode=False)
    assert raised.value.exception is None, "a refusal, not an AWS failure"
    assert lrc.ensure_reserved_concurrency(client, params("absent", None), check_mode=False) == (False, None, None)
    assert client.writes == []


def test_other_errors_propagate():
    class Denied(FakeLambda):
        def get_function_concurrency(self, aws_retry: bool, FunctionName: str) -> dict:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetFunctionConcurrency")

    with pytest.raises(SpilloverError) as raised:
        lrc.ensure_reserved_concurrency(Denied(), params("absent", None), check_mode=False)
    assert raised.value.message == "Failed to read the reserved concurrency of app"
    assert isinstance(raised.value.exception, ClientError)
    assert raised.value.exception.response["Error"]["Code"] == "AccessDeniedException"


class QuotaLambda(FakeLambda):
    """As Lambda answers with an account quota: PutFunctionConcurrency refuses what would leave fewer than 100
    unreserved (InvalidParameterValueException), GetAccountSettings tells the quota and what is unreserved."""

    def __init__(self, limit: int, other_reserved: int, reserved: int | None = None):
        super().__init__(reserved)
        self.limit, self.other_reserved = limit, other_reserved

    def unreserved(self) -> int:
        return self.limit - self.other_reserved - (self.reserved or 0)

    def put_function_concurrency(self, aws_retry: bool, FunctionName: str, ReservedConcurrentExecutions: int) -> dict:
        if self.unreserved() + (self.reserved or 0) - ReservedConcurrentExecutions < 100:
            message = (
                "Specified ReservedConcurrentExecutions for function decreases account's "
                "UnreservedConcurrentExecution below its minimum value of [100]."
            )
            error = {"Error": {"Code": "InvalidParameterValueException", "Message": message}}
            raise ClientError(error, "PutFunctionConcurrency")
        return super().put_function_concurrency(aws_retry, FunctionName, ReservedConcurrentExecutions)

    def get_account_settings(self, aws_retry: bool) -> dict:
        return {
            "AccountLimit": {"ConcurrentExecutions": self.limit, "UnreservedConcurrentExecutions": self.unreserved()}
        }


def test_a_reservation_the_quota_cannot_take_is_refused_with_the_numbers_and_the_way_out():
    client = QuotaLambda(limit=10, other_reserved=0)  # a new account's quota
    with pytest.raises(SpilloverError) as raised:
        lrc.ensure_reserved_concurrency(client, params("present", 7), check_mode=False)
    message = raised.value.message
    assert "quota is 10 concurrent executions" in message and "10 of them unreserved" in message
    assert "would leave 3 unreserved" in message and "at least 100 unreserved" in message
    assert "L-B99A9384" in message and "--desired-value 107" in message
    assert raised.value.exception.response["Error"]["Code"] == "InvalidParameterValueException"
    assert client.writes == [] and client.reserved is None


def test_a_reservation_the_quota_can_take_is_made():
    client = QuotaLambda(limit=1000, other_reserved=890)
    assert lrc.ensure_reserved_concurrency(client, params("present", 10), check_mode=False) == (True, None, 10)
