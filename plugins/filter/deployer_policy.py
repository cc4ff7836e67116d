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
    target groups, the repository, the alarms, the rules and the dashboard). EC2 names resources by IDs that do not
    exist before the stack, so the network's statements are scoped to the account, region and resource type (and
    security groups are created only in the named VPC when the stack uses an existing one). Actions AWS authorizes on
    C(*) only (the C(Describe*) of EC2 and ELB, C(iam:ListRoles), C(lambda:GetAccountSettings),
    C(ecr:GetAuthorizationToken) ...) are in statements whose C(Sid) says so.
  - C(iam:PassRole) is granted on the stack's three roles only, each with the C(iam:PassedToService) it is passed
    to; C(iam:CreateServiceLinkedRole) only for ECS and Elastic Load Balancing, with C(iam:AWSServiceName).
  - The VPC's own statements (create, route, delete) are there only when the stack creates its VPC.
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
        description: C(network__names) (C(alb_security_group), C(task_security_group), C(vpc), C(create_vpc)).
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
        description: C(alb__names) (C(load_balancer)).
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
"""

EXAMPLES = r"""
# playbooks/deployer_policy.yml prints it for each inventory host, without any AWS call.
- name: Attach the deployer policy to the deployment role, from an administrator's session
  amazon.aws.iam_policy:
    iam_type: role
    iam_name: spillover-deploy
    policy_name: spillover-deploy-{{ spillover_stack_name }}
    policy_json: "{{ deployer_policy_input | spillover.lambda_ecs.deployer_policy | to_json }}"
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

import re

from ansible.errors import AnsibleFilterError

_NAME_KEYS = {
    "network": ("alb_security_group", "task_security_group", "vpc", "create_vpc"),
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
    arn = data.get("deployer_role_arn")
    if arn and not re.fullmatch(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+", str(arn)):
        problems.append(f"deployer_role_arn must be an IAM role ARN, got {arn!r}")
    problems += [
        f"unknown key {key!r}" for key in sorted(set(data) - {*_PATTERNS, "alarms", "deployer_role_arn", *_NAME_KEYS})
    ]
    return problems


def _statement(sid, actions, resources, condition=None):
    statement = {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def deployer_policy(data):
    """Return the least-privilege IAM policy document of the role that deploys the stack ``data`` describes."""
    if not isinstance(data, dict):
        raise AnsibleFilterError(f"deployer_policy expects a dict of the stack's names, got {type(data).__name__}")
    problems = _problems(data)
    if problems:
        raise AnsibleFilterError("invalid deployer_policy input: " + "; ".join(problems))

    partition, region, account = data.get("partition") or "aws", data["region"], data["account_id"]
    network, app, ecs, scaler = data["network"], data["lambda_function"], data["ecs_service"], data["scaler"]

    def arn(service, resource, regional=True):
        return f"arn:{partition}:{service}:{region if regional else ''}:{account}:{resource}"

    def role(name):
        return arn("iam", f"role/{name}", regional=False)

    def ec2(resource_type, resource_id="*"):
        return arn("ec2", f"{resource_type}/{resource_id}")

    def log_group(name):
        return [arn("logs", f"log-group:{name}"), arn("logs", f"log-group:{name}:*")]

    functions = [arn("lambda", f"function:{app['function']}"), arn("lambda", f"function:{scaler['function']}")]
    roles = [role(app["role"]), role(scaler["role"]), role(ecs["task_execution_role"])]
    log_groups = [
        group for name in (app["log_group"], scaler["log_group"], ecs["log_group"]) for group in log_group(name)
    ]
    load_balancer = data["alb"]["load_balancer"]
    target_groups = [
        arn("elasticloadbalancing", f"targetgroup/{name}/*") for name in (app["target_group"], ecs["target_group"])
    ]
    cluster = arn("ecs", f"cluster/{ecs['cluster']}")
    service = arn("ecs", f"service/{ecs['cluster']}/{ecs['service']}")
    task_definitions = arn("ecs", f"task-definition/{ecs['task_family']}:*")
    repository = arn("ecr", f"repository/{data['ecr_push']['repository']}")
    alarms = [arn("cloudwatch", f"alarm:{name}") for name in dict.fromkeys(data["alarms"])]
    rules = [arn("events", f"rule/{name}") for name in data["eventbridge"]["rules"]]
    # A dashboard is global: its ARN has no region.
    dashboard = arn("cloudwatch", f"dashboard/{data['dashboard']['dashboard']}", regional=False)

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
        # The stack's roles (created with tags: iam:TagRole), passed only to the service each is for.
        _statement(
            "StackRoles",
            [
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:DeleteRolePolicy",
                "iam:GetRole",
                "iam:GetRolePolicy",
                "iam:ListAttachedRolePolicies",
                "iam:ListInstanceProfilesForRole",
                "iam:ListRolePolicies",
                "iam:PutRolePolicy",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:UpdateRole",
            ],
            roles,
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
                "lambda:AddPermission",
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
    # The network: EC2 names resources by IDs that do not exist before the stack, so by account, region and type.
    # Security groups are created in the VPC the stack names, or in the one it creates (any, as it has no ID yet: then
    # CreateSecurityGroup joins the next statement, on vpc/* too, which gives its other actions nothing more).
    security_group_writes = [ec2("security-group"), ec2("security-group-rule")]
    if network["create_vpc"]:
        security_group_writes.append(ec2("vpc"))
    else:
        statements.append(
            _statement(
                "SecurityGroupsInStackVpc",
                ["ec2:CreateSecurityGroup"],
                [ec2("security-group"), ec2("vpc", network["vpc"])],
            )
        )
    statements += [
        # Tags too (ec2:CreateTags, and ec2:DeleteTags: amazon.aws's ensure_ec2_tags removes the tags a run no longer
        # sets), here and on the VPC's resources below.
        _statement(
            "SecurityGroupsByTypeIdsNotKnownYet",
            [
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:CreateTags",
                "ec2:DeleteSecurityGroup",
                "ec2:DeleteTags",
                "ec2:RevokeSecurityGroupIngress",
                "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
            ]
            # The created VPC's default group is stripped of its rules, its egress rules too.
            + (["ec2:CreateSecurityGroup", "ec2:RevokeSecurityGroupEgress"] if network["create_vpc"] else []),
            security_group_writes,
        ),
    ]
    if network["create_vpc"]:
        statements += [
            _statement(
                "VpcByTypeIdsNotKnownYet",
                [
                    "ec2:AssociateRouteTable",
                    "ec2:AttachInternetGateway",
                    "ec2:CreateInternetGateway",
                    "ec2:CreateRoute",
                    "ec2:CreateRouteTable",
                    "ec2:CreateSubnet",
                    "ec2:CreateTags",
                    "ec2:CreateVpc",
                    "ec2:DeleteInternetGateway",
                    "ec2:DeleteRoute",
                    "ec2:DeleteRouteTable",
                    "ec2:DeleteSubnet",
                    "ec2:DeleteTags",
                    "ec2:DeleteVpc",
                    "ec2:DescribeVpcAttribute",
                    "ec2:DetachInternetGateway",
                    "ec2:DisassociateRouteTable",
                    "ec2:ModifySubnetAttribute",
                    "ec2:ModifyVpcAttribute",
                    "ec2:ReplaceRoute",
                ],
                [ec2(kind) for kind in ("vpc", "subnet", "internet-gateway", "route-table")],
            ),
        ]
    if data.get("deployer_role_arn"):
        statements.append(
            _statement(
                "PreflightSimulatesItself",
                ["iam:GetRole", "iam:SimulatePrincipalPolicy"],
                [data["deployer_role_arn"]],
            )
        )
    return {"Version": "2012-10-17", "Statement": statements}


class FilterModule:
    """spillover.lambda_ecs filters."""

    def filters(self):
        return {"deployer_policy": deployer_policy}
