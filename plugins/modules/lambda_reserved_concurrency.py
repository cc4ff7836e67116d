#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: lambda_reserved_concurrency
version_added: 0.1.0
short_description: Set or remove the reserved concurrency of an AWS Lambda function
description:
  - Sets the reserved concurrency of one Lambda function (C(PutFunctionConcurrency)), or removes it
    (C(DeleteFunctionConcurrency)) so that the function draws from the account's unreserved pool again.
  - Reserved concurrency both guarantees and caps the number of concurrent executions of the function; invocations
    beyond it are throttled. V(0) stops every invocation of the function.
  - M(amazon.aws.lambda) has no option for it.
  - Idempotent; a run that changes nothing makes no write call.
author:
  - spillover.lambda_ecs maintainers (@spillover)
options:
  function_name:
    description:
      - Name, ARN or partial ARN of the function. It must exist with O(state=present).
    type: str
    required: true
    aliases: [name]
  reserved_concurrency:
    description:
      - Concurrent executions reserved for (and the cap of) the function, V(0) or more.
      - Required with O(state=present).
      - AWS refuses a value that would leave the account fewer than 100 unreserved concurrent executions; the module
        then fails with the account's quota, what is unreserved, and how to ask for a higher quota.
    type: int
  state:
    description:
      - V(present) sets O(reserved_concurrency); V(absent) removes any reservation.
      - With V(absent), a function that does not exist is not an error (nothing to remove).
    type: str
    choices: [present, absent]
    default: present
notes:
  - Check mode and diff mode are supported.
seealso:
  - module: amazon.aws.lambda
  - name: Lambda reserved concurrency
    description: Configuring reserved concurrency for a function.
    link: https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Cap the app function at 10 concurrent executions
  spillover.lambda_ecs.lambda_reserved_concurrency:
    function_name: my-app
    reserved_concurrency: 10

- name: One decision at a time for a scaler function
  spillover.lambda_ecs.lambda_reserved_concurrency:
    function_name: arn:aws:lambda:us-east-1:123456789012:function:my-scaler
    reserved_concurrency: 1

- name: Give the function back to the account's unreserved pool
  spillover.lambda_ecs.lambda_reserved_concurrency:
    function_name: my-app
    state: absent
"""

RETURN = r"""
function_name:
  description: The function, as given in O(function_name).
  returned: always
  type: str
  sample: my-app
reserved_concurrency:
  description:
    - The reserved concurrency after the run (in check mode, as it would be); C(null) when none is reserved or the
      function does not exist.
  returned: always
  type: int
  sample: 10
previous_reserved_concurrency:
  description: The reserved concurrency before the run; C(null) when none was reserved or the function did not exist.
  returned: always
  type: int
  sample: 5
diff:
  description: The reserved concurrency before and after, in diff mode.
  returned: when diff mode is on
  type: dict
  sample: {before: {reserved_concurrency: 5}, after: {reserved_concurrency: 10}}
"""

from functools import partial

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import is_ansible_aws_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_call
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_client
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_concurrency import account_concurrency
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_concurrency import get_function_concurrency
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_concurrency import plan


def ensure_reserved_concurrency(client, params, check_mode):
    """Bring the function to the desired reservation; returns ``(changed, before, after)``."""
    function_name = params["function_name"]
    wanted = params["reserved_concurrency"] if params["state"] == "present" else None
    current = get_function_concurrency(client, function_name)
    if current is None:
        if params["state"] == "absent":
            return False, None, None
        raise SpilloverError(
            f"Lambda function {function_name} does not exist; create it before reserving its concurrency."
        )
    before = current.get("ReservedConcurrentExecutions")
    if before == wanted:
        return False, before, before
    if not check_mode:
        if wanted is None:
            write = partial(client.delete_function_concurrency, aws_retry=True, FunctionName=function_name)
        else:
            write = partial(
                client.put_function_concurrency,
                aws_retry=True,
                FunctionName=function_name,
                ReservedConcurrentExecutions=wanted,
            )
        try:
            aws_call(f"set the reserved concurrency of {function_name}", write)
        except is_ansible_aws_error_code("InvalidParameterValueException") as e:
            # AWS refuses a reservation that leaves the account fewer than 100 unreserved: say the numbers.
            refusal = quota_refusal(client, function_name, before or 0, wanted)
            if refusal is None:
                raise
            raise SpilloverError(refusal, exception=e.exception) from e
    return True, before, wanted


def quota_refusal(client, function_name, before, wanted):
    """Why the account's quota cannot take the reservation, or None when it can (AWS refused for another reason)."""
    limit, unreserved = account_concurrency(client)
    return plan(limit, unreserved, [(function_name, before, wanted)])[1]


def main():
    argument_spec = dict(
        function_name=dict(type="str", required=True, aliases=["name"]),
        reserved_concurrency=dict(type="int"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        required_if=[("state", "present", ["reserved_concurrency"])],
        supports_check_mode=True,
    )

    def work():
        if module.params["state"] == "present" and module.params["reserved_concurrency"] < 0:
            raise SpilloverError(
                f"reserved_concurrency must be 0 or more, got {module.params['reserved_concurrency']}."
            )
        changed, before, after = ensure_reserved_concurrency(
            aws_client(module, "lambda"), module.params, module.check_mode
        )
        result = dict(
            function_name=module.params["function_name"],
            reserved_concurrency=after,
            previous_reserved_concurrency=before,
        )
        diff = dict(before=dict(reserved_concurrency=before), after=dict(reserved_concurrency=after))
        return changed, result, diff

    run(module, work)


if __name__ == "__main__":
    main()
