# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Attributes of ELBv2 resources (load balancers, target groups) by their AWS keys: set only what differs."""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_call
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_client
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run

# resource (the API's snake-case subject) -> its ARN member: describe_/modify_<resource>_attributes(<member>=arn)
ARN_MEMBERS = {"load_balancer": "LoadBalancerArn", "target_group": "TargetGroupArn"}


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


def ensure_attributes_of_arn(client, resource, arn, attributes, check_mode, what):
    """``ensure_attributes`` for the ``resource`` (a key of ``ARN_MEMBERS``) at ``arn``, through the ELBv2 client."""
    member = ARN_MEMBERS[resource]
    describe = getattr(client, f"describe_{resource}_attributes")
    modify = getattr(client, f"modify_{resource}_attributes")

    def read():
        return as_dict(aws_call(what, lambda: describe(aws_retry=True, **{member: arn})))

    def write(changes):
        aws_call(what, lambda: modify(aws_retry=True, Attributes=changes, **{member: arn}))

    return ensure_attributes(read, write, attributes, check_mode)


def run_attributes_module(resource, ensure):
    """The whole of an attributes module: option ``resource`` (alias ``name``) and ``attributes``; ``ensure(client,
    params, check_mode)`` returns ``(arn, before, after, changed_keys)``. The diff shows the attributes asked for."""
    argument_spec = {
        resource: dict(type="str", required=True, aliases=["name"]),
        "attributes": dict(type="dict", required=True),
    }
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)

    def work():
        arn, before, after, changed_keys = ensure(aws_client(module, "elbv2"), module.params, module.check_mode)
        keys = sorted(module.params["attributes"])
        diff = dict(before={key: before.get(key) for key in keys}, after={key: after.get(key) for key in keys})
        result = {f"{resource}_arn": arn, "attributes": after, "changed_attributes": changed_keys}
        return bool(changed_keys), result, diff

    run(module, work)
