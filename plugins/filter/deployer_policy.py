# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: deployer_policy
short_description: Least-privilege IAM policy document of the role that deploys one spillover stack
version_added: 0.1.0
author: spillover.lambda_ecs contributors
description:
  - Builds the IAM policy document a deployment role needs to run C(playbooks/preflight.yml), C(site.yml),
    C(status.yml), C(shift.yml) and C(teardown.yml) for one stack, from the names the roles give the stack's
    resources (their C(names) entry points; C(playbooks/deployer_policy.yml) prints it for each inventory host).
  - Every action is scoped to the stack's own resources by name where AWS has a resource type for it (functions,
    roles, log groups, the cluster, service and task definition family, the load balancer, its listeners, rules and
    target groups, the repository, the alarms, the rules and the dashboard). Actions AWS authorizes on C(*) only (the
    C(Describe*) of EC2 and ELB, C(iam:ListRoles), C(lambda:GetAccountSettings), C(ecr:GetAuthorizationToken) ...)
    are in statements whose C(Sid) says so.
  - The deployer cannot escalate through the stack's roles. It may create them, put and delete their inline
    policies and set their permissions boundary only with the stack's boundary (C(iam:PermissionsBoundary) equal to
    the boundary's ARN, the policy C(boundary_policy) describes or the one O(_input.permissions_boundary.arn)
    names), so no policy it writes gives a role more than the boundary allows. It has no
    C(iam:DeleteRolePermissionsBoundary), no C(iam:AttachRolePolicy) and no C(iam:UpdateAssumeRolePolicy) (IAM has
    no boundary key for it; a trust policy that changes needs an administrator once). It writes no IAM policy at
    all, the boundary included; it may only read it (C(iam:GetPolicy), C(iam:GetPolicyVersion)), which an
    administrator creates (C(playbooks/deployer_bootstrap.yml)) or names.
  - C(iam:PassRole) is granted on the stack's three roles only, each with the C(iam:PassedToService) it is passed
    to; C(iam:CreateServiceLinkedRole) only for ECS and Elastic Load Balancing, with C(iam:AWSServiceName);
    C(lambda:AddPermission) only for the principal each function is wired to (C(lambda:Principal)
    C(elasticloadbalancing.amazonaws.com) for the app function, C(events.amazonaws.com) for the scaler).
  - EC2 names resources by IDs that do not exist before the stack, so its writes are the stack's by the tag
    C(spillover:stack) every role sets. Creates only with the tag requested (C(aws:RequestTag/spillover:stack)),
    tagging by request only as part of a create (C(ec2:CreateAction)), and every change, tag change and delete only
    on a resource that carries the tag (C(ec2:ResourceTag/spillover:stack)); security groups, subnets and route
    tables only in the VPC the stack names or in one that carries its tag.
  - The VPC's own statements (create, route, delete) are there only when the stack creates its VPC.
  - The network role's paid options add their own statements only when set. VPC flow logs (C(network.flow_logs)) of
    the stack's VPC, the flow log created with the stack's tag and deleted only if it carries it; to CloudWatch Logs
    with the flow logs role (created only with the boundary; passed without C(iam:PassedToService), for which the
    VPC user guide documents no value, while its trust lets only the flow logs service of the account assume it) and
    its log group, or to S3 (C(logs:CreateLogDelivery), on C(*) only). Private subnets (C(network.private_subnets))
    add the NAT gateway and its Elastic IP, created with the stack's tag, in the stack's subnet. A named VPC adds
    C(ec2:DescribeVpcEndpoints) for the preflight's route check.
  - The whole policy is longer than a role's inline policies may be (10,240 characters) for a long stack name;
    the C(deployer_policy_parts) filter splits it into managed policies of at most 6,144 characters each.
  - With O(_input.deployer_role_arn), the role may also simulate its own permissions (C(iam:SimulatePrincipalPolicy),
    which the preflight uses) and read itself (C(iam:GetRole)).
  - Every problem of the input is reported in one error.
options:
  _input:
    description: The stack's account, region and the names its roles publish.
    type: dict
    required: true
    suboptions:
      account_id:
        description: The 12-digit AWS account ID (a string, so leading zeros survive).
        type: str
        required: true
      region:
        description: The AWS region, for example C(us-east-1).
        type: str
        required: true
      partition:
        description: The AWS partition.
        type: str
        default: aws
      network:
        description: >-
          C(network__names) (C(stack), the value of the C(spillover:stack) tag, C(alb_security_group),
          C(task_security_group), C(vpc), C(create_vpc); optionally C(flow_logs), C(flow_logs_role),
          C(flow_logs_log_group), C(private_subnets)).
        type: dict
        required: true
      ecr_push:
        description: C(ecr_push__names) (C(repository)).
        type: dict
        required: true
      lambda_function:
        description: C(lambda_function__names) (C(function), C(target_group), C(role), C(log_group)).
        type: dict
        required: true
      ecs_service:
        description: >-
          C(ecs_service__names) (C(cluster), C(service), C(target_group), C(task_family), C(task_execution_role),
          C(log_group)).
        type: dict
        required: true
      alb:
        description: >-
          C(alb__names) (C(load_balancer); C(access_logs), C(access_logs_bucket) and C(web_acl_arn), when set, add
          the access logs bucket the role creates and the WAF association).
        type: dict
        required: true
      alarms:
        description: The stack's alarm names (C(alarm__spill_alarm_names) and C(alarm__warm_alarm_names)).
        type: list
        elements: str
        required: true
      scaler:
        description: C(scaler__names) (C(function), C(log_group), C(role)).
        type: dict
        required: true
      eventbridge:
        description: C(eventbridge__names) (C(rules)).
        type: dict
        required: true
      dashboard:
        description: C(dashboard__names) (C(dashboard)).
        type: dict
        required: true
      deployer_role_arn:
        description: The deployment role itself, which the preflight lets simulate its own permissions.
        type: str
      permissions_boundary:
        description: >-
          C(spillover__permissions_boundary) (playbooks/tasks/names.yml), the permissions boundary of the stack's
          roles: C(name), of the stack's managed policy (which C(playbooks/deployer_bootstrap.yml) creates), and C(arn),
          of the user's own boundary (C(spillover_permissions_boundary_arn); empty for the stack's).
        type: dict
        required: true
      kms_keys:
        description: >-
          The customer managed KMS keys the stack names (each an ARN, or empty for none): C(logs), of its log groups
          (C(spillover_logs_kms_key_arn)), and C(lambda_environment), of its functions' environment variables
          (C(spillover_lambda_environment_kms_key_arn)). The deployer may describe each (the preflight), associate
          the first with the stack's log groups, and use the second only through Lambda (C(kms:ViaService)).
        type: dict
"""

EXAMPLES = r"""
# playbooks/deployer_policy.yml prints it (in parts, with the roles' boundary) for each inventory host, without any
# AWS call.
- name: Create the deployer policy's parts as managed policies, from an administrator's session
  amazon.aws.iam_managed_policy:
    name: spillover-deploy-{{ spillover_stack_name }}-{{ index + 1 }}
    policy: "{{ item | to_json }}"
  loop: "{{ deployer_policy_input | spillover.lambda_ecs.deployer_policy_parts }}"
  loop_control:
    index_var: index
  register: deployer_parts
  vars:
    deployer_policy_input:
      account_id: "123456789012"
      region: us-east-1
      network: "{{ network__names }}"
      ecr_push: "{{ ecr_push__names }}"
      lambda_function: "{{ lambda_function__names }}"
      ecs_service: "{{ ecs_service__names }}"
      alb: "{{ alb__names }}"
      scaler: "{{ scaler__names }}"
      eventbridge: "{{ eventbridge__names }}"
      dashboard: "{{ dashboard__names }}"
      alarms: "{{ alarm__spill_alarm_names + alarm__warm_alarm_names }}"
      permissions_boundary: "{{ spillover__permissions_boundary }}"

- name: Attach them to the deployment role
  amazon.aws.iam_role:
    name: spillover-deploy
    assume_role_policy_document: "{{ deployer_trust | to_json }}"
    managed_policies: "{{ deployer_parts.results | map(attribute='policy.arn') | list }}"
"""

RETURN = r"""
_value:
  description: An IAM policy document (C(Version) and C(Statement)), ready for C(to_json).
  type: dict
  sample:
    Version: "2012-10-17"
    Statement:
      - Sid: PassFunctionRolesToLambda
        Effect: Allow
        Action: [iam:PassRole]
        Resource: [arn:aws:iam::123456789012:role/demo-app-lambda, arn:aws:iam::123456789012:role/demo-scaler]
        Condition: {StringEquals: {"iam:PassedToService": lambda.amazonaws.com}}
"""

import json
import re

from ansible.errors import AnsibleFilterError
from ansible_collections.spillover.lambda_ecs.plugins.filter.alb_access_logs_bucket import alb_access_logs_bucket
from ansible_collections.spillover.lambda_ecs.plugins.filter.scaler_policy import LAST_MOVE_TAG

# The tag every role puts on the stack's resources (the roles' <role>__tags), which scopes the deployer's EC2 writes.
STACK_TAG = "spillover:stack"

_NAME_KEYS = {
    "network": ("stack", "alb_security_group", "task_security_group", "vpc", "create_vpc"),
    "ecr_push": ("repository",),
    "lambda_function": ("function", "target_group", "role", "log_group"),
    "ecs_service": ("cluster", "service", "target_group", "task_family", "task_execution_role", "log_group"),
    "alb": ("load_balancer",),
    "scaler": ("function", "log_group", "role"),
    "eventbridge": ("rules",),
    "dashboard": ("dashboard",),
}
_PATTERNS = {
    "account_id": r"[0-9]{12}",
    "region": r"[a-z]{2}(-[a-z]+)+-[0-9]",
    "partition": r"aws(-[a-z]+)*",
}
# The service-linked roles the stack needs: ECS's (created by the ecs_service role) and Elastic Load Balancing's (which
# ELB creates itself on the first CreateLoadBalancer of the account, with the caller's permission).
SERVICE_LINKED_ROLES = {
    "ecs.amazonaws.com": "AWSServiceRoleForECS",
    "elasticloadbalancing.amazonaws.com": "AWSServiceRoleForElasticLoadBalancing",
}


def _problems(data):
    problems = []
    for key in ("account_id", "region", "alarms", *_NAME_KEYS):
        if data.get(key) in (None, "", [], {}):
            problems.append(f"{key} is required")
    for key, pattern in _PATTERNS.items():
        value = data.get(key)
        if value not in (None, "") and not (isinstance(value, str) and re.fullmatch(pattern, value)):
            problems.append(f"{key} must be a string matching {pattern}, got {value!r}")
    for role, keys in _NAME_KEYS.items():
        names = data.get(role)
        if names in (None, "", {}):
            continue
        if not isinstance(names, dict):
            problems.append(f"{role} must be the {role}__names dict, got {names!r}")
            continue
        problems += [f"{role}.{key} is required" for key in keys if names.get(key) in (None, "", [])]
    alarms = data.get("alarms") or []
    if not isinstance(alarms, list) or not all(isinstance(name, str) and name for name in alarms):
        problems.append(f"alarms must be a list of alarm names, got {alarms!r}")
    boundary = data.get("permissions_boundary")
    if not isinstance(boundary, dict) or not (boundary.get("name") or boundary.get("arn")):
        problems.append(
            f"permissions_boundary must be a dict with the name of the policy to create or an arn, got {boundary!r}"
        )
    elif boundary.get("arn") and not re.fullmatch(
        r"arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/[\w+=,.@/-]+", str(boundary["arn"])
    ):
        problems.append(f"permissions_boundary.arn must be an IAM policy ARN, got {boundary['arn']!r}")
    problems += _kms_key_problems(data.get("kms_keys"))
    problems += _network_option_problems(data.get("network"))
    arn = data.get("deployer_role_arn")
    if arn and not re.fullmatch(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+", str(arn)):
        problems.append(f"deployer_role_arn must be an IAM role ARN, got {arn!r}")
    problems += [
        f"unknown key {key!r}"
        for key in sorted(
            set(data) - {*_PATTERNS, "alarms", "deployer_role_arn", "permissions_boundary", "kms_keys", *_NAME_KEYS}
        )
    ]
    return problems


# The KMS keys a stack may name, and what each encrypts.
KMS_KEY_USES = {"logs": "the stack's log groups", "lambda_environment": "the functions' environment variables"}
KMS_KEY_ARN = r"arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:key/[A-Za-z0-9-]+"


def _kms_key_problems(keys):
    if keys is None:
        return []
    if not isinstance(keys, dict):
        return [f"kms_keys must be a dict of {', '.join(KMS_KEY_USES)}, got {keys!r}"]
    problems = [f"kms_keys has an unknown key {key!r}" for key in sorted(set(keys) - set(KMS_KEY_USES))]
    return problems + [
        f"kms_keys.{use} must be empty or a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), got {keys[use]!r}"
        for use in KMS_KEY_USES
        if keys.get(use) and not (isinstance(keys[use], str) and re.fullmatch(KMS_KEY_ARN, keys[use]))
    ]


def _network_option_problems(network):
    """The network options' keys (optional; a names dict without them has the options off)."""
    if not isinstance(network, dict):
        return []
    flow_logs = network.get("flow_logs") or "none"
    if flow_logs not in ("none", "cloud-watch-logs", "s3"):
        return [f"network.flow_logs must be none, cloud-watch-logs or s3, got {flow_logs!r}"]
    needed = ("flow_logs_role", "flow_logs_log_group") if flow_logs == "cloud-watch-logs" else ()
    return [
        f"network.{key} is required with network.flow_logs cloud-watch-logs" for key in needed if not network.get(key)
    ]


def _statement(sid, actions, resources, condition=None):
    statement = {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def _checked(data, filter_name):
    if not isinstance(data, dict):
        raise AnsibleFilterError(f"{filter_name} expects a dict of the stack's names, got {type(data).__name__}")
    problems = _problems(data)
    if problems:
        raise AnsibleFilterError(f"invalid {filter_name} input: " + "; ".join(problems))


class _Stack:
    """The ARNs of one stack's resources, from its names."""

    def __init__(self, data):
        self.partition, self.region, self.account = data.get("partition") or "aws", data["region"], data["account_id"]
        self.network, self.app, self.ecs, self.scaler = (
            data["network"],
            data["lambda_function"],
            data["ecs_service"],
            data["scaler"],
        )
        self.load_balancer = data["alb"]["load_balancer"]
        self.repository_name = data["ecr_push"]["repository"]
        boundary = data["permissions_boundary"]
        # The stack's boundary (by name), or the one the user named (by ARN).
        self.boundary = boundary.get("arn") or self.arn("iam", f"policy/{boundary['name']}", regional=False)

    def arn(self, service, resource, regional=True):
        return f"arn:{self.partition}:{service}:{self.region if regional else ''}:{self.account}:{resource}"

    def role(self, name):
        return self.arn("iam", f"role/{name}", regional=False)

    def function(self, name):
        return self.arn("lambda", f"function:{name}")

    def log_group(self, name):
        return [self.arn("logs", f"log-group:{name}"), self.arn("logs", f"log-group:{name}:*")]

    @property
    def log_group_names(self):
        return (self.app["log_group"], self.scaler["log_group"], self.ecs["log_group"])

    @property
    def service(self):
        return self.arn("ecs", f"service/{self.ecs['cluster']}/{self.ecs['service']}")

    @property
    def repository(self):
        return self.arn("ecr", f"repository/{self.repository_name}")

    @property
    def listeners_and_rules(self):
        return [
            self.arn("elasticloadbalancing", f"listener/app/{self.load_balancer}/*/*"),
            self.arn("elasticloadbalancing", f"listener-rule/app/{self.load_balancer}/*/*/*"),
        ]


def _stack_boundary_statement(stack):
    """The deployer's grant on the boundary: reading it, never writing it (an administrator creates the stack's with
    playbooks/deployer_bootstrap.yml, or names one of their own). A deployer that could write the boundary could widen
    it and then give a stack role more."""
    return _statement("BoundaryReadOnly", ["iam:GetPolicy", "iam:GetPolicyVersion"], [stack.boundary])


# amazon.aws.s3_bucket reads every setting of the bucket it creates or updates (a read it may not make is only a
# warning); the role sets the policy, encryption, public access block and tags. Deleting it lists and deletes its
# objects first (an unversioned bucket's objects, with DeleteObject).
ACCESS_LOGS_BUCKET_ACTIONS = [
    "s3:CreateBucket",
    "s3:DeleteBucket",
    "s3:GetAccelerateConfiguration",
    "s3:GetBucketAcl",
    "s3:GetBucketLogging",
    "s3:GetBucketObjectLockConfiguration",
    "s3:GetBucketOwnershipControls",
    "s3:GetBucketPolicy",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketRequestPayment",
    "s3:GetBucketTagging",
    "s3:GetBucketVersioning",
    "s3:GetEncryptionConfiguration",
    "s3:GetInventoryConfiguration",
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:PutBucketPolicy",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketTagging",
    "s3:PutEncryptionConfiguration",
]


def _alb_option_statements(stack, data):
    """The alb role's options: the access logs bucket it creates, and the WAF web ACL it associates."""
    alb = data["alb"]
    load_balancer = stack.arn("elasticloadbalancing", f"loadbalancer/app/{stack.load_balancer}/*")
    statements = []
    if alb.get("access_logs") and not alb.get("access_logs_bucket"):
        bucket = f"arn:{stack.partition}:s3:::{alb_access_logs_bucket(stack.load_balancer, stack.account)}"
        statements += [
            _statement("StackAccessLogsBucket", ACCESS_LOGS_BUCKET_ACTIONS, [bucket]),
            _statement("EmptyStackAccessLogsBucket", ["s3:DeleteObject"], [f"{bucket}/*"]),
        ]
    if alb.get("web_acl_arn"):
        statements += [
            # AWS WAF authorizes the association on the web ACL and on the load balancer both.
            _statement(
                "AssociateTheWebAclWithTheLoadBalancer",
                ["wafv2:AssociateWebACL", "wafv2:GetWebACLForResource"],
                [alb["web_acl_arn"], load_balancer],
            ),
            _statement("ReadTheWebAcl", ["wafv2:GetWebACL"], [alb["web_acl_arn"]]),
            # Elastic Load Balancing's side of the association has no resource-level permission.
            _statement("SetWebAclOnlyStar", ["elasticloadbalancing:SetWebAcl"], "*"),
        ]
    return statements


def _kms_key_statements(stack, keys, log_groups):
    """The deployer's grants for the KMS keys the stack names: none of the keys' administration, and their use only
    where the stack uses them."""
    statements = [
        # Only when a group has a key and its variable is emptied (cloudwatchlogs_log_group_kms_key reads first):
        # granted whatever the keys, so that the run that drops a key may remove it.
        _statement("StackLogGroupsKmsKeyRemoval", ["logs:DisassociateKmsKey"], log_groups),
    ]
    named = list(dict.fromkeys(key for key in (keys.get("logs"), keys.get("lambda_environment")) if key))
    if named:
        # The preflight's check that each key exists, is enabled and symmetric, and may be used by the deployer.
        statements.append(_statement("DescribeNamedKmsKeys", ["kms:DescribeKey"], named))
    if keys.get("logs"):
        # CloudWatch Logs itself encrypts with the key (its key policy allows logs.REGION.amazonaws.com): the deployer
        # only associates it with the stack's groups, and needs no use of the key.
        statements.append(_statement("StackLogGroupsKmsKey", ["logs:AssociateKmsKey"], log_groups))
    if keys.get("lambda_environment"):
        # Lambda encrypts the variables and creates the functions' grant on the key with the caller's permissions,
        # and decrypts them for GetFunctionConfiguration: each only through Lambda, never the key directly.
        statements.append(
            _statement(
                "FunctionsEnvironmentKeyThroughLambda",
                ["kms:CreateGrant", "kms:Decrypt", "kms:Encrypt"],
                [keys["lambda_environment"]],
                {"StringEquals": {"kms:ViaService": f"lambda.{stack.region}.amazonaws.com"}},
            )
        )
    return statements


def deployer_policy(data):
    """Return the least-privilege IAM policy document of the role that deploys the stack ``data`` describes."""
    _checked(data, "deployer_policy")
    stack = _Stack(data)
    arn, role, log_group = stack.arn, stack.role, stack.log_group
    network, app, ecs, scaler = stack.network, stack.app, stack.ecs, stack.scaler

    def ec2(resource_type, resource_id="*"):
        return arn("ec2", f"{resource_type}/{resource_id}")

    functions = [stack.function(app["function"]), stack.function(scaler["function"])]
    roles = [role(app["role"]), role(scaler["role"]), role(ecs["task_execution_role"])]
    log_groups = [group for name in stack.log_group_names for group in log_group(name)]
    load_balancer = stack.load_balancer
    target_groups = [
        arn("elasticloadbalancing", f"targetgroup/{name}/*") for name in (app["target_group"], ecs["target_group"])
    ]
    cluster = arn("ecs", f"cluster/{ecs['cluster']}")
    service = stack.service
    task_definitions = arn("ecs", f"task-definition/{ecs['task_family']}:*")
    repository = stack.repository
    alarms = [arn("cloudwatch", f"alarm:{name}") for name in dict.fromkeys(data["alarms"])]
    rules = [arn("events", f"rule/{name}") for name in data["eventbridge"]["rules"]]
    # A dashboard is global: its ARN has no region.
    dashboard = arn("cloudwatch", f"dashboard/{data['dashboard']['dashboard']}", regional=False)
    # EC2 resources are the stack's by its tag: requested on create, carried on change and delete.
    tagged = {"StringEquals": {f"ec2:ResourceTag/{STACK_TAG}": network["stack"]}}
    tagging = {"StringEquals": {f"aws:RequestTag/{STACK_TAG}": network["stack"]}}
    with_boundary = {"ArnEquals": {"iam:PermissionsBoundary": stack.boundary}}

    statements = [
        # Only "*": AWS has no resource type for these (Describe* of EC2 and ELB, account-wide lists and settings, the
        # registry login, task definition deregistration).
        _statement(
            "NoResourceLevelPermissionsOnlyStar",
            [
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeInternetGateways",
                "ec2:DescribeRouteTables",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSubnets",
                "ec2:DescribeTags",
                "ec2:DescribeVpcs",
                "ecr:GetAuthorizationToken",
                "ecs:DeregisterTaskDefinition",
                "ecs:DescribeTaskDefinition",
                "ecs:ListTaskDefinitions",
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:DescribeLoadBalancerAttributes",
                "elasticloadbalancing:DescribeLoadBalancers",
                "elasticloadbalancing:DescribeRules",
                "elasticloadbalancing:DescribeTags",
                "elasticloadbalancing:DescribeTargetGroupAttributes",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth",
                "iam:ListRoles",
                "lambda:GetAccountSettings",
                "logs:DescribeLogGroups",
            ],
            "*",
        ),
        # The stack's roles (created with tags: iam:TagRole). IAM has no iam:PermissionsBoundary key for the other
        # role actions: they are scoped to the stack's roles by name.
        _statement(
            "StackRoles",
            [
                "iam:DeleteRole",
                "iam:GetRole",
                "iam:GetRolePolicy",
                "iam:ListAttachedRolePolicies",
                "iam:ListInstanceProfilesForRole",
                "iam:ListRolePolicies",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:UpdateRole",
            ],
            roles,
        ),
        # Created, given policies and given a boundary only with the stack's boundary: whatever policy the deployer
        # puts on a role, the role may do no more than the boundary allows. No iam:DeleteRolePermissionsBoundary, no
        # iam:UpdateAssumeRolePolicy, no iam:AttachRolePolicy.
        _statement(
            "StackRolesOnlyWithTheBoundary",
            ["iam:CreateRole", "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy"],
            roles,
            with_boundary,
        ),
        _statement(
            "PassFunctionRolesToLambda",
            ["iam:PassRole"],
            [role(app["role"]), role(scaler["role"])],
            {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
        ),
        _statement(
            "PassTaskRoleToEcsTasks",
            ["iam:PassRole"],
            [role(ecs["task_execution_role"])],
            {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        ),
    ]
    # Each service's role has the service in its path, so one statement with both names grants no more than two.
    statements += [
        _statement(
            "EcsAndElbServiceLinkedRoles",
            ["iam:CreateServiceLinkedRole"],
            [role(f"aws-service-role/{principal}/{name}") for principal, name in SERVICE_LINKED_ROLES.items()],
            {"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED_ROLES)}},
        ),
        _statement(
            "StackLogGroups",
            [
                "logs:CreateLogGroup",
                "logs:DeleteLogGroup",
                "logs:ListTagsLogGroup",
                "logs:PutRetentionPolicy",
                "logs:TagLogGroup",
                "logs:TagResource",
                "logs:UntagLogGroup",
            ],
            log_groups,
        ),
        _statement("ScalerDecisions", ["logs:FilterLogEvents"], log_group(scaler["log_group"])),
        _statement(
            "StackFunctions",
            [
                "lambda:CreateFunction",
                "lambda:DeleteFunction",
                "lambda:GetFunction",
                "lambda:GetFunctionConcurrency",
                "lambda:GetFunctionConfiguration",
                "lambda:GetPolicy",
                "lambda:ListTags",
                "lambda:PutFunctionConcurrency",
                "lambda:RemovePermission",
                "lambda:TagResource",
                "lambda:UntagResource",
                "lambda:UpdateFunctionCode",
                "lambda:UpdateFunctionConfiguration",
            ],
            functions,
        ),
        # Each function may be invoked only by the service the stack wires to it.
        _statement(
            "AppFunctionInvokedByTheLoadBalancer",
            ["lambda:AddPermission"],
            [functions[0]],
            {"StringEquals": {"lambda:Principal": "elasticloadbalancing.amazonaws.com"}},
        ),
        _statement(
            "ScalerInvokedByEventBridge",
            ["lambda:AddPermission"],
            [functions[1]],
            {"StringEquals": {"lambda:Principal": "events.amazonaws.com"}},
        ),
        # amazon.aws.lambda reads back the version an update made (GetFunction with Qualifier: $LATEST after a
        # configuration update, the number UpdateFunctionCode published): IAM authorizes that on the qualified ARN.
        _statement("StackFunctionVersionsRead", ["lambda:GetFunction"], [f"{name}:*" for name in functions]),
        # The repository, and pushing the image to it (the registry API's calls are authorized as these actions).
        _statement(
            "StackRepositoryAndPush",
            [
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:CompleteLayerUpload",
                "ecr:CreateRepository",
                "ecr:DeleteRepository",
                "ecr:DescribeRepositories",
                "ecr:GetLifecyclePolicy",
                "ecr:GetRepositoryPolicy",
                "ecr:InitiateLayerUpload",
                "ecr:PutImage",
                "ecr:PutImageScanningConfiguration",
                "ecr:PutImageTagMutability",
                "ecr:PutLifecyclePolicy",
                "ecr:UploadLayerPart",
            ],
            [repository],
        ),
        _statement(
            "StackCluster",
            ["ecs:CreateCluster", "ecs:DeleteCluster", "ecs:DescribeClusters", "ecs:PutClusterCapacityProviders"],
            [cluster],
        ),
        # The service is created with tags (ecs:TagResource).
        _statement(
            "StackService",
            [
                "ecs:CreateService",
                "ecs:DeleteService",
                "ecs:DescribeServices",
                "ecs:TagResource",
                "ecs:UntagResource",
                "ecs:UpdateService",
            ],
            [service],
        ),
        _statement("StackTaskDefinitions", ["ecs:RegisterTaskDefinition"], [task_definitions]),
        _statement(
            "FargateCapacityProviders",
            ["ecs:DescribeCapacityProviders"],
            [arn("ecs", "capacity-provider/FARGATE"), arn("ecs", "capacity-provider/FARGATE_SPOT")],
        ),
        _statement(
            "StackLoadBalancer",
            [
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:CreateListener",
                "elasticloadbalancing:CreateLoadBalancer",
                "elasticloadbalancing:DeleteLoadBalancer",
                "elasticloadbalancing:ModifyLoadBalancerAttributes",
                "elasticloadbalancing:RemoveTags",
                "elasticloadbalancing:SetSecurityGroups",
                "elasticloadbalancing:SetSubnets",
            ],
            [arn("elasticloadbalancing", f"loadbalancer/app/{load_balancer}/*")],
        ),
        # Listeners: deleted with the load balancer, their weights moved by shift.yml, their ECS-only path rules
        # created on them (alb_path_rules); the rules are then reordered or deleted as rules.
        _statement(
            "StackListenersAndRules",
            [
                "elasticloadbalancing:CreateRule",
                "elasticloadbalancing:DeleteListener",
                "elasticloadbalancing:DeleteRule",
                "elasticloadbalancing:ModifyListener",
                "elasticloadbalancing:SetRulePriorities",
            ],
            [
                arn("elasticloadbalancing", f"listener/app/{load_balancer}/*/*"),
                arn("elasticloadbalancing", f"listener-rule/app/{load_balancer}/*/*/*"),
            ],
        ),
        _statement(
            "StackTargetGroups",
            [
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:CreateTargetGroup",
                "elasticloadbalancing:DeleteTargetGroup",
                "elasticloadbalancing:DeregisterTargets",
                "elasticloadbalancing:ModifyTargetGroup",
                "elasticloadbalancing:ModifyTargetGroupAttributes",
                "elasticloadbalancing:RegisterTargets",
                "elasticloadbalancing:RemoveTags",
            ],
            target_groups,
        ),
        # Alarms are created with tags (cloudwatch:TagResource); the dashboard is the stack's too.
        _statement(
            "StackAlarmsAndDashboard",
            [
                "cloudwatch:DeleteAlarms",
                "cloudwatch:DeleteDashboards",
                "cloudwatch:DescribeAlarms",
                "cloudwatch:GetDashboard",
                "cloudwatch:PutDashboard",
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:TagResource",
            ],
            [*alarms, dashboard],
        ),
        _statement(
            "StackRules",
            [
                "events:DeleteRule",
                "events:DescribeRule",
                "events:ListTargetsByRule",
                "events:PutRule",
                "events:PutTargets",
                "events:RemoveTargets",
            ],
            rules,
        ),
    ]
    # The network: EC2 names resources by IDs that do not exist before the stack, so they are the stack's by its tag,
    # requested when they are created (the tag-on-create check of ec2:CreateTags too) and carried when they are
    # changed, tagged or deleted. Security groups are created in the VPC the stack names, or in the one it created.
    vpc_types = ("vpc", "subnet", "internet-gateway", "route-table") if network["create_vpc"] else ()
    # Created inside the VPC the stack names, or the one it created (authorized on it too, below, by its tag); the
    # gateway on its own. aws:RequestTag is in the context of every resource of a call: a statement with it on vpc/*
    # would let security groups and subnets into any VPC, so CreateVpc has its own.
    creates = ["ec2:CreateSecurityGroup"]
    if network["create_vpc"]:
        creates += ["ec2:CreateInternetGateway", "ec2:CreateRouteTable", "ec2:CreateSubnet"]
        statements.append(_statement("CreateVpcOnlyWithTheStackTag", ["ec2:CreateVpc"], [ec2("vpc")], tagging))
    statements += [
        _statement(
            "CreateOnlyWithTheStackTag",
            creates,
            [ec2(kind) for kind in ("security-group", *vpc_types) if kind != "vpc"]
            + ([] if network["create_vpc"] else [ec2("vpc", network["vpc"])]),
            tagging,
        ),
        # ec2:CreateTags of a create call (ec2:CreateAction) on what it creates; on what exists, below, by its tag.
        _statement(
            "TagOnCreateOnlyWithTheStackTag",
            ["ec2:CreateTags"],
            [ec2(kind) for kind in ("security-group", *vpc_types)],
            {
                "StringEquals": {
                    f"aws:RequestTag/{STACK_TAG}": network["stack"],
                    "ec2:CreateAction": [action.split(":")[1] for action in creates]
                    + (["CreateVpc"] if network["create_vpc"] else []),
                }
            },
        ),
    ]
    changes = [
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:CreateTags",
        "ec2:DeleteSecurityGroup",
        "ec2:DeleteTags",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
    ]
    if network["create_vpc"]:
        changes += [
            "ec2:AssociateRouteTable",
            "ec2:AttachInternetGateway",
            "ec2:CreateRoute",
            "ec2:CreateSecurityGroup",
            "ec2:CreateRouteTable",
            "ec2:CreateSubnet",
            "ec2:DeleteInternetGateway",
            "ec2:DeleteRoute",
            "ec2:DeleteRouteTable",
            "ec2:DeleteSubnet",
            "ec2:DeleteVpc",
            "ec2:DescribeVpcAttribute",
            "ec2:DetachInternetGateway",
            "ec2:DisassociateRouteTable",
            "ec2:ModifySubnetAttribute",
            "ec2:ModifyVpcAttribute",
            "ec2:ReplaceRoute",
        ]
    statements.append(
        _statement("StackTaggedNetwork", changes, [ec2(kind) for kind in ("security-group", *vpc_types)], tagged)
    )
    if network["create_vpc"]:
        # The created VPC's default group is EC2's, created with the VPC and never tagged by the stack, and no EC2
        # condition key ties a group to a tagged VPC: its rules are revoked on a group that carries no stack tag at
        # all, so a group of any stack stays out of reach. Revoking only takes access away.
        statements.append(
            _statement(
                "RevokeDefaultGroupRules",
                ["ec2:RevokeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress"],
                [ec2("security-group")],
                {"Null": {f"ec2:ResourceTag/{STACK_TAG}": "true"}},
            )
        )
    statements += _alb_option_statements(stack, data)
    statements += _network_option_statements(stack)
    statements.append(_stack_boundary_statement(stack))
    statements += _kms_key_statements(stack, data.get("kms_keys") or {}, log_groups)
    if data.get("deployer_role_arn"):
        statements.append(
            _statement(
                "PreflightSimulatesItself",
                ["iam:GetRole", "iam:SimulatePrincipalPolicy"],
                [data["deployer_role_arn"]],
            )
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _network_option_statements(stack):
    """The deployer's grants for the network role's options: VPC flow logs (``flow_logs``: ``cloud-watch-logs`` with
    the role ``flow_logs_role`` and the log group ``flow_logs_log_group``, or ``s3``), the created VPC's private
    subnets behind a NAT gateway (``private_subnets``), and the preflight's read of a named VPC's endpoints. EC2's
    resources are the stack's by its tag, as the network's; none of these when the option is off."""
    network = stack.network
    flow_logs, private_subnets = network.get("flow_logs") or "none", bool(network.get("private_subnets"))

    def ec2(resource_type, resource_id="*"):
        return stack.arn("ec2", f"{resource_type}/{resource_id}")

    tagged = {"StringEquals": {f"ec2:ResourceTag/{STACK_TAG}": network["stack"]}}
    tagging = {"StringEquals": {f"aws:RequestTag/{STACK_TAG}": network["stack"]}}
    statements = []
    if not network["create_vpc"]:
        # The preflight's check that tasks without a public IP reach ECR and CloudWatch Logs.
        statements.append(_statement("PreflightReadsVpcEndpointsOnlyStar", ["ec2:DescribeVpcEndpoints"], "*"))
    # What each create makes: aws:RequestTag is in the context of every resource of a call, so each create is
    # granted on the type it makes only (a CreateNatGateway granted on elastic-ip/* would take any address).
    creates = {}
    if flow_logs != "none":
        creates["CreateFlowLogs"] = ec2("vpc-flow-log")
        statements += [
            _statement("FlowLogsReadOnlyStar", ["ec2:DescribeFlowLogs"], "*"),
            # Of the stack's VPC: the one it created, by its tag, or the one it names, by its ID.
            _statement(
                "FlowLogOfTheStackVpc",
                ["ec2:CreateFlowLogs"],
                [ec2("vpc", "*" if network["create_vpc"] else network["vpc"])],
                tagged if network["create_vpc"] else None,
            ),
        ]
    if flow_logs == "cloud-watch-logs":
        role = stack.role(network["flow_logs_role"])
        statements += [
            _statement(
                "FlowLogsRole",
                [
                    "iam:DeleteRole",
                    "iam:GetRole",
                    "iam:GetRolePolicy",
                    "iam:ListAttachedRolePolicies",
                    "iam:ListInstanceProfilesForRole",
                    "iam:ListRolePolicies",
                    "iam:TagRole",
                    "iam:UntagRole",
                    "iam:UpdateRole",
                ],
                [role],
            ),
            _statement(
                "FlowLogsRoleOnlyWithTheBoundary",
                ["iam:CreateRole", "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy"],
                [role],
                {"ArnEquals": {"iam:PermissionsBoundary": stack.boundary}},
            ),
            # The VPC user guide documents no iam:PassedToService value for a flow log's role; its trust policy lets
            # only vpc-flow-logs.amazonaws.com of this account assume it, so no other service could use it.
            _statement("PassFlowLogsRole", ["iam:PassRole"], [role]),
            _statement(
                "FlowLogsLogGroup",
                [
                    "logs:CreateLogGroup",
                    "logs:DeleteLogGroup",
                    "logs:ListTagsLogGroup",
                    "logs:PutRetentionPolicy",
                    "logs:TagLogGroup",
                    "logs:TagResource",
                    "logs:UntagLogGroup",
                ],
                stack.log_group(network["flow_logs_log_group"]),
            ),
        ]
    elif flow_logs == "s3":
        # VPC user guide, "Flow logs to Amazon S3": the caller's log delivery, which AWS authorizes on "*" only.
        statements.append(_statement("FlowLogsToS3OnlyStar", ["logs:CreateLogDelivery", "logs:DeleteLogDelivery"], "*"))
    if private_subnets:
        creates.update(AllocateAddress=ec2("elastic-ip"), CreateNatGateway=ec2("natgateway"))
        statements += [
            _statement("NatGatewaysReadOnlyStar", ["ec2:DescribeAddresses", "ec2:DescribeNatGateways"], "*"),
            # In the stack's public subnet, with the stack's Elastic IP.
            _statement(
                "NatGatewayInTheStackSubnet", ["ec2:CreateNatGateway"], [ec2("subnet"), ec2("elastic-ip")], tagged
            ),
        ]
    if creates:
        created = list(creates.values())
        statements += [
            _statement(f"{name}OnlyWithTheStackTag", [f"ec2:{name}"], [resource], tagging)
            for name, resource in creates.items()
        ]
        statements += [
            _statement(
                "NetworkOptionsTagOnCreate",
                ["ec2:CreateTags"],
                created,
                {"StringEquals": {f"aws:RequestTag/{STACK_TAG}": network["stack"], "ec2:CreateAction": list(creates)}},
            ),
            _statement(
                "NetworkOptionsStackTagged",
                ["ec2:CreateTags", "ec2:DeleteTags"]
                + (["ec2:DeleteFlowLogs"] if flow_logs != "none" else [])
                + (
                    ["ec2:DeleteNatGateway", "ec2:DisassociateAddress", "ec2:ReleaseAddress"] if private_subnets else []
                ),
                created,
                tagged,
            ),
        ]
    return statements


def _network_option_boundary_statements(stack):
    """What the flow logs role's own policy grants (network_flow_logs: cloud-watch-logs), for the boundary."""
    if (stack.network.get("flow_logs") or "none") != "cloud-watch-logs":
        return []
    group = stack.arn("logs", f"log-group:{stack.network['flow_logs_log_group']}")
    return [
        _statement(
            "DeliverFlowLogs",
            ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            [group, f"{group}:log-stream:*"],
        ),
        _statement("FindFlowLogsLogGroupOnlyStar", ["logs:DescribeLogGroups"], "*"),
    ]


# IAM's limit of a managed policy, in characters without whitespace.
MANAGED_POLICY_LIMIT = 6144


def deployer_policy_parts(data):
    """The deployer policy in as few managed policies as hold it (each within MANAGED_POLICY_LIMIT), in order: a
    role's inline policies hold 10,240 characters in all, less than the policy of a stack with a long name."""
    parts = [[]]
    for statement in deployer_policy(data)["Statement"]:
        if _size(parts[-1] + [statement]) > MANAGED_POLICY_LIMIT and parts[-1]:
            parts.append([])
        parts[-1].append(statement)
    return [{"Version": "2012-10-17", "Statement": statements} for statements in parts]


def _size(statements):
    return len(json.dumps({"Version": "2012-10-17", "Statement": statements}, separators=(",", ":")))


def boundary_policy(data):
    """Return the permissions boundary of the stack's roles: the union of what their own policies grant, as scoped."""
    _checked(data, "boundary_policy")
    stack = _Stack(data)
    arn = stack.arn
    log_groups = [
        resource
        for name in stack.log_group_names
        for resource in (arn("logs", f"log-group:{name}"), arn("logs", f"log-group:{name}:log-stream:*"))
    ]
    statements = [
        # The function's and the tasks' logs, the scaler's (lambda_function, ecs_service, scaler_policy).
        _statement("OwnLogs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], log_groups),
        # The task execution role pulls the stack's image.
        _statement("PullOwnImage", ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"], [stack.repository]),
        # The scaler's calls: the alarms' states, its service, the load balancer's forward weights and its own tag.
        _statement(
            "ReadOwnAlarmStates",
            ["cloudwatch:DescribeAlarms"],
            [arn("cloudwatch", f"alarm:{name}") for name in dict.fromkeys(data["alarms"])],
        ),
        _statement("ReadAndScaleTheSpillService", ["ecs:DescribeServices", "ecs:UpdateService"], [stack.service]),
        _statement(
            "MoveForwardWeights",
            ["elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule"],
            stack.listeners_and_rules,
        ),
        _statement(
            "RememberLastMoveInOwnTag",
            ["elasticloadbalancing:AddTags"],
            stack.listeners_and_rules,
            {"ForAllValues:StringEquals": {"aws:TagKeys": [LAST_MOVE_TAG]}},
        ),
        _statement(
            "ReadAppFunctionReservedConcurrency",
            ["lambda:GetFunctionConcurrency"],
            [stack.function(stack.app["function"])],
        ),
        # Only "*": AWS has no resource type for these.
        _statement(
            "NoResourceLevelPermissionsOnlyStar",
            [
                "cloudwatch:GetMetricData",
                "ecr:GetAuthorizationToken",
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:DescribeRules",
                "elasticloadbalancing:DescribeTags",
                "elasticloadbalancing:DescribeTargetGroupAttributes",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth",
            ],
            "*",
        ),
    ]
    statements += _network_option_boundary_statements(stack)
    return {"Version": "2012-10-17", "Statement": statements}


class FilterModule:
    """spillover.lambda_ecs filters."""

    def filters(self):
        return {"deployer_policy": deployer_policy}
