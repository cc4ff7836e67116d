#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: iam_managed_policy_info
version_added: 0.1.0
short_description: Read one IAM managed policy by its ARN, say whether it exists and whether it is current
description:
  - Reads a managed policy (C(GetPolicy)) by its ARN, the form IAM takes for a permissions boundary, and its default
    version's document (C(GetPolicyVersion)), and says whether it exists, without failing when it does not. The
    preflight uses it to refuse a permissions boundary that does not exist before anything is created.
  - With O(policy), it also says whether the default version grants exactly that document (the order of statements,
    actions and resources aside), so C(site.yml) can check, reading only, that the stack's boundary is current.
  - amazon.aws has no info module for managed policies; its M(amazon.aws.iam_managed_policy) finds them by name.
author:
  - spillover.lambda_ecs maintainers (@spillover)
options:
  arn:
    description: The ARN of the managed policy, for example C(arn:aws:iam::123456789012:policy/boundary).
    type: str
    required: true
  policy:
    description: The document the policy should have; RV(current) compares its default version with it.
    type: json
notes:
  - Check mode is supported (the module only reads).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Read the permissions boundary the user named
  spillover.lambda_ecs.iam_managed_policy_info:
    arn: arn:aws:iam::123456789012:policy/org-boundary
  register: boundary

- name: Refuse a boundary that does not exist
  ansible.builtin.assert:
    that: boundary.exists
    fail_msg: The permissions boundary does not exist.

- name: Check that the stack's boundary grants what it should
  spillover.lambda_ecs.iam_managed_policy_info:
    arn: arn:aws:iam::123456789012:policy/shop-boundary
    policy: "{{ boundary_document | to_json }}"
  register: stack_boundary
"""

RETURN = r"""
exists:
  description: Whether the account has the policy.
  returned: always
  type: bool
  sample: true
policy:
  description: The policy as C(GetPolicy) returns it (snake_case); empty when it does not exist.
  returned: always
  type: dict
  sample:
    policy_name: org-boundary
    arn: arn:aws:iam::123456789012:policy/org-boundary
    default_version_id: v1
    attachment_count: 0
    permissions_boundary_usage_count: 3
document:
  description: The default version's policy document, as written (keys not converted); empty when it does not exist.
  returned: always
  type: dict
  sample:
    Version: "2012-10-17"
    Statement: [{Effect: Allow, Action: ["logs:PutLogEvents"], Resource: "*"}]
current:
  description: Whether the policy exists and its default version grants exactly O(policy).
  returned: when O(policy) is given
  type: bool
  sample: true
"""

import json

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.policy import compare_policies
from ansible_collections.amazon.aws.plugins.module_utils.transformation import camel_dict_to_snake_dict

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverErrorHandler
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_client
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run_info


@SpilloverErrorHandler.common_error_handler("read the managed policy")
def managed_policy(client, arn):
    """The policy ``arn`` as GetPolicy returns it; None when the account has no such policy."""
    try:
        return client.get_policy(aws_retry=True, PolicyArn=arn)["Policy"]
    except is_boto3_error_code("NoSuchEntity"):
        return None


@SpilloverErrorHandler.common_error_handler("read the managed policy's default version")
def default_document(client, policy):
    """The document of ``policy``'s default version (botocore decodes it from IAM's URL-encoded JSON)."""
    version = client.get_policy_version(aws_retry=True, PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])[
        "PolicyVersion"
    ]
    return version["Document"]


def read_policy(client, arn, wanted=None):
    """The module's result for the policy ``arn``; ``wanted``: the document it should have (a dict), or None."""
    policy = managed_policy(client, arn)
    document = default_document(client, policy) if policy else {}
    result = {
        "exists": policy is not None,
        "policy": camel_dict_to_snake_dict(policy or {}, ignore_list=["Tags"]),
        "document": document,
    }
    if wanted is not None:
        result["current"] = policy is not None and not compare_policies(document, wanted)
    return result


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(arn=dict(type="str", required=True), policy=dict(type="json")), supports_check_mode=True
    )

    def read():
        wanted = module.params["policy"]
        return read_policy(
            aws_client(module, "iam"), module.params["arn"], json.loads(wanted) if wanted is not None else None
        )

    run_info(module, read)


if __name__ == "__main__":
    main()
