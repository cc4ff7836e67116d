#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: alb_weighted_forward_info
version_added: 0.1.0
short_description: Read the target group weights of one ALB forward action
description:
  - Returns the target groups and weights of one forward action of an Application Load Balancer listener (the
    listener's default action, or one rule's action), with the number of healthy targets of each group.
  - The result has the shape of M(spillover.lambda_ecs.alb_weighted_forward)'s result, so its
    RV(target_groups) can be fed back to that module.
  - Same as M(spillover.lambda_ecs.alb_weighted_forward) with
    O(spillover.lambda_ecs.alb_weighted_forward#module:state=query).
author:
  - spillover.lambda_ecs maintainers (@spillover)
options:
  listener_arn:
    description:
      - ARN of the listener.
      - One of O(listener_arn), O(load_balancer) (with O(port)) or O(rule_arn) is required.
    type: str
  load_balancer:
    description:
      - Name or ARN of the load balancer; the listener is the one on O(port).
    type: str
  port:
    description:
      - Port of the listener of O(load_balancer).
    type: int
  rule_arn:
    description:
      - ARN of the listener rule whose action is read. Without it (and without O(priority)) the listener's default
        action is read.
    type: str
  priority:
    description:
      - Priority (1 to 50000) of the listener rule whose action is read.
    type: int
seealso:
  - module: spillover.lambda_ecs.alb_weighted_forward
extends_documentation_fragment:
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
listener_arn:
  description: ARN of the listener of the action.
  returned: success
  type: str
  sample: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/my-alb/50dc6c495c0c9188/f2f7dc8efc522ab2
load_balancer_arn:
  description: ARN of the load balancer of the listener.
  returned: success
  type: str
  sample: arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188
rule_arn:
  description: ARN of the rule, when the action is a rule's action.
  returned: when the action is a rule's action
  type: str
  sample: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/my-alb/50dc6c495c/f2f7dc8efc/9683b2d02a
action_type:
  description: Type of the action that ends the chain, for example V(forward) or V(fixed-response).
  returned: success
  type: str
  sample: forward
target_groups:
  description: The target groups of the forward action; empty when the action is not a forward action.
  returned: success
  type: list
  elements: dict
  contains:
    arn:
      description: ARN of the target group.
      type: str
      sample: arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/my-app-ecs/73e2d6bc24d8a067
    name:
      description: Name of the target group.
      type: str
      sample: my-app-ecs
    weight:
      description: Weight of the target group in the action.
      type: int
      sample: 0
    healthy_targets:
      description:
        - Number of healthy targets of the group. For a Lambda target group with health checks off, the number of
          registered functions.
      type: int
      sample: 1
stickiness_duration:
  description: Seconds of target group stickiness, 0 when off.
  returned: success
  type: int
  sample: 0
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.alb_forward import AlbForwardError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.alb_forward import query_weights


def main():
    argument_spec = dict(
        listener_arn=dict(type="str"),
        load_balancer=dict(type="str"),
        port=dict(type="int"),
        rule_arn=dict(type="str"),
        priority=dict(type="int"),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[("listener_arn", "load_balancer"), ("rule_arn", "priority")],
        required_one_of=[("listener_arn", "load_balancer", "rule_arn")],
        required_together=[("load_balancer", "port")],
    )
    client = module.client("elbv2", retry_decorator=AWSRetry.jittered_backoff())

    try:
        result = query_weights(client, module.params)
    except AlbForwardError as e:
        if e.exception:
            module.fail_json_aws(e.exception, msg=e.message, **e.kwargs)
        module.fail_json(msg=e.message, **e.kwargs)

    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
