#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: alb_weighted_forward
version_added: 0.1.0
short_description: Set the target group weights of one ALB forward action, safely
description:
  - Owns exactly the weights of one forward action of an Application Load Balancer (ALB) listener, that is
    the listener's default action or the action of one listener rule.
  - The forward action is set to exactly the target groups listed in O(target_groups), with their weights.
    A group of the action that is not listed is removed from it; to keep a group health-checked without
    traffic, list it with weight V(0).
  - Everything else is left as it is, for example the listener's certificates, protocol and other rules,
    the rule's conditions and priority, and any authenticate action before the forward action.
  - Idempotent; the weights are compared per group (order does not matter) and stickiness that AWS reports
    as disabled is the same as O(stickiness_duration=0). A run that changes nothing makes no write call.
  - Refuses, with nothing written, to give a positive weight to a target group without a healthy target
    (see O(require_healthy)), to use a target group of another VPC, or to replace an action that is not a forward
    action unless O(convert=true).
  - After a change it reads the action back until the load balancer reports the weights asked (see O(verify)).
  - With O(state=query) it only returns the current weights; M(spillover.lambda_ecs.alb_weighted_forward_info)
    does the same.
author:
  - spillover.lambda_ecs maintainers (@spillover)
options:
  state:
    description:
      - V(present) makes the action forward with the weights of O(target_groups).
      - V(query) changes nothing and returns the current weights of the action.
    type: str
    choices: [present, query]
    default: present
  target_groups:
    description:
      - The target groups of the forward action and their weights, 1 to 5 entries. Required with O(state=present).
      - Each entry names its group by O(target_groups[].name) or by O(target_groups[].arn).
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - Name of the target group.
        type: str
      arn:
        description:
          - ARN of the target group.
        type: str
      weight:
        description:
          - Weight, 0 to 999. Traffic is split in proportion to the weights.
        type: int
        required: true
  stickiness_duration:
    description:
      - Seconds (1 to 604800) during which a client stays on the target group it was sent to.
      - V(0) turns target group stickiness off.
    type: int
    default: 0
  require_healthy:
    description:
      - Refuse a change that gives a positive weight to a target group without a healthy target, because the ALB
        answers HTTP 503 for a group with no registered target. The refusal names the group and the states of its
        targets, and nothing is written.
      - A target counts as healthy when its state is C(healthy). A Lambda target group with health checks off counts
        every registered function (AWS reports it C(unavailable) with the reason C(Target.HealthCheckDisabled)).
      - AWS health-checks a target group only while a listener uses it (its targets are C(unused) before), so add a
        new group with weight V(0) first and give it weight once its targets are healthy.
      - A run that changes nothing is not refused; it warns instead.
    type: bool
    default: true
  verify:
    description:
      - After a change, read the action back and fail if the load balancer does not report the weights asked.
        The read is retried for up to 7.5 seconds, as the API is eventually consistent.
    type: bool
    default: true
  allow_all_zero:
    description:
      - Allow every weight to be V(0) (the action then forwards no request).
    type: bool
    default: false
  convert:
    description:
      - Replace a non-forward action (for example a fixed response or a redirect) with the forward action.
        Without it such an action is refused.
    type: bool
    default: false
notes:
  - Check mode and diff mode are supported. The diff shows the weights by target group name.
  - An ALB forward action takes at most 5 target groups, and a Lambda target group holds one function.
  - A target group is health-checked only while a listener rule uses it, so keep a standby group in the action with
    weight V(0) before shifting traffic to it.
seealso:
  - module: spillover.lambda_ecs.alb_weighted_forward_info
  - module: amazon.aws.elb_application_lb
extends_documentation_fragment:
  - spillover.lambda_ecs.alb_forward
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Send all traffic to the Lambda target group, keep the ECS group checked at weight 0
  spillover.lambda_ecs.alb_weighted_forward:
    load_balancer: my-alb
    port: 80
    target_groups:
      - name: my-app-lambda
        weight: 100
      - name: my-app-ecs
        weight: 0

- name: Set the weights of the rule with priority 10, by target group ARN, with 60 s stickiness
  spillover.lambda_ecs.alb_weighted_forward:
    listener_arn: "{{ listener_arn }}"
    priority: 10
    target_groups:
      - arn: "{{ lambda_target_group_arn }}"
        weight: 1
      - arn: "{{ ecs_target_group_arn }}"
        weight: 1
    stickiness_duration: 60

- name: Read the current weights without changing them
  spillover.lambda_ecs.alb_weighted_forward:
    listener_arn: "{{ listener_arn }}"
    state: query
  register: weights

# A stepped shift of traffic from Lambda to ECS (25 -> 50 -> 100 % to ECS), and back.
# Each step gives the ECS group time to take its share before the next one; the module refuses a
# step (and changes nothing) while the ECS group has no healthy target.
- name: Shift traffic to ECS in steps and back
  hosts: localhost
  gather_facts: false
  vars:
    shift_listener_arn: "{{ listener_arn }}"
    shift_pause: 60
  tasks:
    - name: Move traffic to ECS step by step, then back to Lambda (the ECS share of each step)
      spillover.lambda_ecs.alb_weighted_forward:
        listener_arn: "{{ shift_listener_arn }}"
        target_groups:
          - name: my-app-lambda
            weight: "{{ 100 - item }}"
          - name: my-app-ecs
            weight: "{{ item }}"
      loop: [25, 50, 100, 50, 25, 0]
      loop_control:
        pause: "{{ shift_pause }}"

- name: Replace a maintenance fixed response with a weighted forward
  spillover.lambda_ecs.alb_weighted_forward:
    load_balancer: my-alb
    port: 443
    convert: true
    target_groups:
      - name: my-app-lambda
        weight: 1
"""

RETURN = r"""
extends_documentation_fragment:
  - spillover.lambda_ecs.alb_forward
diff:
  description: Weights by target group name, stickiness and action type before and after, in diff mode.
  returned: when diff mode is on and O(state=present)
  type: dict
  sample:
    before:
      action_type: forward
      weights: {my-app-lambda: 100, my-app-ecs: 0}
      stickiness_duration: 0
    after:
      action_type: forward
      weights: {my-app-lambda: 75, my-app-ecs: 25}
      stickiness_duration: 0
target_health:
  description: On a refusal by O(require_healthy), the target states of each group refused, by group name.
  returned: when the module refuses a change because a group has no healthy target
  type: dict
  sample:
    my-app-ecs:
      - id: 10.0.1.25
        port: 8080
        state: unhealthy
        reason: Target.FailedHealthChecks
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.alb_forward import SELECTOR_OPTIONS
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.alb_forward import SELECTOR_RULES
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.alb_forward import apply_weights
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.alb_forward import query_weights
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_client
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run_info


def main():
    argument_spec = dict(
        SELECTOR_OPTIONS,
        state=dict(type="str", choices=["present", "query"], default="present"),
        target_groups=dict(
            type="list",
            elements="dict",
            options=dict(
                name=dict(type="str"),
                arn=dict(type="str"),
                weight=dict(type="int", required=True),
            ),
            mutually_exclusive=[("name", "arn")],
            required_one_of=[("name", "arn")],
        ),
        stickiness_duration=dict(type="int", default=0),
        require_healthy=dict(type="bool", default=True),
        verify=dict(type="bool", default=True),
        allow_all_zero=dict(type="bool", default=False),
        convert=dict(type="bool", default=False),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[("state", "present", ["target_groups"])],
        **SELECTOR_RULES,
    )
    client = aws_client(module, "elbv2")
    if module.params["state"] == "query":
        run_info(module, lambda: query_weights(client, module.params))
    else:
        run(module, lambda: apply_weights(client, module.params, module.check_mode))


if __name__ == "__main__":
    main()
