# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: deployer_policy_parts
short_description: The deployer policy of one spillover stack, in managed policies that each fit IAM's limit
version_added: 0.1.0
author: spillover.lambda_ecs contributors
description:
  - The statements of C(spillover.lambda_ecs.deployer_policy), in order, in as few policy documents as hold them with
    at most 6,144 characters each (whitespace left out), IAM's limit of a managed policy.
  - A role's inline policies hold 10,240 characters in all, less than the whole policy of a stack with a long name.
    Create each part as a managed policy and attach them all to the deployment role (10 per role by default).
options:
  _input:
    description: The input of C(spillover.lambda_ecs.deployer_policy).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Write each part of the stack's deployer policy
  ansible.builtin.copy:
    content: "{{ item | to_nice_json }}"
    dest: build/{{ spillover_stack_name }}-deployer-policy-{{ index + 1 }}.json
    mode: "0644"
  loop: "{{ deployer_policy_input | spillover.lambda_ecs.deployer_policy_parts }}"
  loop_control:
    index_var: index
"""

RETURN = r"""
_value:
  description: IAM policy documents (C(Version) and C(Statement)), each ready for C(to_json).
  type: list
  elements: dict
"""

# The deployer policy's own statements, split: one place builds them.
from ansible_collections.spillover.lambda_ecs.plugins.filter.deployer_policy import deployer_policy_parts


class FilterModule:
    """spillover.lambda_ecs filters."""

    def filters(self):
        return {"deployer_policy_parts": deployer_policy_parts}
