"""Unit tests of ecs_capacity_providers_info's logic, with a fake ECS client answering as ECS does (no AWS)."""

from __future__ import annotations

import sys

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.modules import ecs_capacity_providers_info as info

ARN = "arn:aws:ecs:eu-west-1:123456789012:capacity-provider/"


class FakeEcs:
    def __init__(self, offered: dict[str, str]):
        self.offered = offered  # name -> status
        self.asked: list[list[str]] = []

    def describe_capacity_providers(self, aws_retry, capacityProviders):
        self.asked.append(capacityProviders)
        names = [reference.rsplit("/", 1)[-1] for reference in capacityProviders]  # a name or an ARN
        found = [
            {"capacityProviderArn": ARN + n, "name": n, "status": self.offered[n]} for n in names if n in self.offered
        ]
        failures = [{"arn": ARN + n, "reason": "MISSING"} for n in names if n not in self.offered]
        return {"capacityProviders": found, "failures": failures}


def test_a_region_with_fargate_and_fargate_spot_misses_nothing():
    ecs = FakeEcs({"FARGATE": "ACTIVE", "FARGATE_SPOT": "ACTIVE"})
    providers, missing = info.describe(ecs, ["FARGATE", "FARGATE_SPOT"])
    assert [p["name"] for p in providers] == ["FARGATE", "FARGATE_SPOT"] and missing == []
    assert ecs.asked == [["FARGATE", "FARGATE_SPOT"]]


def test_a_provider_the_region_lacks_or_has_not_active_is_missing():
    providers, missing = info.describe(
        FakeEcs({"FARGATE": "ACTIVE", "FARGATE_SPOT": "INACTIVE"}), ["FARGATE", "FARGATE_SPOT"]
    )
    assert [p["name"] for p in providers] == ["FARGATE"] and missing == ["FARGATE_SPOT"]
    assert info.describe(FakeEcs({}), ["FARGATE"]) == ([], ["FARGATE"])


def test_a_provider_named_by_arn_is_found():
    assert info.describe(FakeEcs({"FARGATE": "ACTIVE"}), [ARN + "FARGATE"])[1] == []
    assert info.describe(FakeEcs({}), [ARN + "FARGATE"])[1] == [ARN + "FARGATE"]
