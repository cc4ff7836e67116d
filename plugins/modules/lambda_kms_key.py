#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: lambda_kms_key
version_added: 0.1.0
short_description: Set the KMS key that encrypts one Lambda function's environment variables
description:
  - Sets the customer managed KMS key of an existing function's environment (C(KMSKeyArn) of
    C(UpdateFunctionConfiguration)), or hands the environment back to Lambda's own key when O(kms_key_arn) is empty,
    and makes no call that writes when the function already has that key.
  - M(amazon.aws.lambda) sends its O(amazon.aws.lambda#module:kms_key_arn) with every update, so a function with a key
    would be reported changed on every run; this module compares first.
  - Lambda creates a grant on the key with the caller's permissions, so the caller needs C(kms:CreateGrant) and
    C(kms:Encrypt) on the key to set it, and C(kms:Decrypt) to read the variables back (through Lambda).
author:
  - spillover.lambda_ecs maintainers (@spillover)
options:
  function_name:
    description: The function's name or ARN; it must exist.
    type: str
    required: true
    aliases: [name]
  kms_key_arn:
    description:
      - The ARN of a symmetric customer managed KMS key of the function's region
        (C(arn:aws:kms:REGION:ACCOUNT:key/ID)).
      - Empty, Lambda's own key (C(aws/lambda)).
    type: str
    default: ""
notes:
  - Check mode and diff mode are supported.
  - The module waits for an update in progress to end before it writes, and for its own update to end after.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Encrypt the function's environment with the stack's key
  spillover.lambda_ecs.lambda_kms_key:
    function_name: shop-prod-app
    kms_key_arn: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
"""

RETURN = r"""
function_name:
  description: The function, as given.
  returned: always
  type: str
  sample: shop-prod-app
kms_key_arn:
  description:
    - The key of the function's environment after the run (in check mode, as it would be); empty for Lambda's own.
  returned: always
  type: str
  sample: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
previous_kms_key_arn:
  description: The key before the run; empty for Lambda's own.
  returned: always
  type: str
  sample: ""
diff:
  description: The key before and after, in diff mode.
  returned: when diff mode is on
  type: dict
  sample: {before: {kms_key_arn: ""}, after: {kms_key_arn: "arn:aws:kms:us-east-1:123456789012:key/1234abcd"}}
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverErrorHandler
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_call
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_client
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run


@SpilloverErrorHandler.common_error_handler("read the function's configuration")
def function_configuration(client, name):
    """GetFunctionConfiguration of ``name``; None when the function does not exist."""
    try:
        return client.get_function_configuration(aws_retry=True, FunctionName=name)
    except is_boto3_error_code("ResourceNotFoundException"):
        return None


def ensure_kms_key(client, params, check_mode):
    """Give the function's environment the key of ``params``; returns ``(changed, before, after)``."""
    name, wanted = params["function_name"], params["kms_key_arn"] or ""
    configuration = function_configuration(client, name)
    if configuration is None:
        raise SpilloverError(f"Lambda function {name} does not exist; create it before setting its KMS key.")
    before = configuration.get("KMSKeyArn") or ""
    if before == wanted:
        return False, before, before
    if not check_mode:
        waiter = client.get_waiter("function_updated")
        aws_call(f"wait for the update in progress of {name}", lambda: waiter.wait(FunctionName=name))
        key = wanted or "Lambda's own"
        aws_call(
            f"set the KMS key of the environment of {name} to {key} (the caller needs "
            "kms:CreateGrant, kms:Encrypt and kms:Decrypt on the key)",
            lambda: client.update_function_configuration(aws_retry=True, FunctionName=name, KMSKeyArn=wanted),
        )
        aws_call(f"wait for the update of {name}", lambda: waiter.wait(FunctionName=name))
    return True, before, wanted


def main():
    argument_spec = dict(
        function_name=dict(type="str", required=True, aliases=["name"]),
        kms_key_arn=dict(type="str", default="", no_log=False),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)

    def work():
        changed, before, after = ensure_kms_key(aws_client(module, "lambda"), module.params, module.check_mode)
        result = dict(function_name=module.params["function_name"], kms_key_arn=after, previous_kms_key_arn=before)
        return changed, result, dict(before=dict(kms_key_arn=before), after=dict(kms_key_arn=after))

    run(module, work)


if __name__ == "__main__":
    main()
