# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """What spillover.lambda_ecs.alb_weighted_forward and alb_weighted_forward_info share: the options that select
    one forward action (a listener's default action or a rule's), and the result that describes it."""

    DOCUMENTATION = r"""
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
      - ARN of the listener rule whose action is used. Without it (and without O(priority)) the listener's
        default action is used.
      - The listener is derived from the rule's ARN; when O(listener_arn) or O(load_balancer) is also given they
        must name the same listener.
    type: str
  priority:
    description:
      - Priority (1 to 50000) of the listener rule whose action is used.
    type: int
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
  description: ARN of the rule, when the action is a rule's action (not the listener's default action).
  returned: when the action is a rule's action
  type: str
  sample: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/my-alb/50dc6c495c/f2f7dc8efc/9683b2d02a
action_type:
  description:
    - Type of the action that ends the chain, for example V(forward) or V(fixed-response); for another type than
      V(forward), RV(target_groups) is empty.
    - Always V(forward) after M(spillover.lambda_ecs.alb_weighted_forward) with
      O(spillover.lambda_ecs.alb_weighted_forward#module:state=present).
  returned: success
  type: str
  sample: forward
target_groups:
  description:
    - The target groups of the forward action, empty when the action is not a forward action.
    - After a change, the groups the action has now (in check mode, the groups it would have).
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
      sample: 25
    healthy_targets:
      description:
        - Number of healthy targets of the group. For a Lambda target group with health checks off, the number of
          registered functions.
      type: int
      sample: 2
stickiness_duration:
  description: Seconds of target group stickiness, 0 when off.
  returned: success
  type: int
  sample: 0
"""
