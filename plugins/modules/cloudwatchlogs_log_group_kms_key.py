#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: cloudwatchlogs_log_group_kms_key
version_added: 0.1.0
short_description: Set or remove the KMS key that encrypts one CloudWatch Logs log group
description:
  - Associates a KMS key with an existing log group (C(AssociateKmsKey)), or removes the association
    (C(DisassociateKmsKey)) when O(kms_key_arn) is empty, and does nothing when the group already has that key.
  - M(amazon.aws.cloudwatchlogs_log_group) sets a key only when it creates a group; this module keeps the key of a
    group that exists as declared, so naming a key encrypts the logs of a stack deployed before, and leaving it out
    again hands the group back to CloudWatch Logs' own encryption.
  - Only the log events ingested after a change are encrypted with the new key; the earlier ones stay encrypted with
    the key they were written with, which CloudWatch Logs keeps using to read them (do not delete or disable it while
    they are kept).
  - The key policy must let the region's CloudWatch Logs principal (C(logs.REGION.amazonaws.com)) use the key for
    the log group, or CloudWatch Logs refuses the association.
author:
  - spillover.lambda_ecs maintainers (@spillover)
options:
  log_group_name:
    description: The log group, which must exist.
    type: str
    required: true
  kms_key_arn:
    description:
      - The ARN of a symmetric customer managed KMS key of the log group's region
        (C(arn:aws:kms:REGION:ACCOUNT:key/ID)).
      - Empty, the group has no key of its own (CloudWatch Logs' default encryption).
    type: str
    default: ""
notes:
  - Check mode and diff mode are supported.
  - CloudWatch Logs may take up to five minutes to apply a change to new log events.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Encrypt the function's logs with the stack's key
  spillover.lambda_ecs.cloudwatchlogs_log_group_kms_key:
    log_group_name: /aws/lambda/shop-prod-app
    kms_key_arn: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab

- name: Back to CloudWatch Logs' own encryption
  spillover.lambda_ecs.cloudwatchlogs_log_group_kms_key:
    log_group_name: /aws/lambda/shop-prod-app
    kms_key_arn: ""
"""

RETURN = r"""
log_group_name:
  description: The log group, as given.
  returned: always
  type: str
  sample: /aws/lambda/shop-prod-app
kms_key_arn:
  description: The group's key after the run (in check mode, as it would be); empty for none.
  returned: always
  type: str
  sample: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
previous_kms_key_arn:
  description: The group's key before the run; empty for none.
  returned: always
  type: str
  sample: ""
diff:
  description: The key before and after, in diff mode.
  returned: when diff mode is on
  type: dict
  sample: {before: {kms_key_arn: ""}, after: {kms_key_arn: "arn:aws:kms:us-east-1:123456789012:key/1234abcd"}}
"""

from functools import partial

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_call
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_client
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run


def log_group(client, name):
    """The log group ``name`` as DescribeLogGroups returns it; None when it does not exist."""
    groups = aws_call(
        f"describe the log group {name}",
        lambda: client.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name).build_full_result(),
    )
    return next((group for group in groups.get("logGroups", []) if group["logGroupName"] == name), None)


def ensure_kms_key(client, params, check_mode):
    """Give the log group the key of ``params``; returns ``(changed, before, after)``, each an ARN or ``""``."""
    name, wanted = params["log_group_name"], params["kms_key_arn"] or ""
    group = log_group(client, name)
    if group is None:
        raise SpilloverError(f"Log group {name} does not exist; create it before setting its KMS key.")
    before = group.get("kmsKeyId") or ""
    if before == wanted:
        return False, before, before
    if not check_mode:
        if wanted:
            write = partial(client.associate_kms_key, aws_retry=True, logGroupName=name, kmsKeyId=wanted)
            description = (
                f"associate the KMS key {wanted} with the log group {name} (the key must be enabled, symmetric, of "
                "the group's region, and its key policy must allow the region's logs.REGION.amazonaws.com)"
            )
        else:
            write = partial(client.disassociate_kms_key, aws_retry=True, logGroupName=name)
            description = f"remove the KMS key of the log group {name}"
        aws_call(description, write)
    return True, before, wanted


def main():
    argument_spec = dict(
        log_group_name=dict(type="str", required=True),
        kms_key_arn=dict(type="str", default="", no_log=False),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)

    def work():
        changed, before, after = ensure_kms_key(aws_client(module, "logs"), module.params, module.check_mode)
        result = dict(log_group_name=module.params["log_group_name"], kms_key_arn=after, previous_kms_key_arn=before)
        return changed, result, dict(before=dict(kms_key_arn=before), after=dict(kms_key_arn=after))

    run(module, work)


if __name__ == "__main__":
    main()
