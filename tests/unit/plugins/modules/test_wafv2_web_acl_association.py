"""Unit tests of wafv2_web_acl_association's logic, with a fake AWS WAF client answering as WAF does (no AWS)."""

from __future__ import annotations

import sys

import pytest
from botocore.exceptions import ClientError

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.modules import wafv2_web_acl_association as waf

LOAD_BALANCER = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shop/0123456789abcdef"
ACL = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/shop/a1b2c3d4-5678-90ab-cdef-000000000001"
OTHER_ACL = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/other/a1b2c3d4-5678-90ab-cdef-000000000002"


class FakeWaf:
    """GetWebACLForResource, AssociateWebACL (replacing any association) and DisassociateWebACL."""

    def __init__(self, associated=None, acls=(ACL, OTHER_ACL)):
        self.associations = {LOAD_BALANCER: associated} if associated else {}
        self.acls = set(acls)
        self.writes: list[tuple] = []

    def get_web_acl_for_resource(self, aws_retry, ResourceArn):
        acl = self.associations.get(ResourceArn)
        return {"WebACL": {"ARN": acl, "Name": acl.split("/")[-2]}} if acl else {}

    def associate_web_acl(self, aws_retry, WebACLArn, ResourceArn):
        self.writes.append(("associate", WebACLArn, ResourceArn))
        if WebACLArn not in self.acls:
            error = {"Code": "WAFNonexistentItemException", "Message": "AWS WAF couldn't perform the operation"}
            raise ClientError({"Error": error}, "AssociateWebACL")
        self.associations[ResourceArn] = WebACLArn
        return {}

    def disassociate_web_acl(self, aws_retry, ResourceArn):
        self.writes.append(("disassociate", ResourceArn))
        self.associations.pop(ResourceArn, None)
        return {}


def params(**changes):
    return {"resource_arn": LOAD_BALANCER, "web_acl_arn": ACL, "state": "present", **changes}


def test_check_mode_reports_the_association_and_writes_nothing_then_the_run_makes_it_once():
    client = FakeWaf()
    changed, result, diff = waf.ensure_association(client, params(), check_mode=True)
    assert (changed, result, client.writes) == (True, {"web_acl_arn": ACL}, [])
    assert diff == {"before": {"web_acl_arn": None}, "after": {"web_acl_arn": ACL}}
    assert waf.ensure_association(client, params(), check_mode=False)[0] is True
    assert client.writes == [("associate", ACL, LOAD_BALANCER)]
    assert waf.ensure_association(client, params(), check_mode=False)[0] is False
    assert len(client.writes) == 1


def test_another_web_acl_is_replaced():
    client = FakeWaf(associated=OTHER_ACL)
    changed, _result, diff = waf.ensure_association(client, params(), check_mode=False)
    assert changed and diff["before"] == {"web_acl_arn": OTHER_ACL}
    assert client.associations[LOAD_BALANCER] == ACL


def test_absent_removes_whatever_web_acl_is_associated_and_then_is_no_change():
    client = FakeWaf(associated=OTHER_ACL)
    assert waf.ensure_association(client, params(state="absent", web_acl_arn=None), check_mode=False)[0] is True
    assert client.writes == [("disassociate", LOAD_BALANCER)]
    assert waf.ensure_association(client, params(state="absent", web_acl_arn=None), check_mode=False)[0] is False


def test_a_web_acl_that_does_not_exist_is_named_in_the_error():
    missing = ACL.replace("shop/a1b2", "gone/a1b2")
    with pytest.raises(SpilloverError, match=f"web ACL {missing} does not exist"):
        waf.ensure_association(FakeWaf(), params(web_acl_arn=missing), check_mode=False)


@pytest.mark.parametrize(
    "web_acl_arn,message",
    [
        ("shop", "must be the ARN of an AWS WAF web ACL"),
        ("arn:aws:wafv2:eu-west-1:123456789012:regional/ipset/shop/a1b2", "must be the ARN of an AWS WAF web ACL"),
        ("arn:aws:wafv2:us-east-1:123456789012:global/webacl/shop/a1b2", "scope global: a load balancer takes only"),
        ("arn:aws:wafv2:us-east-1:123456789012:regional/webacl/shop/a1b2", "is in us-east-1, account 123456789012"),
        ("arn:aws:wafv2:eu-west-1:210987654321:regional/webacl/shop/a1b2", "is in eu-west-1, account 210987654321"),
    ],
)
def test_a_web_acl_the_load_balancer_cannot_take_is_refused_before_any_call(web_acl_arn, message):
    client = FakeWaf()
    with pytest.raises(SpilloverError, match=message):
        waf.ensure_association(client, params(web_acl_arn=web_acl_arn), check_mode=False)
    assert client.writes == []


def test_the_resource_must_be_a_load_balancer():
    problem = waf.web_acl_problem(ACL, "arn:aws:apigateway:eu-west-1::/restapis/a1/stages/prod")
    assert problem.startswith("resource_arn must be the ARN of an Application Load Balancer")
