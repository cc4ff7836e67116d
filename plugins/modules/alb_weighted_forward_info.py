#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: alb_weighted_forward_info
version_added: 0.1.0
short_description: Read the target group weights of one ALB forward action
description:
  - Returns the target groups and weights of one forward action of an Application Load Balancer listener (the
    listener's default action, or one rule's action), with the number of healthy targets of each group.
  - The result has the shape of M(spillover.lambda_ecs.alb_weighted_forward)'s result, so its target groups can be fed
    back to that module's O(spillover.lambda_ecs.alb_weighted_forward#module:target_groups).
  - Same as M(spillover.lambda_ecs.alb_weighted_forward) with
    O(spillover.lambda_ecs.alb_weighted_forward#module:state=query).
author:
  - spillover.lambda_ecs maintainers (@spillover)
seealso:
  - module: spillover.lambda_ecs.alb_weighted_forward
extends_documentation_fragment:
  - spillover.lambda_ecs.alb_forward
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Read the weights of the default action of the listener on port 80
  spillover.lambda_ecs.alb_weighted_forward_info:
    load_balancer: my-alb
    port: 80
  register: forward

- name: Show the share of the ECS target group
  ansible.builtin.debug:
    msg: "{{ forward.target_groups | selectattr('name', 'equalto', 'my-app-ecs') | map(attribute='weight') | first }}"

- name: Restore the weights read before
  spillover.lambda_ecs.alb_weighted_forward:
    listener_arn: "{{ forward.listener_arn }}"
    target_groups: "{{ forward.target_groups | ansible.utils.keep_keys(target=['arn', 'weight']) }}"
"""

RETURN = r"""
extends_documentation_fragment:
  - spillover.lambda_ecs.alb_forward
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.alb_forward import SELECTOR_OPTIONS
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.alb_forward import SELECTOR_RULES
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.alb_forward import query_weights
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_client
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run_info


def main():
    module = AnsibleAWSModule(argument_spec=dict(SELECTOR_OPTIONS), supports_check_mode=True, **SELECTOR_RULES)
    run_info(module, lambda: query_weights(aws_client(module, "elbv2"), module.params))


if __name__ == "__main__":
    main()
