"""Unit tests of the logic of elb_load_balancer_attributes, with a fake ELBv2 client (no AWS)."""

from __future__ import annotations

import sys

import pytest
from botocore.exceptions import ClientError

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.modules import elb_load_balancer_attributes as lba

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop/0123456789abcdef"


class FakeElbv2:
    def __init__(self, attributes: dict[str, str], exists: bool = True):
        self.attributes = dict(attributes)
        self.exists = exists
        self.writes: list[list[dict]] = []

    def describe_load_balancers(self, aws_retry: bool, Names=None, LoadBalancerArns=None) -> dict:
        if not self.exists:
            raise ClientError({"Error": {"Code": "LoadBalancerNotFound", "Message": "nope"}}, "DescribeLoadBalancers")
        assert Names == ["shop"] or LoadBalancerArns == [ARN]
        return {"LoadBalancers": [{"LoadBalancerArn": ARN, "LoadBalancerName": "shop"}]}

    def describe_load_balancer_attributes(self, aws_retry: bool, LoadBalancerArn: str) -> dict:
        return {"Attributes": [{"Key": k, "Value": v} for k, v in self.attributes.items()]}

    def modify_load_balancer_attributes(self, aws_retry: bool, LoadBalancerArn: str, Attributes: list[dict]) -> None:
        self.writes.append(Attributes)
        self.attributes.update({a["Key"]: a["Value"] for a in Attributes})


IDLE = {"idle_timeout.timeout_seconds": 900}


@pytest.mark.parametrize("stored", [{"idle_timeout.timeout_seconds": "60"}, {}], ids=["aws-default", "key-missing"])
@pytest.mark.parametrize("load_balancer", ["shop", ARN])
def test_sets_only_what_differs_then_nothing(stored, load_balancer):
    client = FakeElbv2({**stored, "deletion_protection.enabled": "false"})
    params = {"load_balancer": load_balancer, "attributes": IDLE}
    arn, _before, after, changed = lba.ensure_attributes(client, params, check_mode=False)
    assert (arn, changed) == (ARN, ["idle_timeout.timeout_seconds"])
    assert client.writes == [[{"Key": "idle_timeout.timeout_seconds", "Value": "900"}]]
    assert after == {"idle_timeout.timeout_seconds": "900", "deletion_protection.enabled": "false"}
    assert lba.ensure_attributes(client, params, check_mode=False)[3] == [] and len(client.writes) == 1


def test_check_mode_predicts_and_writes_nothing():
    client = FakeElbv2({"idle_timeout.timeout_seconds": "60"})
    _, before, after, changed = lba.ensure_attributes(client, {"load_balancer": "shop", "attributes": IDLE}, True)
    assert changed == ["idle_timeout.timeout_seconds"] and client.writes == []
    assert (before["idle_timeout.timeout_seconds"], after["idle_timeout.timeout_seconds"]) == ("60", "900")


def test_a_missing_load_balancer_is_refused():
    with pytest.raises(SpilloverError, match="Load balancer shop does not exist; create it first"):
        lba.ensure_attributes(FakeElbv2({}, exists=False), {"load_balancer": "shop", "attributes": IDLE}, False)
