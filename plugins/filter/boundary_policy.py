# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: boundary_policy
short_description: The permissions boundary of the IAM roles of one spillover stack
version_added: 0.1.0
author: spillover.lambda_ecs contributors
description:
  - The union of what the stack's three roles' own policies grant, scoped as tightly as they are. The app function's,
    the tasks' and the scaler's logs; the task execution role's pull of the stack's image; the scaler's reads of its
    alarms, its scaling of the stack's ECS service, its moves of the load balancer's forward weights and its one tag
    (C(spillover:last-move)) on them, and its read of the app function's reserved concurrency. The reads AWS
    authorizes on C(*) only are in a statement whose C(Sid) says so. Nothing of IAM.
  - With C(network_flow_logs=cloud-watch-logs), the flow logs role's delivery to its log group too.
  - An administrator creates it as the managed policy C(<stack>-boundary) (C(playbooks/deployer_bootstrap.yml)), and
    site.yml creates the roles with it, after checking that it grants exactly this
    (C(playbooks/tasks/permissions_boundary.yml)). The deployer policy lets the deployer create or change the roles
    only with it, and only read it, so whatever policy the deployer puts on a role, the role may do no more than this.
options:
  _input:
    description: The input of C(spillover.lambda_ecs.deployer_policy).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Create the boundary of the stack's roles, from an administrator's session
  amazon.aws.iam_managed_policy:
    name: "{{ spillover_stack_name }}-boundary"
    policy: "{{ deployer_policy_input | spillover.lambda_ecs.boundary_policy | to_json }}"
"""

RETURN = r"""
_value:
  description: An IAM policy document (C(Version) and C(Statement)), ready for C(to_json).
  type: dict
"""

# Built with the deployer policy, from the same input: one place names the stack's resources.
from ansible_collections.spillover.lambda_ecs.plugins.filter.deployer_policy import boundary_policy


class FilterModule:
    """spillover.lambda_ecs filters."""

    def filters(self):
        return {"boundary_policy": boundary_policy}
