#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_capacity_providers_info
version_added: 0.1.0
short_description: Describe ECS capacity providers, such as the region's FARGATE and FARGATE_SPOT
description:
  - Describes capacity providers by name (C(DescribeCapacityProviders)) and says which of them the region does not
    offer. ECS lists its built-in C(FARGATE) and C(FARGATE_SPOT) providers in every region that offers them (a new
    account has them before it has any cluster), so this tells, without writing anything, whether a cluster with
    them can be created.
  - community.aws has no info module for capacity providers.
author:
  - spillover.lambda_ecs maintainers (@spillover)
options:
  names:
    description: Names (or ARNs) of the capacity providers.
    type: list
    elements: str
    default: [FARGATE, FARGATE_SPOT]
notes:
  - Check mode is supported (the module only reads).
seealso:
  - name: Fargate capacity providers
    description: AWS Fargate capacity providers.
    link: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-capacity-providers.html
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Find out whether the region offers Fargate and Fargate Spot
  spillover.lambda_ecs.ecs_capacity_providers_info:
  register: fargate

- name: Refuse a region without them
  ansible.builtin.assert:
    that: fargate.missing | length == 0
    fail_msg: This region does not offer {{ fargate.missing | join(', ') }}.
"""

RETURN = r"""
capacity_providers:
  description: The capacity providers found, as C(DescribeCapacityProviders) returns them (snake_case).
  returned: always
  type: list
  elements: dict
  sample:
    - name: FARGATE
      status: ACTIVE
      capacity_provider_arn: arn:aws:ecs:us-east-1:123456789012:capacity-provider/FARGATE
missing:
  description: The names asked for that the region has not (or not C(ACTIVE)).
  returned: always
  type: list
  elements: str
  sample: [FARGATE_SPOT]
"""

from functools import partial

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.transformation import camel_dict_to_snake_dict

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_call
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_client
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run_info


def describe(client, names):
    """``(providers, missing)``: the ACTIVE providers among ``names`` and the names without one."""
    answer = aws_call(
        "describe the capacity providers {}".format(", ".join(names)),
        partial(client.describe_capacity_providers, aws_retry=True, capacityProviders=list(names)),
    )
    providers = [provider for provider in answer.get("capacityProviders", []) if provider.get("status") == "ACTIVE"]
    found = {provider["name"] for provider in providers} | {provider["capacityProviderArn"] for provider in providers}
    return providers, [name for name in names if name not in found]


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(names=dict(type="list", elements="str", default=["FARGATE", "FARGATE_SPOT"])),
        supports_check_mode=True,
    )

    def read():
        providers, missing = describe(aws_client(module, "ecs"), module.params["names"])
        return {"capacity_providers": [camel_dict_to_snake_dict(p) for p in providers], "missing": missing}

    run_info(module, read)


if __name__ == "__main__":
    main()
