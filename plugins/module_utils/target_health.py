# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What DescribeTargetHealth says about a target group: how many targets count as healthy, and each target's state.

``descriptions`` is the ``TargetHealthDescriptions`` list of one DescribeTargetHealth answer.

Standard library only, and no Ansible import: the modules and the scaler (which packs this file into its zip as
the top-level module ``target_health``, beside ``forward_action``) count healthy targets with this one file.
"""


def count_healthy(descriptions):
    """Healthy targets of a group, from its DescribeTargetHealth descriptions.

    A target counts when the ALB reports it ``healthy``, or, in a Lambda target group with health
    checks off, when it is registered (AWS reports those ``unavailable`` with the reason
    ``Target.HealthCheckDisabled``; ip and instance target groups cannot turn health checks off).
    A group no listener uses reports ``unused``, which does not count.
    """
    return sum(
        1
        for item in descriptions
        if item.get("TargetHealth", {}).get("State") == "healthy"
        or item.get("TargetHealth", {}).get("Reason") == "Target.HealthCheckDisabled"
    )


def target_states(descriptions):
    """Target health in snake_case for results and messages: ``id``, ``port`` (when given), ``state``, ``reason``."""
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


def describe_targets(descriptions):
    """One short line per target: ``id:port state (reason)`` (``id state`` for a target without a port)."""
    lines = []
    for state in target_states(descriptions):
        where = f"{state['id']}:{state['port']}" if "port" in state else state["id"]
        reason = f" ({state['reason']})" if state.get("reason") else ""
        lines.append(f"{where} {state['state']}{reason}")
    return lines
