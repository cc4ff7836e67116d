#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: iam_policy_simulation_info
version_added: 0.1.0
short_description: Find out, with IAM's policy simulator, which grants of a policy a principal lacks
description:
  - For each C(Allow) statement of O(policy), asks IAM's policy simulator (C(SimulatePrincipalPolicy)) whether the
    principal may make its actions on its resources, with the statement's condition values as the request's context,
    and returns what it may not. The simulator weighs the principal's identity policies, its permissions boundary and
    the organization's service control policies, as AWS does.
  - The principal is O(principal_arn), or by default the caller (C(GetCallerIdentity); an assumed role's ARN is read
    with C(GetRole) to get its path).
  - Where the caller may not simulate (C(AccessDenied) on C(iam:SimulatePrincipalPolicy)), nothing is checked and
    RV(not_simulated_because) says why.
  - Only reads; never reports a change.
author:
  - spillover.lambda_ecs maintainers (@spillover)
options:
  policy:
    description:
      - An IAM policy document (C(Version), C(Statement)) whose C(Allow) statements are checked.
      - Without it, the module only identifies the principal (RV(principal_arn), RV(account_id)), for example to
        render the policy of the account first.
    type: dict
  principal_arn:
    description: The IAM role or user to simulate; default the caller.
    type: str
notes:
  - Check mode is supported (the module only reads).
  - The caller needs C(iam:SimulatePrincipalPolicy) on the principal (and C(iam:GetRole) on its own role to find it).
seealso:
  - name: Testing IAM policies with the policy simulator
    description: The IAM policy simulator.
    link: https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_testing-policies.html
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Check that the deploying role may make every call of the deploy
  spillover.lambda_ecs.iam_policy_simulation_info:
    policy: "{{ deployer_policy_input | spillover.lambda_ecs.deployer_policy }}"
  register: simulated

- name: Refuse to deploy with missing permissions
  ansible.builtin.assert:
    that: not simulated.simulated or simulated.denied | length == 0
    fail_msg: "{{ simulated.principal_arn }} may not: {{ simulated.denied | map(attribute='action') | join(', ') }}"
"""

RETURN = r"""
principal_arn:
  description: The principal simulated.
  returned: when simulated
  type: str
  sample: arn:aws:iam::123456789012:role/spillover-deploy
account_id:
  description: The principal's account.
  returned: when simulated
  type: str
  sample: "123456789012"
simulated:
  description: Whether the simulator could be asked (false where the caller may not simulate).
  returned: always
  type: bool
  sample: true
not_simulated_because:
  description: Why the simulator could not be asked.
  returned: when not simulated
  type: str
  sample: the caller may not call iam:SimulatePrincipalPolicy
evaluated:
  description: How many action and resource pairs were simulated.
  returned: always
  type: int
  sample: 142
denied:
  description: The pairs the principal may not make, with the simulator's decision and the statement's C(Sid).
  returned: always
  type: list
  elements: dict
  sample: [{sid: PassTheStackRoles, action: iam:PassRole, resource: "arn:aws:iam::123456789012:role/demo-scaler",
            decision: implicitDeny}]
"""

import re

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import is_ansible_aws_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverErrorHandler
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_client
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run_info


class Skipped(Exception):
    """The simulation cannot be made here; its argument says why."""


def _as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def context_entries(condition):
    """The simulator's ContextEntries that satisfy a statement's ``Condition`` (its first value per key; all values
    for a multi-valued key). A ``Null`` of ``true`` asks for the key's absence: it gets no entry, and one of
    ``false`` (the key present) gets a value of its own."""
    entries = []
    for operator, keys in (condition or {}).items():
        multi = operator.startswith(("ForAllValues:", "ForAnyValue:"))
        for key, values in keys.items():
            values = [str(value) for value in _as_list(values)]
            if operator == "Null":
                if values[:1] == ["true"]:
                    continue
                values = ["present"]
            entries.append(
                {
                    "ContextKeyName": key,
                    "ContextKeyValues": values if multi else values[:1],
                    "ContextKeyType": "stringList" if multi else "string",
                }
            )
    return entries


@SpilloverErrorHandler.common_error_handler("find the calling principal")
def caller_principal(sts, iam):
    """The caller's role or user ARN (an assumed role's, with its path)."""
    arn = sts.get_caller_identity(aws_retry=True)["Arn"]
    if ":assumed-role/" not in arn:
        if arn.endswith(":root"):
            raise Skipped("the caller is the account's root user, which has every permission")
        if not re.match(r"arn:[^:]+:iam::[0-9]{12}:user/", arn):
            # A federated user (arn:aws:sts::...:federated-user/...), or another caller the simulator cannot take.
            raise Skipped(f"the policy simulator simulates IAM users and roles, not the caller {arn}")
        return arn
    role = arn.split(":assumed-role/", 1)[1].split("/", 1)[0]
    try:
        return iam.get_role(aws_retry=True, RoleName=role)["Role"]["Arn"]
    except is_boto3_error_code("AccessDenied"):
        partition, account = arn.split(":")[1], arn.split(":")[4]
        return f"arn:{partition}:iam::{account}:role/{role}"  # without its path, which GetRole would have given


@SpilloverErrorHandler.common_error_handler("simulate the permissions of {principal}")
@AWSRetry.jittered_backoff()
def _simulate(iam, principal, request):
    pages = iam.get_paginator("simulate_principal_policy").paginate(PolicySourceArn=principal, **request)
    return pages.build_full_result()["EvaluationResults"]


def simulate(iam, principal, policy):
    """``(evaluated, denied)`` of every Allow statement of ``policy`` for ``principal``."""
    evaluated, denied = 0, []
    for statement in _as_list(policy.get("Statement")):
        if statement.get("Effect") != "Allow" or "NotAction" in statement or "NotResource" in statement:
            continue
        request = {"ActionNames": _as_list(statement.get("Action"))}
        resources = [resource for resource in _as_list(statement.get("Resource")) if resource != "*"]
        if resources:
            request["ResourceArns"] = resources
        entries = context_entries(statement.get("Condition"))
        if entries:
            request["ContextEntries"] = entries
        try:
            results = _simulate(iam, principal, request)
        except is_ansible_aws_error_code("AccessDenied") as e:
            raise Skipped(f"the caller may not call iam:SimulatePrincipalPolicy on {principal}") from e
        for result in results:
            pairs = result.get("ResourceSpecificResults") or [
                {
                    "EvalResourceName": result.get("EvalResourceName", "*"),
                    "EvalResourceDecision": result["EvalDecision"],
                }
            ]
            for pair in pairs:
                evaluated += 1
                if pair["EvalResourceDecision"] != "allowed":
                    denied.append(
                        {
                            "sid": statement.get("Sid", ""),
                            "action": result["EvalActionName"],
                            "resource": pair["EvalResourceName"],
                            "decision": pair["EvalResourceDecision"],
                        }
                    )
    return evaluated, denied


def check(sts, iam, params):
    try:
        principal = params["principal_arn"] or caller_principal(sts, iam)
        evaluated, denied = simulate(iam, principal, params["policy"]) if params["policy"] else (0, [])
    except Skipped as skipped:
        return {"simulated": False, "not_simulated_because": str(skipped), "evaluated": 0, "denied": []}
    result = {"principal_arn": principal, "account_id": principal.split(":")[4], "simulated": True}
    return {**result, "evaluated": evaluated, "denied": denied}


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(policy=dict(type="dict"), principal_arn=dict(type="str")),
        supports_check_mode=True,
    )
    run_info(module, lambda: check(aws_client(module, "sts"), aws_client(module, "iam"), module.params))


if __name__ == "__main__":
    main()
