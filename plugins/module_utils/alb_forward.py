# -*- coding: utf-8 -*-

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Read and change the weights of one ALB forward action.

The action is a listener's default action or one rule's action. Shared by the modules
spillover.lambda_ecs.alb_weighted_forward and spillover.lambda_ecs.alb_weighted_forward_info.
Pure functions (no AWS call) come first, then the functions that take a boto3 elbv2 client wrapped
with AWSRetry (every call passes aws_retry=True).
"""

import time

try:  # noqa: SIM105 (the amazon.aws way: AnsibleAWSModule reports a missing botocore)
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

MAX_TARGET_GROUPS = 5
MAX_WEIGHT = 999
MAX_STICKINESS_SECONDS = 604800
MAX_PRIORITY = 50000
AUTHENTICATE_ACTIONS = ("authenticate-oidc", "authenticate-cognito")
# Pauses between read-backs when verifying a change (the ELB API is eventually consistent): 7.5 s at most.
VERIFY_DELAYS = (0.5, 1, 2, 4)


class AlbForwardError(AnsibleAWSError):
    """A refusal or an AWS failure, with one message for the user; ``kwargs`` go to fail_json."""


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
        raise AlbForwardError(
            f"target_groups lists {count} target groups; a forward action takes 1 to {MAX_TARGET_GROUPS}."
        )
    seen = set()
    for entry in target_groups:
        label = entry_label(entry)
        if not 0 <= entry["weight"] <= MAX_WEIGHT:
            raise AlbForwardError(
                f"Target group '{label}' has weight {entry['weight']}; weights must be 0 to {MAX_WEIGHT}."
            )
        if label in seen:
            raise AlbForwardError(f"Target group '{label}' is listed more than once in target_groups.")
        seen.add(label)
    if not allow_all_zero and all(entry["weight"] == 0 for entry in target_groups):
        raise AlbForwardError(
            "Every weight is 0, so the action would forward no request to any target group; "
            "give one group a positive weight, or set allow_all_zero=true if this is intended."
        )
    if not 0 <= stickiness_duration <= MAX_STICKINESS_SECONDS:
        raise AlbForwardError(
            f"stickiness_duration is {stickiness_duration}; use 0 (no stickiness) "
            f"or 1 to {MAX_STICKINESS_SECONDS} seconds."
        )


def validate_selector(priority):
    if priority is not None and not 1 <= priority <= MAX_PRIORITY:
        raise AlbForwardError(f"priority is {priority}; rule priorities are 1 to {MAX_PRIORITY}.")


def pairs(entries, groups):
    """Each target_groups entry with the target group AWS described for it (same order, same length)."""
    if len(entries) != len(groups):
        raise ValueError("every entry needs its target group")
    return list(zip(entries, groups))  # noqa: B905 (length checked above; strict= needs Python 3.10)


def check_distinct(entries, groups):
    """Two entries (one by name, one by ARN) may still name the same group."""
    seen = {}
    for entry, group in pairs(entries, groups):
        arn = group["TargetGroupArn"]
        if arn in seen:
            raise AlbForwardError(
                f"Target groups '{seen[arn]}' and '{entry_label(entry)}' are the same group ({arn}); "
                "list each group once."
            )
        seen[arn] = entry_label(entry)


def name_from_arn(target_group_arn):
    """arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID -> NAME."""
    return target_group_arn.rsplit(":", 1)[-1].split("/")[1]


def listener_arn_of_rule(rule_arn):
    """...:listener-rule/app/LB/LB_ID/LISTENER_ID/RULE_ID -> ...:listener/app/LB/LB_ID/LISTENER_ID."""
    prefix, sep, resource = rule_arn.partition(":listener-rule/")
    if not sep or resource.count("/") < 4:
        raise AlbForwardError(f"rule_arn '{rule_arn}' is not the ARN of a load balancer listener rule.")
    return f"{prefix}:listener/{resource.rsplit('/', 1)[0]}"


def load_balancer_arn_of_listener(listener_arn):
    """...:listener/app/LB/LB_ID/LISTENER_ID -> ...:loadbalancer/app/LB/LB_ID."""
    prefix, sep, resource = listener_arn.partition(":listener/")
    if not sep or resource.count("/") < 3:
        raise AlbForwardError(f"'{listener_arn}' is not the ARN of a load balancer listener.")
    return f"{prefix}:loadbalancer/{resource.rsplit('/', 1)[0]}"


def _ordered(actions):
    """Actions in the order the load balancer performs them (``Order`` when given, else as listed)."""
    return sorted(enumerate(actions), key=lambda pair: (pair[1].get("Order", pair[0] + 1), pair[0]))


def forward_index(actions):
    """Index of the forward action in ``actions``, or None."""
    for index, action in _ordered(actions):
        if action.get("Type") == "forward":
            return index
    return None


def terminal_index(actions):
    """Index of the action that ends the chain (the one that is not an authenticate action)."""
    terminal = [index for index, action in _ordered(actions) if action.get("Type") not in AUTHENTICATE_ACTIONS]
    return terminal[-1] if terminal else None


def terminal_type(actions):
    index = terminal_index(actions)
    return actions[index]["Type"] if index is not None else None


def forward_state(actions):
    """Normalise the forward action AWS returns into ``{"weights": {arn: weight}, "stickiness_duration": s}``.

    Returns None when there is no forward action. A plain forward (``TargetGroupArn``, no
    ``ForwardConfig``) is one group of weight 1; stickiness that AWS reports as
    ``{"Enabled": false}`` (it always adds it) is duration 0.
    """
    index = forward_index(actions)
    if index is None:
        return None
    action = actions[index]
    config = action.get("ForwardConfig") or {}
    if config.get("TargetGroups"):
        weights = {group["TargetGroupArn"]: group.get("Weight", 1) for group in config["TargetGroups"]}
    else:
        weights = {action["TargetGroupArn"]: 1}
    stickiness = config.get("TargetGroupStickinessConfig") or {}
    duration = stickiness.get("DurationSeconds", 0) if stickiness.get("Enabled") else 0
    return {"weights": weights, "stickiness_duration": duration}


def desired_state(groups, entries, stickiness_duration):
    return {
        "weights": {group["TargetGroupArn"]: entry["weight"] for entry, group in pairs(entries, groups)},
        "stickiness_duration": stickiness_duration,
    }


def same_state(current, desired):
    """Equal weights per group (order does not matter) and equal stickiness."""
    return current is not None and current == desired


def forward_action(state):
    stickiness = {"Enabled": state["stickiness_duration"] > 0}
    if stickiness["Enabled"]:
        stickiness["DurationSeconds"] = state["stickiness_duration"]
    return {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in state["weights"].items()],
            "TargetGroupStickinessConfig": stickiness,
        },
    }


def replaced_index(actions, convert):
    """Index of the action that becomes the weighted forward action.

    That is the forward action, or with ``convert`` the terminal action of another type (fixed-response,
    redirect); without ``convert`` a non-forward action is refused.
    """
    index = forward_index(actions)
    if index is None:
        index = terminal_index(actions)
        if not convert or index is None:
            raise AlbForwardError(
                f"The selected action is a '{terminal_type(actions)}' action, not a forward action; "
                "set convert=true to replace it with a weighted forward action."
            )
    return index


def replace_forward(actions, state, convert):
    """The actions to write back: the forward action replaced, every other action kept as it is.

    With ``convert``, a non-forward terminal action (fixed-response, redirect) becomes the forward
    action. Authenticate actions are kept; AWS never returns an OIDC client secret, so they are told to
    keep the existing one.
    """
    index = replaced_index(actions, convert)
    result = []
    for position, action in enumerate(actions):
        if position == index:
            new_action = forward_action(state)
            if "Order" in action:
                new_action["Order"] = action["Order"]
            result.append(new_action)
            continue
        action = dict(action)
        oidc = action.get("AuthenticateOidcConfig")
        if oidc is not None and "ClientSecret" not in oidc:
            action["AuthenticateOidcConfig"] = dict(oidc, UseExistingClientSecret=True)
        result.append(action)
    return result


def weights_view(state, action_type="forward"):
    """What diff mode shows: weights by group name, stickiness, and the action type."""
    if state is None:
        return {"action_type": action_type, "weights": {}, "stickiness_duration": 0}
    return {
        "action_type": "forward",
        "weights": {name_from_arn(arn): weight for arn, weight in state["weights"].items()},
        "stickiness_duration": state["stickiness_duration"],
    }


def count_healthy(descriptions):
    """Healthy targets of a group, from its DescribeTargetHealth descriptions.

    A target counts when the ALB reports it ``healthy``, or, in a Lambda target group with health
    checks off, when it is registered (AWS reports those ``unavailable`` with the reason
    ``Target.HealthCheckDisabled``). A group no listener uses reports ``unused``, which does not count.
    """
    return sum(
        1
        for item in descriptions
        if item.get("TargetHealth", {}).get("State") == "healthy"
        or item.get("TargetHealth", {}).get("Reason") == "Target.HealthCheckDisabled"
    )


def target_states(descriptions):
    """Target health in snake_case for results and messages."""
    states = []
    for item in descriptions:
        target = item.get("Target", {})
        health = item.get("TargetHealth", {})
        entry = {"id": target.get("Id"), "state": health.get("State")}
        if target.get("Port") is not None:
            entry["port"] = target["Port"]
        if health.get("Reason"):
            entry["reason"] = health["Reason"]
        states.append(entry)
    return states


def describe_states(states):
    if not states:
        return "no target registered"
    parts = []
    for state in states:
        where = f"{state['id']}:{state['port']}" if "port" in state else state["id"]
        reason = f" ({state['reason']})" if state.get("reason") else ""
        parts.append(f"{where} {state['state']}{reason}")
    return ", ".join(parts)


def unhealthy_receivers(desired, groups, health):
    """Groups that ``desired`` gives a positive weight although they have no healthy target."""
    return [
        group
        for group in groups
        if desired["weights"][group["TargetGroupArn"]] > 0 and count_healthy(health[group["TargetGroupArn"]]) == 0
    ]


def refusal(unhealthy, desired, health):
    details = {group["TargetGroupName"]: target_states(health[group["TargetGroupArn"]]) for group in unhealthy}
    reasons = "; ".join(
        f"target group '{name}' would get weight {desired['weights'][group['TargetGroupArn']]} "
        f"but has no healthy target ({describe_states(details[name])})"
        for group, name in ((group, group["TargetGroupName"]) for group in unhealthy)
    )
    return AlbForwardError(
        f"Refusing to change the weights: {reasons}. Nothing was changed. Wait until the group has a healthy "
        "target, or set require_healthy=false.",
        target_health=details,
    )


def result_groups(state, health):
    return [
        {
            "arn": arn,
            "name": name_from_arn(arn),
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
            self._load_balancer = _call(
                "describe the load balancer",
                lambda: client.describe_load_balancers(aws_retry=True, LoadBalancerArns=[self.load_balancer_arn]),
            )["LoadBalancers"][0]
        return self._load_balancer.get("VpcId")

    def read_actions(self, client):
        if self.rule_arn:
            rules = _call("read the rule back", lambda: client.describe_rules(aws_retry=True, RuleArns=[self.rule_arn]))
            return rules["Rules"][0]["Actions"]
        listeners = _call(
            "read the listener back",
            lambda: client.describe_listeners(aws_retry=True, ListenerArns=[self.listener_arn]),
        )
        return listeners["Listeners"][0]["DefaultActions"]

    def write_actions(self, client, actions):
        if self.rule_arn:
            _call("modify the rule", lambda: client.modify_rule(aws_retry=True, RuleArn=self.rule_arn, Actions=actions))
        else:
            _call(
                "modify the listener",
                lambda: client.modify_listener(aws_retry=True, ListenerArn=self.listener_arn, DefaultActions=actions),
            )


def _call(what, request, not_found=None):
    """Run one AWS request; map 'not found' codes to clear messages and other errors to AlbForwardError."""
    try:
        return request()
    except is_boto3_error_code(list(not_found or {})) as e:
        raise AlbForwardError(not_found[e.response["Error"]["Code"]]) from e
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        raise AlbForwardError(f"Failed to {what}", exception=e) from e


def _describe_all(client, operation, key, **kwargs):
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
            raise AlbForwardError(f"Rule {rule_arn} belongs to listener {rule_listener}, not to {listener_arn}.")
        rules = _call(
            "describe the rule",
            lambda: client.describe_rules(aws_retry=True, RuleArns=[rule_arn]),
            {"RuleNotFound": f"Rule {rule_arn} does not exist."},
        )["Rules"]
        return _from_rule(rule_listener, rules[0], load_balancer)

    if priority is not None:
        rules = _call(
            "list the listener's rules",
            lambda: _describe_all(client, "describe_rules", "Rules", ListenerArn=listener_arn),
            {"ListenerNotFound": f"Listener {listener_arn} does not exist."},
        )
        for rule in rules:
            if rule.get("Priority") == str(priority):
                return _from_rule(listener_arn, rule, load_balancer)
        raise AlbForwardError(f"Listener {listener_arn} has no rule with priority {priority}.")

    if listener is None:
        listener = _call(
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
    by = {"LoadBalancerArns": [load_balancer]} if load_balancer.startswith("arn:") else {"Names": [load_balancer]}
    found = _call(
        "describe the load balancer",
        lambda: client.describe_load_balancers(aws_retry=True, **by),
        {"LoadBalancerNotFound": f"Load balancer '{load_balancer}' does not exist."},
    )["LoadBalancers"][0]
    listeners = _call(
        "list the load balancer's listeners",
        lambda: _describe_all(client, "describe_listeners", "Listeners", LoadBalancerArn=found["LoadBalancerArn"]),
    )
    for listener in listeners:
        if listener["Port"] == port:
            return found, listener
    raise AlbForwardError(f"Load balancer '{load_balancer}' has no listener on port {port}.")


def attached_group(entry, current):
    """The group of ``entry`` when the current forward action already holds it, else None.

    Such a group exists and is in the load balancer's VPC (AWS checked both when it was attached, and
    refuses to delete a group in use), so it needs no DescribeTargetGroups call. Target group names are
    unique in an account and region, so a name is matched against the names in the ARNs.
    """
    for arn in (current or {}).get("weights", {}):
        if entry.get("arn") == arn or entry.get("name") == name_from_arn(arn):
            return {"TargetGroupArn": arn, "TargetGroupName": name_from_arn(arn)}
    return None


def resolve_target_groups(client, entries, current):
    """The target group of each entry, in order: from the current action, else from AWS."""
    attached = [attached_group(entry, current) for entry in entries]
    unknown = [entry for entry, group in pairs(entries, attached) if group is None]
    described = iter(describe_target_groups(client, unknown)) if unknown else iter(())
    return [group if group is not None else next(described) for group in attached]


def describe_target_groups(client, entries):
    """The target groups of ``entries`` (each a name or an ARN), in the same order."""
    names = [entry["name"] for entry in entries if entry.get("name")]
    arns = [entry["arn"] for entry in entries if entry.get("arn")]
    found = {}
    for key, values in (("Names", names), ("TargetGroupArns", arns)):
        if not values:
            continue
        try:
            groups = client.describe_target_groups(aws_retry=True, **{key: values})["TargetGroups"]
        except is_boto3_error_code("TargetGroupNotFound") as e:
            missing = [value for value in values if not _target_group_exists(client, key, value)]
            raise AlbForwardError(f"Target group(s) {', '.join(missing)} do not exist; create them first.") from e
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            raise AlbForwardError("Failed to describe the target groups", exception=e) from e
        for group in groups:
            found[group["TargetGroupName"]] = group
            found[group["TargetGroupArn"]] = group
    return [found[entry_label(entry)] for entry in entries]


def _target_group_exists(client, key, value):
    try:
        client.describe_target_groups(aws_retry=True, **{key: [value]})
    except is_boto3_error_code("TargetGroupNotFound"):
        return False
    return True


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
        raise AlbForwardError(
            f"Target group(s) {listed} are not in the load balancer's VPC {vpc_id}; "
            "a load balancer can only forward to target groups of its own VPC."
        )


def describe_health(client, groups):
    """``{arn: TargetHealthDescriptions}`` for each group."""
    return {
        group["TargetGroupArn"]: _call(
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
        reported = forward_state(selected.read_actions(client))
        if same_state(reported, desired):
            return
    raise AlbForwardError(
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
    current = forward_state(selected.actions)
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

    Returns ``(changed, result, diff, warnings)``; raises AlbForwardError with nothing written on
    every refusal.
    """
    entries = params["target_groups"]
    validate_request(entries, params["stickiness_duration"], params["allow_all_zero"])
    selected = select_action(client, params)
    replaced_index(selected.actions, params["convert"])
    current = forward_state(selected.actions)
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
        selected.write_actions(client, replace_forward(selected.actions, desired, params["convert"]))
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
