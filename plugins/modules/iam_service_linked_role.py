#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: iam_service_linked_role
version_added: 0.1.0
short_description: Make sure the service-linked role of an AWS service exists in the account
description:
  - Some AWS services act in the account through a service-linked role (ECS through C(AWSServiceRoleForECS)). A
    fresh account does not have it, and the first C(CreateCluster) or C(CreateService) there can fail with
    C(Unable to assume the service linked role).
  - This module finds the service's role (C(ListRoles) under the service's path C(/aws-service-role/<service>/)),
    and creates it (C(CreateServiceLinkedRole)) when the account has none. A role that already exists, or that
    another caller created meanwhile (IAM answers that the name C(has been taken)), is no change.
  - It never deletes the role; the role belongs to the account and every ECS cluster of it uses it.
  - Neither amazon.aws nor community.aws has a module for it.
author:
  - spillover.lambda_ecs maintainers (@spillover)
options:
  aws_service_name:
    description:
      - The service principal, for example V(ecs.amazonaws.com) or V(elasticloadbalancing.amazonaws.com).
    type: str
    required: true
  description:
    description: Description of a role the module creates.
    type: str
notes:
  - Check mode and diff mode are supported.
  - Needs C(iam:ListRoles) (it has no resource-level permission, so on C(*)) and, to create the role,
    C(iam:CreateServiceLinkedRole) on the role's ARN with the condition C(iam:AWSServiceName).
  - A newly created role can take some seconds before the service can assume it; retry the service's first call
    (the ecs_service role does).
seealso:
  - name: Service-linked role for Amazon ECS
    description: Using service-linked roles for Amazon ECS.
    link: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using-service-linked-roles.html
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Make sure ECS may act in the account (a fresh account has no AWSServiceRoleForECS)
  spillover.lambda_ecs.iam_service_linked_role:
    aws_service_name: ecs.amazonaws.com
"""

RETURN = r"""
role_name:
  description: Name of the service-linked role; C(null) in check mode when it would be created.
  returned: always
  type: str
  sample: AWSServiceRoleForECS
arn:
  description: ARN of the service-linked role; C(null) in check mode when it would be created.
  returned: always
  type: str
  sample: arn:aws:iam::123456789012:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS
created:
  description: Whether this run created the role (in check mode, would create it).
  returned: always
  type: bool
  sample: false
"""

import re

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverErrorHandler
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_client
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run

SERVICE_NAME = re.compile(r"^[a-z0-9.-]+\.amazonaws\.com$")


@AWSRetry.jittered_backoff()
def _roles_under(client, path):
    return client.get_paginator("list_roles").paginate(PathPrefix=path).build_full_result()["Roles"]


@SpilloverErrorHandler.common_error_handler("list the service-linked roles of {service}")
def find_role(client, service):
    """The service's service-linked role as ListRoles returns it, or None when the account has none."""
    roles = _roles_under(client, f"/aws-service-role/{service}/")
    return roles[0] if roles else None


@SpilloverErrorHandler.common_error_handler("create the service-linked role of {service}")
def create_role(client, service, description):
    """Create the role; None when IAM says another caller created it meanwhile."""
    request = {"AWSServiceName": service, "aws_retry": True}
    if description:
        request["Description"] = description
    try:
        return client.create_service_linked_role(**request)["Role"]
    except is_boto3_error_code(["InvalidInput", "EntityAlreadyExists"]) as e:
        # AWS: InvalidInput "Service role name ... has been taken in this account"; moto: EntityAlreadyExists.
        if "taken" in str(e) or "already exists" in str(e):
            return None
        raise
    except is_boto3_error_code("AccessDenied") as e:
        raise SpilloverError(
            f"The account has no service-linked role for {service} and this principal may not create it. Grant "
            f"iam:CreateServiceLinkedRole on arn:aws:iam::<account>:role/aws-service-role/{service}/* with the "
            f"condition iam:AWSServiceName {service} (the deployer policy has it), or have an administrator run "
            f"'aws iam create-service-linked-role --aws-service-name {service}' once for the account.",
            exception=e,
        ) from e


def ensure_role(client, params, check_mode):
    """``(changed, result)``: the service's role, created when missing."""
    service = params["aws_service_name"]
    if not SERVICE_NAME.match(service):
        raise SpilloverError(f"aws_service_name must be a service principal such as ecs.amazonaws.com, got {service}")
    role = find_role(client, service)
    created = role is None
    if created and not check_mode:
        role = create_role(client, service, params["description"])
        if role is None:  # created by another caller meanwhile
            created, role = False, find_role(client, service)
    result = {
        "role_name": role["RoleName"] if role else None,
        "arn": role["Arn"] if role else None,
        "created": created,
    }
    return created, result


def main():
    argument_spec = dict(
        aws_service_name=dict(type="str", required=True),
        description=dict(type="str"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)

    def work():
        changed, result = ensure_role(aws_client(module, "iam"), module.params, module.check_mode)
        return changed, result, {"before": {"exists": not changed}, "after": {"exists": True}}

    run(module, work)


if __name__ == "__main__":
    main()
