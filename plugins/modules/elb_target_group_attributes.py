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

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_call
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_client
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import describe_target_groups
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.elb_attributes import as_dict
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.elb_attributes import (
    ensure_attributes as ensure_attributes_of,
)


def ensure_attributes(client, params, check_mode):
    """Set the attributes that differ; returns ``(arn, before, after, changed_keys)`` (all attributes)."""
    what = f"set the attributes of target group {params['target_group']}"
    missing = "Target group {missing} does not exist; create it first."
    arn = describe_target_groups(client, [params["target_group"]], missing)[0]["TargetGroupArn"]

    def read():
        return as_dict(
            aws_call(what, lambda: client.describe_target_group_attributes(aws_retry=True, TargetGroupArn=arn))
        )

    def modify(attributes):
        aws_call(
            what,
            lambda: client.modify_target_group_attributes(aws_retry=True, TargetGroupArn=arn, Attributes=attributes),
        )

    return (arn, *ensure_attributes_of(read, modify, params["attributes"], check_mode))


def main():
    argument_spec = dict(
        target_group=dict(type="str", required=True, aliases=["name"]),
        attributes=dict(type="dict", required=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)

    def work():
        arn, before, after, changed_keys = ensure_attributes(
            aws_client(module, "elbv2"), module.params, module.check_mode
        )
        keys = sorted(module.params["attributes"])
        diff = dict(before={key: before.get(key) for key in keys}, after={key: after.get(key) for key in keys})
        result = dict(target_group_arn=arn, attributes=after, changed_attributes=changed_keys)
        return bool(changed_keys), result, diff

    run(module, work)


if __name__ == "__main__":
    main()
