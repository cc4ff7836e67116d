#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: kms_key_usability_info
version_added: 0.1.0
short_description: Say whether a KMS key can encrypt a stack's log groups and functions' environment
description:
  - Reads one KMS key (C(DescribeKey), nothing else) with the caller's credentials and lists what keeps it from
    encrypting CloudWatch Logs log groups and Lambda environment variables in the connection's region, without
    failing. The preflight uses it to refuse a key before anything is created.
  - A key is refused when it does not exist, when the caller may not describe it, when it is not enabled (disabled,
    pending deletion or import, unavailable), when it is not a symmetric encryption key (C(KeySpec)
    C(SYMMETRIC_DEFAULT), whose only usage is C(ENCRYPT_DECRYPT); CloudWatch Logs and Lambda take no other), when it
    is an AWS managed key (its key policy cannot be changed to let CloudWatch Logs use it), or when it is of another
    region than the connection's (both services take a key of their own region only).
  - The key policy is not read (C(kms:GetKeyPolicy) is not the deployer's); CloudWatch Logs refuses the deploy's
    association when the policy does not allow the region's C(logs.REGION.amazonaws.com).
  - M(amazon.aws.kms_key_info) also lists aliases, grants, policies, tags and the rotation status, each a permission
    of its own.
author:
  - spillover.lambda_ecs maintainers (@spillover)
options:
  key_arn:
    description: The key's ARN, C(arn:aws:kms:REGION:ACCOUNT:key/ID).
    type: str
    required: true
notes:
  - Check mode is supported (the module only reads).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Read the key of the stack's log groups
  spillover.lambda_ecs.kms_key_usability_info:
    key_arn: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
  register: logs_key

- name: Refuse a key the deploy cannot use
  ansible.builtin.assert:
    that: logs_key.problems | length == 0
    fail_msg: "The key cannot be used: {{ logs_key.problems | join('; ') }}"
"""

RETURN = r"""
usable:
  description: Whether nothing keeps the key from encrypting the stack's logs and environment.
  returned: always
  type: bool
  sample: false
problems:
  description: What keeps the key from being used, one sentence each; empty when it can be.
  returned: always
  type: list
  elements: str
  sample: ["it is PendingDeletion (deletion on 2026-12-14 00:00:00+00:00), not Enabled: cancel its deletion"]
key:
  description: The key's metadata as C(DescribeKey) returns it (snake_case); empty when it could not be read.
  returned: always
  type: dict
  sample:
    arn: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
    key_state: Enabled
    key_usage: ENCRYPT_DECRYPT
    key_spec: SYMMETRIC_DEFAULT
    key_manager: CUSTOMER
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.transformation import camel_dict_to_snake_dict

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverErrorHandler
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_client
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run_info

# What each way of failing to read the key means to the deploy.
_UNREADABLE = {
    "NotFoundException": "it does not exist (in the connection's account and region)",
    "AccessDeniedException": (
        "the deploying principal may not describe it (kms:DescribeKey): the key policy or the deployer policy does "
        "not allow it, so the deploy could not use it either"
    ),
}


@SpilloverErrorHandler.common_error_handler("describe the KMS key")
def key_metadata(client, key_arn):
    """``(metadata, None)`` from DescribeKey, or ``(None, why)`` when the key is missing or may not be described."""
    try:
        return client.describe_key(aws_retry=True, KeyId=key_arn)["KeyMetadata"], None
    except is_boto3_error_code(list(_UNREADABLE)) as e:
        return None, _UNREADABLE[e.response["Error"]["Code"]]


def problems(metadata, region):
    """What keeps the key of ``metadata`` from encrypting log groups and environment variables in ``region``."""
    found = []
    state = metadata.get("KeyState")
    if state != "Enabled":
        deletion = metadata.get("DeletionDate")
        when = f" (deletion on {deletion})" if deletion else ""
        fix = "cancel its deletion and enable it" if state == "PendingDeletion" else "enable it"
        found.append(f"it is {state}{when}, not Enabled: {fix}")
    # A SYMMETRIC_DEFAULT key can only encrypt and decrypt (KMS has no other usage for it).
    spec = metadata.get("KeySpec") or metadata.get("CustomerMasterKeySpec")
    if spec != "SYMMETRIC_DEFAULT":
        found.append(
            f"it is a {spec} key for {metadata.get('KeyUsage')}: CloudWatch Logs and Lambda take only symmetric "
            "encryption keys (SYMMETRIC_DEFAULT)"
        )
    if metadata.get("KeyManager") == "AWS":
        found.append(
            "it is an AWS managed key, whose key policy cannot allow CloudWatch Logs: name a customer managed key"
        )
    key_region = metadata.get("Arn", "").split(":")[3:4]
    if key_region and key_region[0] != region:
        found.append(f"it is a key of {key_region[0]}, not of the stack's region {region}: name a key of {region}")
    return found


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(key_arn=dict(type="str", required=True, no_log=False)), supports_check_mode=True
    )

    def read():
        metadata, unreadable = key_metadata(aws_client(module, "kms"), module.params["key_arn"])
        found = [unreadable] if unreadable else problems(metadata, module.region)
        return {
            "usable": not found,
            "problems": found,
            "key": camel_dict_to_snake_dict(metadata or {}),
        }

    run_info(module, read)


if __name__ == "__main__":
    main()
