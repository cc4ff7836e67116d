#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: alb_path_rules
version_added: 0.1.0
short_description: Listener rules that always forward some URL paths to one target group
description:
  - Owns the rules of one ALB listener that forward a single path pattern to O(target_group_arn), for example the
    routes of an app that only its ECS tasks can serve (a response over Lambda's 1 MB, a job longer than the
    function's timeout), whatever the weights of the listener's default action.
  - Each pattern of O(paths) becomes one rule (condition C(path-pattern), action C(forward)), in list order from
    priority O(first_priority) on (the first rule that matches a request wins). Rules of the listener that forward
    one path pattern to that group and are not in O(paths) are deleted; other rules and the default action are
    never touched, so M(spillover.lambda_ecs.alb_weighted_forward) and the scaler keep moving only the default
    action's weights.
  - Refuses, before any write, a pattern ALB would not take (1 to 128 letters, digits and C(_-.$/~"'@:+&), with
    C(*) and C(?) wildcards), a pattern given twice, and a priority another rule holds.
  - Check mode and diff mode work; a re-run makes no write call.
author:
  - spillover.lambda_ecs maintainers (@spillover)
options:
  listener_arn:
    description:
      - ARN of the listener. One of O(listener_arn) or O(load_balancer) (with O(port)) is required.
    type: str
  load_balancer:
    description: Name or ARN of the load balancer; the listener is the one on O(port).
    type: str
  port:
    description: Port of the listener of O(load_balancer).
    type: int
  target_group_arn:
    description: ARN of the target group the paths are forwarded to.
    type: str
    required: true
  paths:
    description:
      - ALB path patterns, for example V(/report) or V(/exports/*). Matching is case-sensitive and on the path only
        (not the query string).
      - An empty list (or O(state=absent)) deletes the rules the module owns on the listener.
    type: list
    elements: str
    default: []
  first_priority:
    description: Priority of the first pattern's rule (1 to 50000); the next patterns take the next priorities.
    type: int
    default: 1
  state:
    description: V(present) makes the rules match O(paths); V(absent) deletes them.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Serve the report and the exports from ECS only, whatever the weights
  spillover.lambda_ecs.alb_path_rules:
    load_balancer: my-alb
    port: 80
    target_group_arn: "{{ ecs_target_group_arn }}"
    paths:
      - /report
      - /exports/*

- name: Remove them
  spillover.lambda_ecs.alb_path_rules:
    load_balancer: my-alb
    port: 80
    target_group_arn: "{{ ecs_target_group_arn }}"
    state: absent
"""

RETURN = r"""
listener_arn:
  description: ARN of the listener.
  returned: success
  type: str
  sample: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/my-alb/50dc6c495c0c9188/f2f7dc8efc522ab2
rules:
  description: The rules the module owns now (in check mode, the rules it would own), by priority.
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: The path pattern.
      type: str
      sample: /report
    priority:
      description: The rule's priority.
      type: int
      sample: 1
    rule_arn:
      description: ARN of the rule; empty for a rule check mode would create.
      type: str
      sample: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/my-alb/50dc6c49/f2f7dc8e/9683b2d0
"""

import re

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.alb_forward import MAX_PRIORITY
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.alb_forward import describe_all
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.alb_forward import select_action
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_call
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_client
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.forward_action import read_forward

# ALB's path-pattern condition (Elastic Load Balancing docs: listener rule conditions, path conditions).
PATTERN = re.compile(r"^[A-Za-z0-9_\-.$/~\"'@:+&*?]{1,128}$")


def validate_paths(paths, first_priority):
    problems = [f"{path!r}" for path in paths if not PATTERN.match(path)]
    if problems:
        raise SpilloverError(
            "ALB does not take the path patterns {}: 1 to 128 characters of A-Z a-z 0-9 _ - . $ / ~ \" ' @ : + &, "
            "with * (any characters) and ? (one character)".format(", ".join(problems))
        )
    repeated = sorted({path for path in paths if paths.count(path) > 1})
    if repeated:
        raise SpilloverError(f"the path patterns {', '.join(repeated)} are given more than once")
    if paths and not 1 <= first_priority <= MAX_PRIORITY - len(paths) + 1:
        raise SpilloverError(f"first_priority must leave room for {len(paths)} rules within 1 to {MAX_PRIORITY}")


def path_of(rule, target_group_arn):
    """The pattern of a rule that forwards one path pattern to ``target_group_arn`` only, else None."""
    conditions = rule.get("Conditions") or []
    if rule.get("IsDefault") or len(conditions) != 1 or conditions[0].get("Field") != "path-pattern":
        return None
    values = (conditions[0].get("PathPatternConfig") or {}).get("Values") or conditions[0].get("Values") or []
    forward = read_forward(rule.get("Actions") or [])
    if len(values) != 1 or not forward or list(forward["weights"]) != [target_group_arn]:
        return None
    return values[0]


def plan(rules, paths, first_priority, target_group_arn):
    """``(delete, reprioritize, create)``: rule ARNs, ``{rule_arn: priority}`` and ``[(priority, path)]``."""
    owned, duplicates, held = {}, [], {}
    for rule in rules:
        path = path_of(rule, target_group_arn)
        if path is None:
            if not rule.get("IsDefault"):
                held[int(rule["Priority"])] = rule["RuleArn"]
        elif path in owned:
            duplicates.append(rule["RuleArn"])
        else:
            owned[path] = rule
    wanted = {path: first_priority + index for index, path in enumerate(paths)}
    taken = sorted(priority for priority in wanted.values() if priority in held)
    if taken:
        raise SpilloverError(
            f"priorities {', '.join(map(str, taken))} are held by other rules of the listener; choose another "
            "first_priority"
        )
    delete = [rule["RuleArn"] for path, rule in owned.items() if path not in wanted] + duplicates
    reprioritize = {
        owned[path]["RuleArn"]: priority
        for path, priority in wanted.items()
        if path in owned and int(owned[path]["Priority"]) != priority
    }
    create = [(priority, path) for path, priority in wanted.items() if path not in owned]
    return delete, reprioritize, create


def owned_rules(rules, target_group_arn):
    found = [
        {"path": path_of(rule, target_group_arn), "priority": int(rule["Priority"]), "rule_arn": rule["RuleArn"]}
        for rule in rules
        if path_of(rule, target_group_arn) is not None
    ]
    return sorted(found, key=lambda item: item["priority"])


def ensure_rules(client, params, check_mode):
    """Make the listener's owned rules match ``paths``; returns ``(changed, result, diff)``."""
    paths = params["paths"] if params["state"] == "present" else []
    validate_paths(paths, params["first_priority"])
    listener_arn = select_action(client, {**params, "rule_arn": None, "priority": None}).listener_arn
    target_group = params["target_group_arn"]

    def read():
        return aws_call(
            "list the listener's rules",
            lambda: describe_all(client, "describe_rules", "Rules", ListenerArn=listener_arn),
        )

    rules = read()
    before = owned_rules(rules, target_group)
    delete, reprioritize, create = plan(rules, paths, params["first_priority"], target_group)
    changed = bool(delete or reprioritize or create)
    if changed and not check_mode:
        for rule_arn in delete:
            aws_call("delete a rule", lambda arn=rule_arn: client.delete_rule(aws_retry=True, RuleArn=arn))
        if reprioritize:
            # Through free priorities first: a swap within one SetRulePriorities call is refused as PriorityInUse
            # by the local AWS, and two steps are safe wherever the service checks each priority in turn.
            used = {int(rule["Priority"]) for rule in rules if not rule.get("IsDefault")}
            spare = [priority for priority in range(MAX_PRIORITY, 0, -1) if priority not in used][: len(reprioritize)]
            for step in (dict(zip(reprioritize, spare)), reprioritize):
                aws_call(
                    "reorder the rules",
                    lambda step=step: client.set_rule_priorities(
                        aws_retry=True,
                        RulePriorities=[{"RuleArn": arn, "Priority": priority} for arn, priority in step.items()],
                    ),
                )
        for priority, path in create:
            aws_call(
                f"create the rule for {path}",
                lambda priority=priority, path=path: client.create_rule(
                    aws_retry=True,
                    ListenerArn=listener_arn,
                    Priority=priority,
                    Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": [path]}}],
                    Actions=[{"Type": "forward", "TargetGroupArn": target_group}],
                ),
            )
        after = owned_rules(read(), target_group)
    else:
        kept = [item for item in before if item["rule_arn"] not in delete]
        after = sorted(
            [{**item, "priority": reprioritize.get(item["rule_arn"], item["priority"])} for item in kept]
            + [{"path": path, "priority": priority, "rule_arn": ""} for priority, path in create],
            key=lambda item: item["priority"],
        )
    view = [{"path": item["path"], "priority": item["priority"]} for item in after]
    diff = {
        "before": {"rules": [{"path": i["path"], "priority": i["priority"]} for i in before]},
        "after": {"rules": view},
    }
    return changed, {"listener_arn": listener_arn, "rules": after}, diff


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            listener_arn=dict(type="str"),
            load_balancer=dict(type="str"),
            port=dict(type="int"),
            target_group_arn=dict(type="str", required=True),
            paths=dict(type="list", elements="str", default=[]),
            first_priority=dict(type="int", default=1),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        mutually_exclusive=[("listener_arn", "load_balancer")],
        required_one_of=[("listener_arn", "load_balancer")],
        required_together=[("load_balancer", "port")],
        supports_check_mode=True,
    )
    run(module, lambda: ensure_rules(aws_client(module, "elbv2"), module.params, module.check_mode))


if __name__ == "__main__":
    main()
