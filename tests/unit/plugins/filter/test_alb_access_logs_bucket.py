"""spillover.lambda_ecs.alb_access_logs_bucket: the name of the access logs bucket the alb role creates."""

from __future__ import annotations

import re
import sys

import pytest

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible.errors import AnsibleFilterError
from ansible_collections.spillover.lambda_ecs.plugins.filter.alb_access_logs_bucket import (
    FilterModule,
    alb_access_logs_bucket,
)

# S3's rule for a general purpose bucket name.
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def test_the_name_is_the_stack_in_lower_case_and_the_account_a_valid_bucket_name_for_the_longest_stack():
    assert alb_access_logs_bucket("Shop-Prod", "000123456789") == "shop-prod-alb-logs-000123456789"
    longest = alb_access_logs_bucket("S" * 32, "000123456789")  # a load balancer name has at most 32 characters
    assert len(longest) == 54 and BUCKET_NAME.fullmatch(longest)


@pytest.mark.parametrize("account", ["", "12345", 123456789012.0, "arn:aws:iam::000123456789:root"])
def test_anything_but_an_account_id_is_refused(account):
    with pytest.raises(AnsibleFilterError, match="needs the 12-digit account ID"):
        alb_access_logs_bucket("shop", account)


def test_the_filter_is_registered():
    assert FilterModule().filters() == {"alb_access_logs_bucket": alb_access_logs_bucket}
