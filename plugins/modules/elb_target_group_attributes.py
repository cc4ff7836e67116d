#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: elb_target_group_attributes
version_added: 0.1.0
short_description: Set attributes of an Elastic Load Balancing target group by their AWS keys
description:
  - Sets the given attributes of one existing ELBv2 target group with C(ModifyTargetGroupAttributes), by their AWS
    keys (for example C(lambda.multi_value_headers.enabled)), and leaves every other attribute as it is.
  - Meant for the attributes M(community.aws.elb_target_group) has no option for, above all
    C(lambda.multi_value_headers.enabled) of a Lambda target group.
  - Idempotent; a run that changes nothing makes no write call.
author:
  - spillover.lambda_ecs maintainers (@spillover)
options:
  target_group:
    description:
      - Name or ARN of the target group. It must exist.
    type: str
    required: true
    aliases: [name]
  attributes:
    description:
      - Attribute keys and values to set, as AWS names and returns them (values are strings; V(true) and V(false)
        are written in lower case).
      - See the AWS documentation of target group attributes for the keys of each target type.
    type: dict
    required: true
notes:
  - Check mode and diff mode are supported. The diff shows only the attributes named in O(attributes).
seealso:
  - module: community.aws.elb_target_group
  - name: Target group attributes
    description: The attributes of ALB target groups, by target type.
    link: https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Pass repeated headers and query parameters to the Lambda function as lists
  spillover.lambda_ecs.elb_target_group_attributes:
    target_group: my-app-lambda
    attributes:
      lambda.multi_value_headers.enabled: true
"""

RETURN = r"""
target_group_arn:
  description: ARN of the target group.
  returned: always
  type: str
  sample: arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/my-app-lambda/0123456789abcdef
attributes:
  description: Every attribute of the target group after the run (in check mode, as it would be), by AWS key.
  returned: always
  type: dict
  sample: {"lambda.multi_value_headers.enabled": "true"}
changed_attributes:
  description: Keys of the attributes the run changed (or would change in check mode).
  returned: always
  type: list
  elements: str
  sample: [lambda.multi_value_headers.enabled]
diff:
  description: The attributes named in O(attributes), before and after, in diff mode.
  returned: when diff mode is on
  type: dict
  sample:
    before: {"lambda.multi_value_headers.enabled": "false"}
    after: {"lambda.multi_value_headers.enabled": "true"}
"""

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import describe_target_groups
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.elb_attributes import ensure_attributes_of_arn
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.elb_attributes import run_attributes_module


def ensure_attributes(client, params, check_mode):
    """Set the attributes that differ; returns ``(arn, before, after, changed_keys)`` (all attributes)."""
    what = f"set the attributes of target group {params['target_group']}"
    missing = "Target group {missing} does not exist; create it first."
    arn = describe_target_groups(client, [params["target_group"]], missing)[0]["TargetGroupArn"]
    return (arn, *ensure_attributes_of_arn(client, "target_group", arn, params["attributes"], check_mode, what))


def main():
    run_attributes_module("target_group", ensure_attributes)


if __name__ == "__main__":
    main()
