# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one codec of an ALB forward action: read its weights and stickiness, compute new ones, write it back.

An action list is what DescribeListeners (``DefaultActions``) or DescribeRules (``Actions``) returns and what
ModifyListener or ModifyRule takes. The codec reads the forward action of such a list into a *forward state*,
``{"weights": {target_group_arn: weight}, "stickiness_duration": seconds}``, and writes a state back into the
list, keeping every other action as it is.

The shapes AWS returns, and what the codec makes of them:

* a plain forward (``TargetGroupArn`` and no ``ForwardConfig``) is one group of weight 1;
* ``TargetGroupStickinessConfig {"Enabled": false}``, which AWS adds to every weighted forward, is duration 0;
* ``Order`` decides which action runs first; an action without it runs in list position;
* an ``authenticate-oidc`` action comes back without its client secret, which AWS never returns, so it is
  written back with ``UseExistingClientSecret: true`` (else ModifyListener/ModifyRule is refused);
  ``authenticate-cognito`` has no secret and is written back as it is.

Standard library only, and no Ansible import: the modules' ``alb_forward``, the scaler (which packs this file
into its zip as the top-level module ``forward_action``), the lab and the tests all use this one file.
"""

AUTHENTICATE_ACTIONS = ("authenticate-oidc", "authenticate-cognito")


class ForwardActionError(ValueError):
    """The actions hold no forward action that can be read or written as asked."""


def ordered(actions):
    """``(index, action)`` pairs in the order the load balancer performs them (``Order``, else list position)."""
    return sorted(enumerate(actions), key=lambda pair: (pair[1].get("Order", pair[0] + 1), pair[0]))


def forward_index(actions):
    """Index of the forward action in ``actions``, or None."""
    for index, action in ordered(actions):
        if action.get("Type") == "forward":
            return index
    return None


def terminal_index(actions):
    """Index of the action that ends the chain (the last one that is not an authenticate action), or None."""
    terminal = [index for index, action in ordered(actions) if action.get("Type") not in AUTHENTICATE_ACTIONS]
    return terminal[-1] if terminal else None


def terminal_type(actions):
    """Type of the action that ends the chain (``forward``, ``fixed-response``, ``redirect``), or None."""
    index = terminal_index(actions)
    return actions[index]["Type"] if index is not None else None


def read_forward(actions):
    """The forward state of ``actions``, or None when they hold no forward action."""
    index = forward_index(actions)
    if index is None:
        return None
    action = actions[index]
    config = action.get("ForwardConfig") or {}
    if config.get("TargetGroups"):
        weights = {group["TargetGroupArn"]: int(group.get("Weight", 1)) for group in config["TargetGroups"]}
    else:
        weights = {action["TargetGroupArn"]: 1}
    stickiness = config.get("TargetGroupStickinessConfig") or {}
    duration = int(stickiness.get("DurationSeconds", 0)) if stickiness.get("Enabled") else 0
    return {"weights": weights, "stickiness_duration": duration}


def forward_state(weights, stickiness_duration=0):
    """A forward state from ``{target_group_arn: weight}`` (kept in the given order)."""
    return {"weights": dict(weights), "stickiness_duration": stickiness_duration}


def same_state(current, desired):
    """Equal weights per group (their order does not matter) and equal stickiness; None equals nothing."""
    return current is not None and current == desired


def reweighted(state, weights):
    """``state`` with the groups of ``weights`` set to those weights; every other group and stickiness kept.

    Raises ForwardActionError when ``weights`` names a group the action does not hold: the codec never adds a
    group behind its caller's back.
    """
    missing = [arn for arn in weights if arn not in state["weights"]]
    if missing:
        raise ForwardActionError(f"the forward action does not include {', '.join(missing)}")
    new_weights = dict(state["weights"])
    new_weights.update(weights)
    return forward_state(new_weights, state["stickiness_duration"])


def share_percent(state, target_group_arn):
    """Percent of the requests that ``state`` sends to ``target_group_arn`` (0 when every weight is 0)."""
    total = sum(state["weights"].values())
    return round(100 * state["weights"].get(target_group_arn, 0) / total) if total else 0


def forward_action(state):
    """The weighted forward action (``ForwardConfig`` only) that carries ``state``."""
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


def replaced_index(actions, convert=False):
    """Index of the action that becomes the weighted forward action.

    That is the forward action or, with ``convert``, the terminal action of another type (fixed-response,
    redirect). Without ``convert``, actions with no forward action are refused with ForwardActionError.
    """
    index = forward_index(actions)
    if index is None:
        index = terminal_index(actions)
        if not convert or index is None:
            raise ForwardActionError(
                f"The selected action is a '{terminal_type(actions)}' action, not a forward action; "
                "set convert=true to replace it with a weighted forward action."
            )
    return index


def kept_action(action):
    """An action other than the forward one, as it must be written back (OIDC keeps its existing secret)."""
    action = dict(action)
    oidc = action.get("AuthenticateOidcConfig")
    if oidc is not None and "ClientSecret" not in oidc:
        action["AuthenticateOidcConfig"] = dict(oidc, UseExistingClientSecret=True)
    return action


def write_forward(actions, state, convert=False):
    """The actions to write back: the forward action carries ``state``, every other action is kept.

    The new forward action keeps the ``Order`` of the one it replaces. With ``convert``, a non-forward terminal
    action becomes the forward action (see ``replaced_index``).
    """
    index = replaced_index(actions, convert)
    result = []
    for position, action in enumerate(actions):
        if position == index:
            new_action = forward_action(state)
            if "Order" in action:
                new_action["Order"] = action["Order"]
            result.append(new_action)
        else:
            result.append(kept_action(action))
    return result
