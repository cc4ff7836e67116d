#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecr_authorization_token
version_added: 0.1.0
short_description: Get a login for the Amazon ECR registry of the account
description:
  - Calls C(GetAuthorizationToken) and returns the registry endpoint, the user name (C(AWS)) and the password an OCI
    client (C(docker login), C(podman login), C(buildah login)) or the registry HTTP API (Basic authentication) needs.
  - The token is valid for 12 hours. The module only reads; it never reports a change.
  - Neither M(community.aws.ecs_ecr) nor amazon.aws has a module for it.
author:
  - spillover.lambda_ecs maintainers (@spillover)
options: {}
notes:
  - Check mode is supported (the call is made in check mode too; it changes nothing).
  - The returned password and token are secrets (returned in clear so that later tasks can use them), so set C(no_log)
    on the task and on the tasks that use them.
  - C(ecr:GetAuthorizationToken) has no resource-level permission; an IAM policy allows it on C(*).
seealso:
  - module: community.aws.ecs_ecr
  - name: ECR registry authentication
    description: Private registry authentication in Amazon ECR.
    link: https://docs.aws.amazon.com/AmazonECR/latest/userguide/registry_auth.html
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Get a login for the account's registry
  spillover.lambda_ecs.ecr_authorization_token:
  register: ecr_login
  no_log: true

- name: Log podman in to the registry
  ansible.builtin.command:
    argv: [podman, login, --username, "{{ ecr_login.username }}", --password-stdin, "{{ ecr_login.registry }}"]
    stdin: "{{ ecr_login.password }}"
  no_log: true
  changed_when: false
"""

RETURN = r"""
registry:
  description: Host name of the registry, without scheme.
  returned: success
  type: str
  sample: 123456789012.dkr.ecr.us-east-1.amazonaws.com
proxy_endpoint:
  description: The registry endpoint as ECR returns it, with scheme.
  returned: success
  type: str
  sample: https://123456789012.dkr.ecr.us-east-1.amazonaws.com
username:
  description: User name of the login, always C(AWS).
  returned: success
  type: str
  sample: AWS
password:
  description: Password of the login.
  returned: success
  type: str
  sample: eyJwYXlsb2FkIjoi...
authorization_token:
  description: Base64 of C(username:password), ready for an HTTP C(Authorization) header of type C(Basic).
  returned: success
  type: str
  sample: QVdTOmV5SndZWGxzYjJGa0lqb2k=
expires_at:
  description: When the token expires, ISO 8601.
  returned: success
  type: str
  sample: "2026-11-29T05:27:13+00:00"
"""

import base64

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_call
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_client
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run_info


def login_from(data):
    """The login of one authorizationData entry of GetAuthorizationToken."""
    token = data["authorizationToken"]
    username, _sep, password = base64.b64decode(token).decode("utf-8").partition(":")
    endpoint = data.get("proxyEndpoint", "")
    expires = data.get("expiresAt")
    return {
        "registry": endpoint.split("://", 1)[-1].rstrip("/"),
        "proxy_endpoint": endpoint,
        "username": username,
        "password": password,
        "authorization_token": token,
        "expires_at": expires.isoformat() if hasattr(expires, "isoformat") else str(expires or ""),
    }


def registry_login(client):
    """The login of the account's default registry, from one GetAuthorizationToken call."""
    response = aws_call("get an ECR authorization token", lambda: client.get_authorization_token(aws_retry=True))
    entries = response.get("authorizationData") or []
    if not entries:
        raise SpilloverError("ECR returned no authorization data")
    return login_from(entries[0])


def main():
    module = AnsibleAWSModule(argument_spec={}, supports_check_mode=True)
    run_info(module, lambda: registry_login(aws_client(module, "ecr")))


if __name__ == "__main__":
    main()
