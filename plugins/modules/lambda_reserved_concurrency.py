#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

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
      - AWS refuses a value that would leave the account fewer than 100 unreserved concurrent executions.
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

import contextlib

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


class FunctionNotFound(Exception):
    """The function named by ``function_name`` does not exist."""


def read_reserved_concurrency(client, function_name):
    """The function's reserved concurrency, ``None`` when it has none; raises FunctionNotFound."""
    try:
        response = client.get_function_concurrency(aws_retry=True, FunctionName=function_name)
    except is_boto3_error_code("ResourceNotFoundException"):
        raise FunctionNotFound(function_name) from None
    return response.get("ReservedConcurrentExecutions")


def ensure_reserved_concurrency(client, params, check_mode):
    """Bring the function to the desired reservation; returns ``(changed, before, after)``."""
    function_name = params["function_name"]
    wanted = params["reserved_concurrency"] if params["state"] == "present" else None
    try:
        before = read_reserved_concurrency(client, function_name)
    except FunctionNotFound:
        if params["state"] == "absent":
            return False, None, None
        raise
    if before == wanted:
        return False, before, before
    if not check_mode:
        if wanted is None:
            client.delete_function_concurrency(aws_retry=True, FunctionName=function_name)
        else:
            client.put_function_concurrency(
                aws_retry=True, FunctionName=function_name, ReservedConcurrentExecutions=wanted
            )
    return True, before, wanted


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
    if module.params["state"] == "present" and module.params["reserved_concurrency"] < 0:
        module.fail_json(msg=f"reserved_concurrency must be 0 or more, got {module.params['reserved_concurrency']}.")

    client = module.client("lambda", retry_decorator=AWSRetry.jittered_backoff())
    try:
        changed, before, after = ensure_reserved_concurrency(client, module.params, module.check_mode)
    except FunctionNotFound:
        module.fail_json(
            msg=f"Lambda function {module.params['function_name']} does not exist; create it before reserving "
            "its concurrency."
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to set the reserved concurrency of {module.params['function_name']}")

    result = dict(
        changed=changed,
        function_name=module.params["function_name"],
        reserved_concurrency=after,
        previous_reserved_concurrency=before,
    )
    if module._diff:
        result["diff"] = dict(before=dict(reserved_concurrency=before), after=dict(reserved_concurrency=after))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
