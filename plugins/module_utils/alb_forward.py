# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Read and change the weights of one ALB forward action.

The action is a listener's default action or one rule's action. Shared by the modules
spillover.lambda_ecs.alb_weighted_forward and spillover.lambda_ecs.alb_weighted_forward_info.
The action itself is read and written by the codec (``forward_action``); this file adds what the modules
need around it: the request's validation, the selection of the action, its target groups and their health,
and the read-back. Pure functions (no AWS call) come first, then the functions that take a boto3 elbv2
client wrapped with AWSRetry (every call passes aws_retry=True).
"""

import time

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_call
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import describe_target_groups
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import is_arn
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import resource_parts
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import target_group_name
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import with_resource
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.forward_action import ForwardActionError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.forward_action import forward_state
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.forward_action import read_forward
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.forward_action import replaced_index
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.forward_action import same_state
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.forward_action import terminal_type
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.forward_action import write_forward
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.target_health import count_healthy
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.target_health import describe_targets
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.target_health import target_states

MAX_TARGET_GROUPS = 5
MAX_WEIGHT = 999
MAX_STICKINESS_SECONDS = 604800
MAX_PRIORITY = 50000
# Pauses between read-backs when verifying a change (the ELB API is eventually consistent): 7.5 s at most.
VERIFY_DELAYS = (0.5, 1, 2, 4)

# The options that select the action (spillover.lambda_ecs.alb_forward documents them) and their rules.
SELECTOR_OPTIONS = dict(
    listener_arn=dict(type="str"),
    load_balancer=dict(type="str"),
    port=dict(type="int"),
    rule_arn=dict(type="str"),
    priority=dict(type="int"),
)
SELECTOR_RULES = dict(
    mutually_exclusive=[("listener_arn", "load_balancer"), ("rule_arn", "priority")],
    required_one_of=[("listener_arn", "load_balancer", "rule_arn")],
    required_together=[("load_balancer", "port")],
)


# ---------------------------------------------------------------------------------------------
# Pure logic
# ---------------------------------------------------------------------------------------------


def entry_label(entry):
    """How the user named a target_groups entry: its name, else its ARN."""
    return entry.get("name") or entry.get("arn")


def validate_request(target_groups, stickiness_duration, allow_all_zero):
    """Reject what AWS would reject, or what is surely a mistake, before any AWS call."""
    count = len(target_groups or [])
    if not 1 <= count <= MAX_TARGET_GROUPS:
        raise SpilloverError(
            f"target_groups lists {count} target groups; a forward action takes 1 to {MAX_TARGET_GROUPS}."
        )
    seen = set()
    for entry in target_groups:
        label = entry_label(entry)
        if not 0 <= entry["weight"] <= MAX_WEIGHT:
            raise SpilloverError(
                f"Target group '{label}' has weight {entry['weight']}; weights must be 0 to {MAX_WEIGHT}."
            )
        if label in seen:
            raise SpilloverError(f"Target group '{label}' is listed more than once in target_groups.")
        seen.add(label)
    if not allow_all_zero and all(entry["weight"] == 0 for entry in target_groups):
        raise SpilloverError(
            "Every weight is 0, so the action would forward no request to any target group; "
            "give one group a positive weight, or set allow_all_zero=true if this is intended."
        )
    if not 0 <= stickiness_duration <= MAX_STICKINESS_SECONDS:
        raise SpilloverError(
            f"stickiness_duration is {stickiness_duration}; use 0 (no stickiness) "
            f"or 1 to {MAX_STICKINESS_SECONDS} seconds."
        )


def validate_selector(priority):
    if priority is not None and not 1 <= priority <= MAX_PRIORITY:
        raise SpilloverError(f"priority is {priority}; rule priorities are 1 to {MAX_PRIORITY}.")


def pairs(entries, groups):
    """Each target_groups entry with the target group AWS described for it (same order, same length)."""
    if len(entries) != len(groups):
        raise ValueError("every entry needs its target group")
    return list(zip(entries, groups))


def check_distinct(entries, groups):
    """Two entries (one by name, one by ARN) may still name the same group."""
    seen = {}
    for entry, group in pairs(entries, groups):
        arn = group["TargetGroupArn"]
        if arn in seen:
            raise SpilloverError(
                f"Target groups '{seen[arn]}' and '{entry_label(entry)}' are the same group ({arn}); "
                "list each group once."
            )
        seen[arn] = entry_label(entry)


def listener_arn_of_rule(rule_arn):
    """...:listener-rule/app/LB/LB_ID/LISTENER_ID/RULE_ID -> ...:listener/app/LB/LB_ID/LISTENER_ID."""
    parsed, parts = resource_parts(rule_arn, "listener-rule")
    if len(parts) < 5:
        raise SpilloverError(f"rule_arn '{rule_arn}' is not the ARN of a load balancer listener rule.")
    return with_resource(parsed, "listener/" + "/".join(parts[:-1]))


def load_balancer_arn_of_listener(listener_arn):
    """...:listener/app/LB/LB_ID/LISTENER_ID -> ...:loadbalancer/app/LB/LB_ID."""
    parsed, parts = resource_parts(listener_arn, "listener")
    if len(parts) < 4:
        raise SpilloverError(f"'{listener_arn}' is not the ARN of a load balancer listener.")
    return with_resource(parsed, "loadbalancer/" + "/".join(parts[:-1]))


def check_replaceable(actions, convert):
    """Refuse, before any write, actions whose forward action the codec cannot replace (``convert`` is off)."""
    try:
        replaced_index(actions, convert)
    except ForwardActionError as e:
        raise SpilloverError(str(e)) from e


def desired_state(groups, entries, stickiness_duration):
    """The forward state that gives each entry's group the entry's weight."""
    weights = {group["TargetGroupArn"]: entry["weight"] for entry, group in pairs(entries, groups)}
    return forward_state(weights, stickiness_duration)


def weights_view(state, action_type="forward"):
    """What diff mode shows: weights by group name, stickiness, and the action type."""
    if state is None:
        return {"action_type": action_type, "weights": {}, "stickiness_duration": 0}
    return {
        "action_type": "forward",
        "weights": {target_group_name(arn): weight for arn, weight in state["weights"].items()},
        "stickiness_duration": state["stickiness_duration"],
    }


def describe_states(descriptions):
    """The targets of a group in one line, for messages."""
    return ", ".join(describe_targets(descriptions)) or "no target registered"


def unhealthy_receivers(desired, groups, health):
    """Groups that ``desired`` gives a positive weight although they have no healthy target."""
    return [
        group
        for group in groups
        if desired["weights"][group["TargetGroupArn"]] > 0 and count_healthy(health[group["TargetGroupArn"]]) == 0
    ]


def refusal(unhealthy, desired, health):
    reasons = "; ".join(
        f"target group '{group['TargetGroupName']}' would get weight {desired['weights'][group['TargetGroupArn']]} "
        f"but has no healthy target ({describe_states(health[group['TargetGroupArn']])})"
        for group in unhealthy
    )
    return SpilloverError(
        f"Refusing to change the weights: {reasons}. Nothing was changed. Wait until the group has a healthy "
        "target, or set require_healthy=false.",
        target_health={group["TargetGroupName"]: target_states(health[group["TargetGroupArn"]]) for group in unhealthy},
    )


def result_groups(state, health):
    return [
        {
            "arn": arn,
            "name": target_group_name(arn),
            "weight": weight,
            "healthy_targets": count_healthy(health[arn]),
        }
        for arn, weight in state["weights"].items()
    ]


# ---------------------------------------------------------------------------------------------
# AWS reads and writes
# ---------------------------------------------------------------------------------------------


class SelectedAction:
    """The listener default action or the rule whose actions are read and written."""

    def __init__(self, listener_arn, actions, rule_arn=None, load_balancer=None):
        self.listener_arn = listener_arn
        self.rule_arn = rule_arn
        self.actions = actions
        self.load_balancer_arn = load_balancer_arn_of_listener(listener_arn)
        self._load_balancer = load_balancer

    def vpc_id(self, client):
        if self._load_balancer is None:
            self._load_balancer = aws_call(
                "describe the load balancer",
                lambda: client.describe_load_balancers(aws_retry=True, LoadBalancerArns=[self.load_balancer_arn]),
            )["LoadBalancers"][0]
        return self._load_balancer.get("VpcId")

    def read_actions(self, client):
        if self.rule_arn:
            rules = aws_call(
                "read the rule back", lambda: client.describe_rules(aws_retry=True, RuleArns=[self.rule_arn])
            )
            return rules["Rules"][0]["Actions"]
        listeners = aws_call(
            "read the listener back",
            lambda: client.describe_listeners(aws_retry=True, ListenerArns=[self.listener_arn]),
        )
        return listeners["Listeners"][0]["DefaultActions"]

    def write_actions(self, client, actions):
        if self.rule_arn:
            aws_call(
                "modify the rule", lambda: client.modify_rule(aws_retry=True, RuleArn=self.rule_arn, Actions=actions)
            )
        else:
            aws_call(
                "modify the listener",
                lambda: client.modify_listener(aws_retry=True, ListenerArn=self.listener_arn, DefaultActions=actions),
            )


def describe_all(client, operation, key, **kwargs):
    """Every item of a Marker-paginated elbv2 Describe call, each page retried on throttling."""
    method = getattr(client, operation)
    items = []
    marker = None
    while True:
        page = method(aws_retry=True, **kwargs, **({"Marker": marker} if marker else {}))
        items.extend(page.get(key, []))
        marker = page.get("NextMarker")
        if not marker:
            return items


def select_action(client, params):
    """Find the action named by listener_arn / load_balancer+port, and rule_arn / priority."""
    validate_selector(params.get("priority"))
    listener_arn, rule_arn, priority = params.get("listener_arn"), params.get("rule_arn"), params.get("priority")
    load_balancer = listener = None
    if params.get("load_balancer"):
        load_balancer, listener = _listener_by_port(client, params["load_balancer"], params["port"])
        listener_arn = listener["ListenerArn"]

    if rule_arn:
        rule_listener = listener_arn_of_rule(rule_arn)
        if listener_arn and listener_arn != rule_listener:
            raise SpilloverError(f"Rule {rule_arn} belongs to listener {rule_listener}, not to {listener_arn}.")
        rules = aws_call(
            "describe the rule",
            lambda: client.describe_rules(aws_retry=True, RuleArns=[rule_arn]),
            {"RuleNotFound": f"Rule {rule_arn} does not exist."},
        )["Rules"]
        return _from_rule(rule_listener, rules[0], load_balancer)

    if priority is not None:
        rules = aws_call(
            "list the listener's rules",
            lambda: describe_all(client, "describe_rules", "Rules", ListenerArn=listener_arn),
            {"ListenerNotFound": f"Listener {listener_arn} does not exist."},
        )
        for rule in rules:
            if rule.get("Priority") == str(priority):
                return _from_rule(listener_arn, rule, load_balancer)
        raise SpilloverError(f"Listener {listener_arn} has no rule with priority {priority}.")

    if listener is None:
        listener = aws_call(
            "describe the listener",
            lambda: client.describe_listeners(aws_retry=True, ListenerArns=[listener_arn]),
            {"ListenerNotFound": f"Listener {listener_arn} does not exist."},
        )["Listeners"][0]
    return SelectedAction(listener_arn, listener["DefaultActions"], load_balancer=load_balancer)


def _from_rule(listener_arn, rule, load_balancer):
    if rule.get("IsDefault"):
        # The default rule is the listener's default action, which only ModifyListener may change.
        return SelectedAction(listener_arn, rule["Actions"], load_balancer=load_balancer)
    return SelectedAction(listener_arn, rule["Actions"], rule_arn=rule["RuleArn"], load_balancer=load_balancer)


def _listener_by_port(client, load_balancer, port):
    by = {"LoadBalancerArns": [load_balancer]} if is_arn(load_balancer) else {"Names": [load_balancer]}
    found = aws_call(
        "describe the load balancer",
        lambda: client.describe_load_balancers(aws_retry=True, **by),
        {"LoadBalancerNotFound": f"Load balancer '{load_balancer}' does not exist."},
    )["LoadBalancers"][0]
    listeners = aws_call(
        "list the load balancer's listeners",
        lambda: describe_all(client, "describe_listeners", "Listeners", LoadBalancerArn=found["LoadBalancerArn"]),
    )
    for listener in listeners:
        if listener["Port"] == port:
            return found, listener
    raise SpilloverError(f"Load balancer '{load_balancer}' has no listener on port {port}.")


def attached_group(entry, current):
    """The group of ``entry`` when the current forward action already holds it, else None.

    Such a group exists and is in the load balancer's VPC (AWS checked both when it was attached, and
    refuses to delete a group in use), so it needs no DescribeTargetGroups call. Target group names are
    unique in an account and region, so a name is matched against the names in the ARNs.
    """
    for arn in (current or {}).get("weights", {}):
        if entry.get("arn") == arn or entry.get("name") == target_group_name(arn):
            return {"TargetGroupArn": arn, "TargetGroupName": target_group_name(arn)}
    return None


def resolve_target_groups(client, entries, current):
    """The target group of each entry, in order: from the current action, else from AWS."""
    attached = [attached_group(entry, current) for entry in entries]
    unknown = [entry_label(entry) for entry, group in pairs(entries, attached) if group is None]
    described = iter(describe_target_groups(client, unknown)) if unknown else iter(())
    return [group if group is not None else next(described) for group in attached]


def check_same_vpc(client, selected, groups):
    """A group must live in the load balancer's VPC; groups already attached to it do by construction."""
    outsiders = [
        group
        for group in groups
        if group.get("VpcId") and selected.load_balancer_arn not in group.get("LoadBalancerArns", [])
    ]
    if not outsiders:
        return
    vpc_id = selected.vpc_id(client)
    wrong = [group for group in outsiders if group["VpcId"] != vpc_id]
    if wrong:
        listed = ", ".join(f"'{group['TargetGroupName']}' ({group['VpcId']})" for group in wrong)
        raise SpilloverError(
            f"Target group(s) {listed} are not in the load balancer's VPC {vpc_id}; "
            "a load balancer can only forward to target groups of its own VPC."
        )


def describe_health(client, groups):
    """``{arn: TargetHealthDescriptions}`` for each group."""
    return {
        group["TargetGroupArn"]: aws_call(
            f"describe the health of target group {group['TargetGroupName']}",
            lambda group=group: client.describe_target_health(aws_retry=True, TargetGroupArn=group["TargetGroupArn"])[
                "TargetHealthDescriptions"
            ],
        )
        for group in groups
    }


def verify(client, selected, desired, sleep=time.sleep):
    """Read the action back until it reports ``desired``; fail after VERIFY_DELAYS are spent."""
    reported = None
    for delay in (0, *VERIFY_DELAYS):
        if delay:
            sleep(delay)
        reported = read_forward(selected.read_actions(client))
        if same_state(reported, desired):
            return
    raise SpilloverError(
        f"The change was sent, but after {sum(VERIFY_DELAYS)} s the load balancer still reports "
        f"{weights_view(reported)} instead of {weights_view(desired)}.",
        reported=weights_view(reported),
    )


def _base_result(selected):
    result = {"listener_arn": selected.listener_arn, "load_balancer_arn": selected.load_balancer_arn}
    if selected.rule_arn:
        result["rule_arn"] = selected.rule_arn
    return result


def query_weights(client, params):
    """The current weights of the selected action, with the healthy targets of each group."""
    selected = select_action(client, params)
    current = read_forward(selected.actions)
    result = _base_result(selected)
    result["action_type"] = terminal_type(selected.actions)
    if current is None:
        return dict(result, target_groups=[], stickiness_duration=0)
    groups = [attached_group({"arn": arn}, current) for arn in current["weights"]]
    health = describe_health(client, groups)
    return dict(
        result,
        target_groups=result_groups(current, health),
        stickiness_duration=current["stickiness_duration"],
    )


def apply_weights(client, params, check_mode, sleep=time.sleep):
    """Make the selected forward action carry exactly ``params['target_groups']``.

    Returns ``(changed, result, diff, warnings)``; raises SpilloverError with nothing written on
    every refusal.
    """
    entries = params["target_groups"]
    validate_request(entries, params["stickiness_duration"], params["allow_all_zero"])
    selected = select_action(client, params)
    check_replaceable(selected.actions, params["convert"])
    current = read_forward(selected.actions)
    groups = resolve_target_groups(client, entries, current)
    check_distinct(entries, groups)
    check_same_vpc(client, selected, groups)
    health = describe_health(client, groups)

    desired = desired_state(groups, entries, params["stickiness_duration"])
    changed = not same_state(current, desired)

    unhealthy = unhealthy_receivers(desired, groups, health)
    warnings = []
    if unhealthy and changed and params["require_healthy"]:
        raise refusal(unhealthy, desired, health)
    if unhealthy:
        names = ", ".join(f"'{group['TargetGroupName']}'" for group in unhealthy)
        warnings.append(f"Target group(s) {names} have a positive weight but no healthy target.")

    if changed and not check_mode:
        selected.write_actions(client, write_forward(selected.actions, desired, params["convert"]))
        if params["verify"]:
            verify(client, selected, desired, sleep)

    result = dict(
        _base_result(selected),
        action_type="forward",
        target_groups=result_groups(desired, health),
        stickiness_duration=desired["stickiness_duration"],
    )
    diff = {"before": weights_view(current, terminal_type(selected.actions)), "after": weights_view(desired)}
    return changed, result, diff, warnings
