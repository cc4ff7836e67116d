#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: elb_load_balancer_attributes
version_added: 0.1.0
short_description: Set attributes of an Elastic Load Balancing load balancer by their AWS keys
description:
  - Sets the given attributes of one existing ELBv2 load balancer with C(ModifyLoadBalancerAttributes), by their AWS
    keys (for example C(idle_timeout.timeout_seconds)), and leaves every other attribute as it is.
  - M(amazon.aws.elb_application_lb) has options for some of these, but reads each one it is given from
    C(DescribeLoadBalancerAttributes) and fails when the answer lacks it (the local AWS, moto, leaves
    C(idle_timeout.timeout_seconds) out until it is set); this module takes a missing key as one to set.
  - Idempotent; a run that changes nothing makes no write call.
author:
  - spillover.lambda_ecs maintainers (@spillover)
options:
  load_balancer:
    description:
      - Name or ARN of the load balancer. It must exist.
    type: str
    required: true
    aliases: [name]
  attributes:
    description:
      - Attribute keys and values to set, as AWS names and returns them (values are strings; V(true) and V(false)
        are written in lower case).
    type: dict
    required: true
notes:
  - Check mode and diff mode are supported. The diff shows only the attributes named in O(attributes).
seealso:
  - module: amazon.aws.elb_application_lb
  - module: spillover.lambda_ecs.elb_target_group_attributes
  - name: Load balancer attributes
    description: The attributes of an Application Load Balancer.
    link: https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-load-balancer-attributes.html
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Let responses stay silent up to 15 minutes before the load balancer answers 504
  spillover.lambda_ecs.elb_load_balancer_attributes:
    load_balancer: my-app
    attributes:
      idle_timeout.timeout_seconds: 900
"""

RETURN = r"""
load_balancer_arn:
  description: ARN of the load balancer.
  returned: always
  type: str
  sample: arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/my-app/0123456789abcdef
attributes:
  description: Every attribute of the load balancer after the run (in check mode, as it would be), by AWS key.
  returned: always
  type: dict
  sample: {"idle_timeout.timeout_seconds": "900", "deletion_protection.enabled": "false"}
changed_attributes:
  description: Keys of the attributes the run changed (or would change in check mode).
  returned: always
  type: list
  elements: str
  sample: [idle_timeout.timeout_seconds]
diff:
  description: The attributes named in O(attributes), before and after, in diff mode.
  returned: when diff mode is on
  type: dict
  sample:
    before: {"idle_timeout.timeout_seconds": "60"}
    after: {"idle_timeout.timeout_seconds": "900"}
"""

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_call
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import is_arn
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.elb_attributes import ensure_attributes_of_arn
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.elb_attributes import run_attributes_module


def load_balancer_arn(client, load_balancer, what):
    """The ARN of the load balancer named by name or ARN; refused when it does not exist."""
    by = {"LoadBalancerArns": [load_balancer]} if is_arn(load_balancer) else {"Names": [load_balancer]}
    missing = {"LoadBalancerNotFound": f"Load balancer {load_balancer} does not exist; create it first."}
    found = aws_call(what, lambda: client.describe_load_balancers(aws_retry=True, **by), missing)["LoadBalancers"]
    return found[0]["LoadBalancerArn"]


def ensure_attributes(client, params, check_mode):
    """Set the attributes that differ; returns ``(arn, before, after, changed_keys)`` (all attributes)."""
    what = f"set the attributes of load balancer {params['load_balancer']}"
    arn = load_balancer_arn(client, params["load_balancer"], what)
    return (arn, *ensure_attributes_of_arn(client, "load_balancer", arn, params["attributes"], check_mode, what))


def main():
    run_attributes_module("load_balancer", ensure_attributes)


if __name__ == "__main__":
    main()
