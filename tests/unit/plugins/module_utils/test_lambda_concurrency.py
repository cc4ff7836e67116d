"""The plan of reserved concurrency against the account's Lambda quota (pure; no AWS)."""

from __future__ import annotations

import sys

import pytest

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_concurrency import plan


def test_a_plan_that_leaves_100_unreserved_fits():
    assert plan(1000, 1000, [("app", 0, 10), ("scaler", 0, 1)]) == (989, None)
    assert plan(1000, 111, [("app", 0, 10), ("scaler", 0, 1)]) == (100, None)


def test_what_the_functions_already_reserve_is_not_counted_twice():
    # A re-run: app already reserves 10 (counted out of the unreserved pool), the scaler 1.
    assert plan(1000, 100, [("app", 10, 10), ("scaler", 1, 1)]) == (100, None)
    # Raising app from 10 to 20 needs 10 more.
    assert plan(1000, 105, [("app", 10, 20)])[0] == 95


@pytest.mark.parametrize(
    ("limit", "unreserved", "after", "needed"),
    [(10, 10, -1, 111), (1000, 105, 94, 1006)],
)
def test_a_plan_that_leaves_less_is_refused_with_the_numbers(limit, unreserved, after, needed):
    left, refusal = plan(limit, unreserved, [("demo-app", 0, 10), ("demo-scaler", 0, 1)])
    assert left == after
    assert f"quota is {limit} concurrent executions" in refusal
    assert f"{unreserved} of them unreserved" in refusal
    assert "reserving 11 more (demo-app 0 -> 10, demo-scaler 0 -> 1)" in refusal
    assert f"would leave {after} unreserved" in refusal
    assert f"--desired-value {needed}" in refusal and "'Concurrent executions'" in refusal
