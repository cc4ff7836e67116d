# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Attributes of ELBv2 resources (load balancers, target groups) by their AWS keys: set only what differs."""


def attribute_value(value):
    """The string AWS stores for ``value`` (booleans in lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def as_dict(response):
    """``{key: value}`` of a Describe...Attributes answer."""
    return {attribute["Key"]: attribute["Value"] for attribute in response["Attributes"]}


def ensure_attributes(read, modify, attributes, check_mode):
    """Set the ``attributes`` that differ from what ``read()`` returns, with ``modify([{Key, Value}])``.

    Returns ``(before, after, changed_keys)``, ``before`` and ``after`` holding every attribute (in check mode,
    ``after`` as it would be). A key AWS does not return yet counts as different.
    """
    before = read()
    wanted = {key: attribute_value(value) for key, value in attributes.items()}
    changed_keys = sorted(key for key, value in wanted.items() if before.get(key) != value)
    if not changed_keys:
        return before, before, []
    if check_mode:
        return before, {**before, **wanted}, changed_keys
    modify([{"Key": key, "Value": wanted[key]} for key in changed_keys])
    return before, read(), changed_keys
