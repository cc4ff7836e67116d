# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: alb_access_logs_bucket
short_description: Name of the S3 bucket the alb role creates for a stack's load balancer access logs
version_added: 0.1.0
author: spillover.lambda_ecs contributors
description:
  - C(<stack name in lower case>-alb-logs-<account ID>), at most 54 characters for a stack name of 32. Bucket names
    are global across every AWS account, hence the account ID; lower case, since S3 refuses capitals.
  - The alb role creates the bucket by this name and the deployer policy grants its S3 actions on it, so both use this
    one filter.
options:
  _input:
    description: The stack name.
    type: str
    required: true
  account_id:
    description: The stack's 12-digit AWS account ID.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Name the stack's access logs bucket
  ansible.builtin.debug:
    msg: "{{ 'Shop' | spillover.lambda_ecs.alb_access_logs_bucket('123456789012') }}"  # shop-alb-logs-123456789012
"""

RETURN = r"""
_value:
  description: The bucket name.
  type: str
"""

import re

from ansible.errors import AnsibleFilterError


def alb_access_logs_bucket(stack_name, account_id):
    """The name of the access logs bucket the alb role creates for ``stack_name`` in ``account_id``."""
    if not re.fullmatch(r"[0-9]{12}", str(account_id)):
        raise AnsibleFilterError(f"alb_access_logs_bucket needs the 12-digit account ID, got {account_id!r}")
    return f"{str(stack_name).lower()}-alb-logs-{account_id}"


class FilterModule:
    """spillover.lambda_ecs filters."""

    def filters(self):
        return {"alb_access_logs_bucket": alb_access_logs_bucket}
