#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: wafv2_web_acl_association
version_added: 0.1.0
short_description: Associate a regional AWS WAF web ACL, by its ARN, with an Application Load Balancer
description:
  - Reads the web ACL associated with the resource (C(GetWebACLForResource)) and associates the one named by
    O(web_acl_arn) (C(AssociateWebACL)) when it is not that one; AWS replaces the web ACL associated before.
  - With O(state=absent), removes the resource's association (C(DisassociateWebACL)), whatever web ACL it is.
  - M(community.aws.wafv2_resources) finds the web ACL by name and scope with C(ListWebACLs); this module takes its
    ARN and checks it before any call. A load balancer takes only a web ACL of scope C(REGIONAL) in its own region
    and account.
author:
  - spillover.lambda_ecs maintainers (@spillover)
options:
  resource_arn:
    description:
      - ARN of the Application Load Balancer.
    type: str
    required: true
  web_acl_arn:
    description:
      - ARN of the web ACL, C(arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>). Required with
        O(state=present).
    type: str
  state:
    description:
      - V(present) associates O(web_acl_arn); V(absent) removes any association.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Check mode and diff mode are supported.
  - Needs C(wafv2:GetWebACLForResource) and C(wafv2:GetWebACL) on the web ACL, C(wafv2:GetWebACLForResource),
    C(wafv2:AssociateWebACL) (or C(wafv2:DisassociateWebACL)) on the web ACL and the load balancer, and
    C(elasticloadbalancing:SetWebAcl), which has no resource-level permission.
seealso:
  - module: community.aws.wafv2_resources
  - name: AssociateWebACL
    description: The AWS WAF API call.
    link: https://docs.aws.amazon.com/waf/latest/APIReference/API_AssociateWebACL.html
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Put the load balancer behind the shop's web ACL
  spillover.lambda_ecs.wafv2_web_acl_association:
    resource_arn: arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop/0123456789abcdef
    web_acl_arn: arn:aws:wafv2:us-east-1:123456789012:regional/webacl/shop/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111
"""

RETURN = r"""
web_acl_arn:
  description: ARN of the web ACL associated with the resource after the run (in check mode, as it would be), or
    C(null) when none is.
  returned: always
  type: str
  sample: arn:aws:wafv2:us-east-1:123456789012:regional/webacl/shop/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111
diff:
  description: The associated web ACL's ARN, before and after, in diff mode.
  returned: when diff mode is on
  type: dict
  sample:
    before: {"web_acl_arn": null}
    after: {"web_acl_arn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/shop/a1b2c3d4"}
"""

from ansible_collections.amazon.aws.plugins.module_utils.arn import parse_aws_arn
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_call
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_client
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run


def web_acl_problem(web_acl_arn, resource_arn):
    """Why ``web_acl_arn`` cannot be associated with the load balancer ``resource_arn``, or None."""
    resource = parse_aws_arn(resource_arn or "")
    if resource is None or resource["service"] != "elasticloadbalancing" or resource["resource_type"] != "loadbalancer":
        return f"resource_arn must be the ARN of an Application Load Balancer, got {resource_arn!r}"
    acl = parse_aws_arn(web_acl_arn or "")
    parts = (acl["resource"] or "").split("/") if acl else []
    if acl is None or acl["service"] != "wafv2" or len(parts) != 4 or parts[1] != "webacl" or not all(parts):
        return (
            "web_acl_arn must be the ARN of an AWS WAF web ACL, "
            f"arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>, got {web_acl_arn!r}"
        )
    if parts[0] != "regional":
        return (
            f"web_acl_arn {web_acl_arn} is a web ACL of scope {parts[0]}: a load balancer takes only a REGIONAL one "
            "(arn:aws:wafv2:<region>:<account>:regional/webacl/...)"
        )
    where = (acl["partition"], acl["region"], acl["account_id"])
    if where != (resource["partition"], resource["region"], resource["account_id"]):
        return (
            f"web_acl_arn {web_acl_arn} is in {acl['region']}, account {acl['account_id']}: the load balancer is in "
            f"{resource['region']}, account {resource['account_id']}, and takes a web ACL of its own region and account"
        )
    return None


def associated(client, resource_arn):
    """ARN of the web ACL associated with the resource, or None."""
    found = aws_call(
        f"read the web ACL of {resource_arn}",
        lambda: client.get_web_acl_for_resource(aws_retry=True, ResourceArn=resource_arn),
    )
    return (found.get("WebACL") or {}).get("ARN")


def ensure_association(client, params, check_mode):
    """``(changed, result, diff)``: the resource associated with ``web_acl_arn``, or with none."""
    resource_arn, wanted = params["resource_arn"], params["web_acl_arn"] if params["state"] == "present" else None
    problem = web_acl_problem(wanted, resource_arn) if params["state"] == "present" else None
    if problem:
        raise SpilloverError(problem)
    before = associated(client, resource_arn)
    changed = before != wanted
    if changed and not check_mode:
        if wanted:
            aws_call(
                f"associate web ACL {wanted} with {resource_arn}",
                lambda: client.associate_web_acl(aws_retry=True, WebACLArn=wanted, ResourceArn=resource_arn),
                {"WAFNonexistentItemException": f"web ACL {wanted} does not exist; create it or fix web_acl_arn."},
            )
        else:
            aws_call(
                f"remove the web ACL of {resource_arn}",
                lambda: client.disassociate_web_acl(aws_retry=True, ResourceArn=resource_arn),
            )
    return changed, {"web_acl_arn": wanted}, {"before": {"web_acl_arn": before}, "after": {"web_acl_arn": wanted}}


def main():
    argument_spec = dict(
        resource_arn=dict(type="str", required=True),
        web_acl_arn=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        required_if=[("state", "present", ["web_acl_arn"])],
        supports_check_mode=True,
    )
    run(module, lambda: ensure_association(aws_client(module, "wafv2"), module.params, module.check_mode))


if __name__ == "__main__":
    main()
