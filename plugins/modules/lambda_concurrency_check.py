#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: lambda_concurrency_check
version_added: 0.1.0
short_description: Check that planned reserved concurrency fits the account's Lambda quota
description:
  - Reads the account's Lambda concurrency quota and what no function reserves (C(GetAccountSettings)), and what
    each planned function reserves now (C(GetFunctionConcurrency); a function that does not exist yet reserves
    nothing), and fails, before anything is written, when the plan would leave fewer than O(minimum_unreserved)
    concurrent executions unreserved (Lambda refuses such a reservation, and a new account's quota can be as low as
    10).
  - The failure says the quota, what is unreserved, what the plan adds, and how to ask for a higher quota (Service
    Quotas, C(Concurrent executions), quota code C(L-B99A9384)).
  - Only reads; never reports a change.
author:
  - spillover.lambda_ecs maintainers (@spillover)
options:
  functions:
    description: The planned reservations, one per function.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name or ARN of the function.
        type: str
        required: true
      reserved_concurrency:
        description: The reserved concurrency it is to have, V(0) or more.
        type: int
        required: true
  minimum_unreserved:
    description: Concurrent executions the account must keep unreserved (Lambda's own floor is 100).
    type: int
    default: 100
notes:
  - Check mode is supported (the module only reads).
  - C(lambda:GetAccountSettings) has no resource-level permission (an IAM policy allows it on C(*));
    C(lambda:GetFunctionConcurrency) is on each function.
seealso:
  - module: spillover.lambda_ecs.lambda_reserved_concurrency
  - name: Lambda concurrency quotas
    description: Lambda quotas, concurrent executions.
    link: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Check that the app (10) and the scaler (1) fit the account's quota before deploying anything
  spillover.lambda_ecs.lambda_concurrency_check:
    functions:
      - {name: demo-app, reserved_concurrency: 10}
      - {name: demo-scaler, reserved_concurrency: 1}
"""

RETURN = r"""
account_limit:
  description: The account's concurrent executions quota in the region.
  returned: always
  type: int
  sample: 1000
unreserved:
  description: Concurrent executions no function reserves now.
  returned: always
  type: int
  sample: 990
unreserved_after:
  description: What the plan would leave unreserved.
  returned: always
  type: int
  sample: 989
reservations:
  description: Per planned function, what it reserves now and is to reserve.
  returned: always
  type: list
  elements: dict
  sample: [{name: demo-app, now: 10, wanted: 10}, {name: demo-scaler, now: 0, wanted: 1}]
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_client
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run_info
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_concurrency import account_concurrency
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_concurrency import plan
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_concurrency import reserved_now


def check_plan(client, params):
    """The plan's numbers; a SpilloverError (with them) when it does not fit."""
    wanted = [(item["name"], item["reserved_concurrency"]) for item in params["functions"]]
    negative = [name for name, value in wanted if value < 0]
    if negative:
        raise SpilloverError(f"reserved_concurrency must be 0 or more ({', '.join(negative)}).")
    limit, unreserved = account_concurrency(client)
    reservations = [(name, reserved_now(client, name), value) for name, value in wanted]
    after, refusal = plan(limit, unreserved, reservations, params["minimum_unreserved"])
    result = {
        "account_limit": limit,
        "unreserved": unreserved,
        "unreserved_after": after,
        "reservations": [{"name": name, "now": now, "wanted": value} for name, now, value in reservations],
    }
    if refusal:
        raise SpilloverError(refusal, **result)
    return result


def main():
    argument_spec = dict(
        functions=dict(
            type="list",
            elements="dict",
            required=True,
            options=dict(name=dict(type="str", required=True), reserved_concurrency=dict(type="int", required=True)),
        ),
        minimum_unreserved=dict(type="int", default=100),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    run_info(module, lambda: check_plan(aws_client(module, "lambda"), module.params))


if __name__ == "__main__":
    main()
