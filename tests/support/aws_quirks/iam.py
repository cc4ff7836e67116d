"""IAM policy evaluation for the behaviour layer: is a call allowed by its principal's identity policies?

The local AWS enforces no IAM at all, so a policy that AWS would reject passes every test. This engine decides as
AWS does for identity-based policies and the principal's permissions boundary (no SCPs, resource policies or session
policies): an explicit Deny wins, then an Allow of the identity policies that the boundary, when the role has one,
allows too, else the call is denied. It matches actions and resources with IAM's
wildcards (``*``, ``?``; actions case-insensitively), supports NotAction/NotResource, and the condition operators
``String*``, ``Arn*``, ``Bool`` and ``Null`` with ``ForAllValues:``/``ForAnyValue:`` and ``...IfExists``.

Which resource an action applies to comes from parliament's database of IAM actions (``iam_definition.json``,
generated from AWS's Service Authorization Reference): its resource types per action and their ARN formats. The
resources of a call are derived from the request (``RESOURCE_PARAMETERS`` names the request parameters that fill
each resource type's ARN variables; ARN-valued parameters are matched against the formats directly). Where a
required resource cannot be derived, the check falls back to the action alone (any Allow of the action counts)
and says so in ``Check.derived``. Calls that AWS authorizes on further actions are checked on those too
(``implied_checks``: iam:PassRole, tag-on-create). The documented exceptions are in ``_exceptions``.

The request context holds the keys the stack's policies rely on: ``aws:RequestTag/<key>`` and ``aws:TagKeys`` (the
tags a call sets), ``iam:PassedToService``, ``iam:AWSServiceName``, ``<service>:CreateAction`` (tag-on-create),
``iam:PermissionsBoundary`` (CreateRole's and PutRolePermissionsBoundary's parameter; for PutRolePolicy,
DeleteRolePolicy and the other role actions that support it, the role's current boundary, read from the local AWS),
``lambda:Principal`` (AddPermission's Principal) and, per resource, ``ec2:ResourceTag/<key>`` and
``aws:ResourceTag/<key>`` of an existing EC2 resource (its tags, read from the local AWS; ``ResourceState``).
The service keys AWS sets from a request's parameters are in ``PARAMETER_KEYS``.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Protocol

from tests.support.aws_quirks.wire import IAM_PREFIX, Request

_VARIABLE = re.compile(r"\$\{([A-Za-z0-9]+)\}")


@cache
def database() -> dict[str, dict]:
    """parliament's IAM database by service prefix: ``{"privileges": {name: [resource types]}, "resources": ...}``."""
    spec = importlib.util.find_spec("parliament")
    path = Path(spec.origin).with_name("iam_definition.json")
    services: dict[str, dict] = {}
    for service in json.loads(path.read_text()):
        entry = services.setdefault(service["prefix"], {"privileges": {}, "resources": {}})
        for privilege in service["privileges"]:
            entry["privileges"][privilege["privilege"].lower()] = privilege["resource_types"]
        for resource in service["resources"]:
            entry["resources"][resource["resource"]] = resource["arn"]
    return services


def privilege(action: str) -> list[dict] | None:
    """The database's resource types of ``prefix:Name`` (``None``: not an IAM action the database knows)."""
    prefix, _, name = action.partition(":")
    return database().get(prefix, {}).get("privileges", {}).get(name.lower())


def arn_format(prefix: str, resource_type: str) -> str:
    return database()[prefix]["resources"][resource_type.rstrip("*")]


@cache
def _format_pattern(arn: str) -> re.Pattern:
    parts = _VARIABLE.split(arn)
    regex = "".join(re.escape(part) if index % 2 == 0 else f"(?P<{part}>.+?)" for index, part in enumerate(parts))
    return re.compile(f"^{regex}$")


def matches_format(prefix: str, resource_type: str, arn: str) -> bool:
    return bool(_format_pattern(arn_format(prefix, resource_type)).match(arn))


# For each (service prefix, resource type): which request parameter fills each ARN variable. A parameter that
# holds a whole ARN (ECS accepts names or ARNs) is used as the resource itself. ``[]`` marks a list parameter
# (one resource per item). Variables left unfilled become ``*``: a resource the call creates, whose ID AWS makes.
RESOURCE_PARAMETERS: dict[tuple[str, str], list[dict[str, str]]] = {
    ("ecs", "cluster"): [{"ClusterName": "cluster"}, {"ClusterName": "clusterName"}, {"ClusterName": "clusters[]"}],
    ("ecs", "service"): [
        {"ClusterName": "cluster", "ServiceName": "service"},
        {"ClusterName": "cluster", "ServiceName": "serviceName"},
        {"ClusterName": "cluster", "ServiceName": "services[]"},
    ],
    ("ecs", "task-definition"): [{"TaskDefinitionFamilyName": "family"}],
    ("lambda", "function"): [{"FunctionName": "FunctionName"}],
    ("cloudwatch", "alarm"): [{"AlarmName": "AlarmName"}, {"AlarmName": "AlarmNames[]"}],
    ("cloudwatch", "dashboard"): [{"DashboardName": "DashboardName"}, {"DashboardName": "DashboardNames[]"}],
    ("logs", "log-group"): [{"LogGroupName": "logGroupName"}],
    ("logs", "log-stream"): [{"LogGroupName": "logGroupName", "LogStreamName": "logStreamName"}],
    ("iam", "role"): [{"RoleNameWithPath": "RoleName"}],
    ("iam", "policy"): [{"PolicyNameWithPath": "PolicyArn"}, {"PolicyNameWithPath": "PolicyName"}],
    ("sts", "role"): [{"RoleNameWithPath": "RoleArn"}],
    ("events", "rule-on-default-event-bus"): [{"RuleName": "Name"}, {"RuleName": "Rule"}],
    ("ecr", "repository"): [{"RepositoryName": "repositoryName"}, {"RepositoryName": "repositoryNames[]"}],
    ("elasticloadbalancing", "loadbalancer/app/"): [{"LoadBalancerName": "Name"}],
    ("elasticloadbalancing", "targetgroup"): [{"TargetGroupName": "Name"}],
    ("ec2", "vpc"): [{"VpcId": "VpcId"}],
    ("ec2", "subnet"): [{"SubnetId": "SubnetId"}, {"SubnetId": "SubnetIds[]"}],
    ("ec2", "security-group"): [{"SecurityGroupId": "GroupId"}],
    ("ec2", "route-table"): [{"RouteTableId": "RouteTableId"}],
    ("ec2", "internet-gateway"): [{"InternetGatewayId": "InternetGatewayId"}],
    # The network role's options: a NAT gateway and its Elastic IP, a flow log and the VPC it logs.
    ("ec2", "natgateway"): [{"NatGatewayId": "NatGatewayId"}],
    ("ec2", "elastic-ip"): [{"AllocationId": "AllocationId"}],
    ("ec2", "vpc-flow-log"): [{"VpcFlowLogId": "FlowLogId[]"}],
}
# The names IAM gives the service-linked roles the stack relies on.
SERVICE_LINKED_ROLES = {
    "ecs.amazonaws.com": "AWSServiceRoleForECS",
    "elasticloadbalancing.amazonaws.com": "AWSServiceRoleForElasticLoadBalancing",
}
_CREATES = ("Create", "Register", "Run", "Allocate", "Put", "Import")


@dataclass
class Check:
    """One authorization decision."""

    principal: str  # the assumed-role ARN of the caller
    action: str
    resources: list[str]
    allowed: bool
    derived: bool  # False: no resource could be derived, the action alone was checked
    reason: str = ""
    denied_resource: str = ""

    @property
    def message(self) -> str:
        """AWS's access-denied message for this check (no "on resource" for actions that have none)."""
        on = f" on resource: {self.denied_resource}" if self.denied_resource not in ("", "*") else ""
        if self.reason == "explicit deny":
            because = "with an explicit deny in an identity-based policy"
        elif self.reason == "explicit deny (permissions boundary)":
            because = "with an explicit deny in a permissions boundary"
        elif self.reason == "implicit deny (permissions boundary)":
            because = f"because no permissions boundary allows the {self.action} action"
        else:
            because = f"because no identity-based policy allows the {self.action} action"
        return f"User: {self.principal} is not authorized to perform: {self.action}{on} {because}"


@dataclass
class Principal:
    role_arn: str
    session_arn: str  # arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION, the "User" of AWS's messages
    account: str
    access_key: str = ""


def _glob(pattern: str, case: bool = True) -> re.Pattern:
    regex = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile(f"^{regex}$", 0 if case else re.IGNORECASE)


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _values(params, path: str) -> list[str]:
    """The values at ``path`` (``a``, ``a[]``, ``a[].b``) of the request parameters."""
    nodes = [params]
    for part in path.split("."):
        many = part.endswith("[]")
        key = part[:-2] if many else part
        found = []
        for node in nodes:
            value = node.get(key) if isinstance(node, dict) else None
            found.extend(_as_list(value) if many else ([value] if value is not None else []))
        nodes = found
    return [str(node) for node in nodes if isinstance(node, str | int) and str(node)]  # "" is no value


def _strings(node) -> list[str]:
    if isinstance(node, dict):
        return [value for child in node.values() for value in _strings(child)]
    if isinstance(node, list):
        return [value for child in node for value in _strings(child)]
    return [node] if isinstance(node, str) else []


def _fill(prefix: str, resource_type: str, variables: dict[str, str], request: Request, account: str) -> str:
    arn = arn_format(prefix, resource_type)
    known = {"Partition": "aws", "Region": request.region, "Account": account, **variables}
    return _VARIABLE.sub(lambda match: known.get(match.group(1), "*"), arn)


def _name_of(value: str, prefix: str, resource_type: str) -> str:
    """A resource name from a parameter that may hold a name or an ARN (ECS, Lambda, STS role ARNs)."""
    if prefix == "iam" and resource_type.startswith("role") and value in SERVICE_LINKED_ROLES.values():
        service = next(service for service, name in SERVICE_LINKED_ROLES.items() if name == value)
        return f"aws-service-role/{service}/{value}"  # a service-linked role's ARN has the service's path
    if not value.startswith("arn:"):
        if prefix == "lambda" and ":function:" in value:  # a partial ARN, 123456789012:function:name
            return value.split(":function:", 1)[1]
        return value
    if prefix == "lambda":
        return value.split(":function:", 1)[1]
    if prefix in ("iam", "sts") and ":role/" in value:
        return value.split(":role/", 1)[1]
    if prefix == "iam" and ":policy/" in value:
        return value.split(":policy/", 1)[1]
    return value.rsplit("/", 1)[-1]


def resources_of(action: str, request: Request, account: str) -> tuple[list[str], bool]:
    """The resource ARNs ``action`` is authorized on for ``request``, and whether they could be derived."""
    prefix = action.split(":", 1)[0]
    exception = _exceptions(action, request, account)
    if exception is not None:
        return exception, True
    types = privilege(action)
    if types is None:
        return ["*"], False
    named = [entry for entry in types if entry["resource_type"]]
    if not named:
        return ["*"], True  # the action supports no resource-level permissions: only "*" grants it
    resources: list[str] = []
    arns = [value for value in _strings(request.params) if value.startswith("arn:")]
    for entry in named:
        resource_type = entry["resource_type"]
        found = [arn for arn in arns if matches_format(prefix, resource_type.rstrip("*"), arn)]
        for variables in RESOURCE_PARAMETERS.get((prefix, resource_type.rstrip("*")), []):
            columns = {var: _values(request.params, path) for var, path in variables.items()}
            if not all(columns.values()):
                continue
            whole = [v for values in columns.values() for v in values if v.startswith("arn:")]
            if len(columns) == 1 and whole and matches_format(prefix, resource_type.rstrip("*"), whole[0]):
                found += [v for v in whole if v not in found]
                break
            width = max(len(values) for values in columns.values())
            for index in range(width):
                filled = {
                    var: _name_of(values[min(index, len(values) - 1)], prefix, resource_type)
                    for var, values in columns.items()
                }
                found.append(_fill(prefix, resource_type.rstrip("*"), filled, request, account))
            break
        if not found and resource_type.endswith("*") and request.operation.startswith(_CREATES):
            found.append(_fill(prefix, resource_type.rstrip("*"), {}, request, account))  # a new resource
        resources += [arn for arn in found if arn not in resources]
    if not resources:
        # The action has resource types but the request names none of them (DisassociateRouteTable names only an
        # association): AWS resolves them itself, so the check falls back to the action alone.
        return ["*"], False
    return resources, True


def _exceptions(action: str, request: Request, account: str) -> list[str] | None:
    """AWS's documented exceptions to the database's resource types, and resources named by IAM itself."""
    if action == "iam:CreateServiceLinkedRole":
        service = str(request.params.get("AWSServiceName", ""))
        name = SERVICE_LINKED_ROLES.get(service, "*")
        return [f"arn:aws:iam::{account}:role/aws-service-role/{service}/{name}"]
    if action == "iam:SimulatePrincipalPolicy":
        # Authorized on the principal simulated only; the ARNs of ResourceArns are what the simulation is about.
        return [str(request.params.get("PolicySourceArn", "*"))]
    if action in ("ec2:CreateTags", "ec2:DeleteTags"):
        # EC2 authorizes tagging on each resource of ResourceId.N, named by its ID alone: its type is the ID's prefix.
        arns = [_ec2_arn(str(value), request, account) for value in _as_list(request.params.get("ResourceId"))]
        return arns if arns and all(arns) else None  # an ID of another type: the action alone is checked
    if action == "ec2:CreateFlowLogs":
        # The flow log it creates, and each resource of ResourceId.N it logs (a VPC, subnet or interface, by its ID).
        logged = [_ec2_arn(str(value), request, account) for value in _as_list(request.params.get("ResourceId"))]
        return [f"arn:aws:ec2:{request.region}:{account}:vpc-flow-log/*", *(arn for arn in logged if arn)]
    if action == "cloudwatch:DescribeAlarms":
        # CloudWatch permissions reference: "To retrieve information about composite alarms, your
        # cloudwatch:DescribeAlarms permission must have a * scope."
        if "CompositeAlarm" in _as_list(request.params.get("AlarmTypes")):
            return ["*"]
        names = _as_list(request.params.get("AlarmNames"))
        if not names:  # every alarm (or a prefix of names): the whole alarm space
            return [f"arn:aws:cloudwatch:{request.region}:{account}:alarm:*"]
        return [f"arn:aws:cloudwatch:{request.region}:{account}:alarm:{name}" for name in names]
    return None


# The EC2 resource types the stack tags, by the prefix of their IDs.
EC2_ID_TYPES = {
    "sg": "security-group",
    "sgr": "security-group-rule",
    "vpc": "vpc",
    "subnet": "subnet",
    "igw": "internet-gateway",
    "rtb": "route-table",
    "nat": "natgateway",
    "eipalloc": "elastic-ip",
    "fl": "vpc-flow-log",
}


def _ec2_arn(resource_id: str, request: Request, account: str) -> str:
    """The ARN of an EC2 resource from its ID (``sg-0abc...``), or "" when the prefix is not one of EC2_ID_TYPES."""
    resource_type = EC2_ID_TYPES.get(resource_id.split("-", 1)[0])
    if resource_type is None or "-" not in resource_id:
        return ""
    return f"arn:aws:ec2:{request.region}:{account}:{resource_type}/{resource_id}"


def tags_of(params: dict) -> dict[str, str]:
    """The tags a request sets, in any of the shapes the services use."""
    tags: dict[str, str] = {}
    for key in ("Tags", "tags", "Tag"):
        value = params.get(key)
        if isinstance(value, dict):
            tags.update({str(k): str(v) for k, v in value.items()})
        for item in value if isinstance(value, list) else []:
            if isinstance(item, dict):
                name = item.get("Key", item.get("key"))
                if name is not None:
                    tags[str(name)] = str(item.get("Value", item.get("value", "")))
    for spec in _as_list(params.get("TagSpecification")) + _as_list(params.get("TagSpecifications")):
        if isinstance(spec, dict):
            tags.update(tags_of({"Tags": spec.get("Tag", spec.get("Tags"))}))
    return tags


class ResourceState(Protocol):
    """What the engine reads from the local AWS for condition keys that describe existing resources."""

    def role_boundary(self, role_name: str) -> str | None:
        """The ARN of the role's permissions boundary (``None``: no such role or no boundary)."""

    def ec2_tags(self, resource_id: str) -> dict[str, str]:
        """The tags of an EC2 resource by its ID (``{}``: none, or no such resource)."""


# The IAM role actions whose iam:PermissionsBoundary key is the role's current boundary (the Service Authorization
# Reference); CreateRole and PutRolePermissionsBoundary give it in the request.
_ROLE_BOUNDARY_ACTIONS = {
    "AttachRolePolicy",
    "DeleteRolePermissionsBoundary",
    "DeleteRolePolicy",
    "DetachRolePolicy",
    "PutRolePolicy",
}


def request_context(request: Request, state: ResourceState | None = None) -> dict[str, list[str]]:
    """The condition keys the layer can give a call: request tags, the service a role is passed to, a role's
    permissions boundary, the principal a function permission is for, ..."""
    context: dict[str, list[str]] = {}
    tags = tags_of(request.params)
    if tags:
        context["aws:TagKeys"] = sorted(tags)
        for key, value in tags.items():
            context[f"aws:RequestTag/{key}"] = [value]
    if request.operation == "CreateServiceLinkedRole":
        context["iam:AWSServiceName"] = [str(request.params.get("AWSServiceName", ""))]
    if request.service == "iam" and request.operation in ("CreateRole", "PutRolePermissionsBoundary"):
        if request.params.get("PermissionsBoundary"):
            context["iam:PermissionsBoundary"] = [str(request.params["PermissionsBoundary"])]
    elif request.service == "iam" and request.operation in _ROLE_BOUNDARY_ACTIONS and state is not None:
        boundary = state.role_boundary(str(request.params.get("RoleName", "")))
        if boundary:
            context["iam:PermissionsBoundary"] = [boundary]
    if request.action == "lambda:AddPermission" and request.params.get("Principal"):
        context["lambda:Principal"] = [str(request.params["Principal"])]
    return context


# Service condition keys that AWS sets from a request parameter, only when the request has it (Service Authorization
# Reference: each is among the action's condition keys, with no resource type): by action, key -> parameter.
PARAMETER_KEYS: dict[str, dict[str, str]] = {
    "ecs:CreateService": {"ecs:task-definition": "taskDefinition"},
    "ecs:CreateTaskSet": {"ecs:task-definition": "taskDefinition"},
    "ecs:UpdateService": {"ecs:task-definition": "taskDefinition"},
    "elasticloadbalancing:CreateListener": {
        "elasticloadbalancing:ListenerProtocol": "Protocol",
        "elasticloadbalancing:SecurityPolicy": "SslPolicy",
    },
    "elasticloadbalancing:ModifyListener": {
        "elasticloadbalancing:ListenerProtocol": "Protocol",
        "elasticloadbalancing:SecurityPolicy": "SslPolicy",
    },
}


def parameter_context(request: Request, account: str) -> dict[str, list[str]]:
    """The condition keys ``PARAMETER_KEYS`` gives ``request``: a parameter the request leaves out gives no key (a
    ``Null`` condition sees it absent). ``ecs:task-definition`` is an ARN: a ``family:revision`` becomes this
    account's and region's."""
    context: dict[str, list[str]] = {}
    for key, path in PARAMETER_KEYS.get(request.action, {}).items():
        values = _values(request.params, path)
        if key == "ecs:task-definition":
            values = [
                v if v.startswith("arn:") else f"arn:aws:ecs:{request.region}:{account}:task-definition/{v}"
                for v in values
            ]
        if values:
            context[key] = values
    return context


def resource_context(arn: str, state: ResourceState | None) -> dict[str, list[str]]:
    """The condition keys of one existing resource: an EC2 resource's tags (``ec2:ResourceTag/<key>`` and
    ``aws:ResourceTag/<key>``). A resource the call creates (its ID still ``*``) has none."""
    if state is None or not arn.startswith("arn:aws:ec2:") or arn.endswith("/*"):
        return {}
    tags = state.ec2_tags(arn.rsplit("/", 1)[-1])
    return {f"{prefix}:ResourceTag/{key}": [value] for key, value in tags.items() for prefix in ("ec2", "aws")}


# Operations that pass a role (AWS checks iam:PassRole on it) and the service it is passed to.
PASSED_ROLES = {
    "lambda:CreateFunction": [("Role", "lambda.amazonaws.com")],
    "lambda:UpdateFunctionConfiguration": [("Role", "lambda.amazonaws.com")],
    "ecs:RegisterTaskDefinition": [
        ("executionRoleArn", "ecs-tasks.amazonaws.com"),
        ("taskRoleArn", "ecs-tasks.amazonaws.com"),
    ],
    "ecs:CreateService": [("role", "ecs.amazonaws.com")],
    "events:PutTargets": [("Targets[].RoleArn", "events.amazonaws.com")],
    # The VPC user guide names no iam:PassedToService value for a flow log's role; the role's trusted principal.
    "ec2:CreateFlowLogs": [("DeliverLogsPermissionArn", "vpc-flow-logs.amazonaws.com")],
}
# Creates that tag what they create are authorized on the service's tagging action too (ELB: "ELB API permissions
# to tag resources during creation"; ECS: "Grant permission to tag resources on creation"; EC2: the database's
# dependent action ec2:CreateTags), with the <prefix>:CreateAction condition key.
TAG_ON_CREATE = {"elasticloadbalancing": "AddTags", "ecs": "TagResource", "ec2": "CreateTags"}


def implied_checks(
    request: Request, account: str, state: ResourceState | None = None
) -> list[tuple[str, list[str], dict]]:
    """The further (action, resources, context) AWS authorizes for ``request``."""
    checks = []
    for path, service in PASSED_ROLES.get(request.action, []):
        roles = _values(request.params, path)
        if roles:
            checks.append(("iam:PassRole", roles, {"iam:PassedToService": [service]}))
    prefix = request.action.split(":", 1)[0]
    tagging = f"{prefix}:{TAG_ON_CREATE.get(prefix)}"
    # ec2:CreateTags itself tags what exists: its own check is the only one (it creates nothing to tag).
    creates = request.operation.startswith(_CREATES) and request.action != tagging
    if prefix in TAG_ON_CREATE and creates and tags_of(request.params):
        resources, _derived = resources_of(request.action, request, account)
        if prefix == "ec2":
            # EC2 tags only what the call creates, not the existing resources it is made in (a VPC).
            resources = [resource for resource in resources if resource.endswith("/*")] or resources
        context = {**request_context(request, state), f"{prefix}:CreateAction": [request.operation]}
        checks.append((tagging, resources, context))
    return checks


# ---------------------------------------------------------------------------------------------------------
# Policy evaluation


def _statements(policies: list[dict]) -> list[dict]:
    return [statement for policy in policies for statement in _as_list(policy.get("Statement"))]


def _action_matches(statement: dict, action: str) -> bool:
    if "NotAction" in statement:
        return not any(_glob(pattern, case=False).match(action) for pattern in _as_list(statement["NotAction"]))
    return any(_glob(pattern, case=False).match(action) for pattern in _as_list(statement.get("Action")))


def _resource_matches(statement: dict, resource: str | None) -> bool:
    if resource is None:  # action-level check: any resource of the statement counts
        return "NotResource" in statement or bool(_as_list(statement.get("Resource")))
    if "NotResource" in statement:
        return not any(_glob(pattern).match(resource) for pattern in _as_list(statement["NotResource"]))
    return any(_glob(pattern).match(resource) for pattern in _as_list(statement.get("Resource")))


def _operator_matches(operator: str, actual: str, expected: str) -> bool:
    base = operator.removesuffix("IfExists")
    if base in ("StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals"):
        return actual == expected
    if base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return actual.lower() == expected.lower()
    if base in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike"):
        return bool(_glob(expected).match(actual))
    if base == "Bool":
        return actual.lower() == expected.lower()
    raise ValueError(f"condition operator {operator} is not modelled by the layer")


def _condition_holds(operator: str, key: str, expected: list[str], context: dict[str, list[str]]) -> bool:
    qualifier, _, operator = operator.rpartition(":")
    if operator == "Null":
        present = key.lower() in {name.lower() for name in context}
        return (not present) == (str(expected[0]).lower() == "true")
    negated = "Not" in operator
    values = {name.lower(): value for name, value in context.items()}.get(key.lower())
    if values is None:
        if operator.endswith("IfExists") or qualifier == "ForAllValues":
            return True
        return negated and qualifier != "ForAnyValue"

    def one(value: str) -> bool:
        hit = any(_operator_matches(operator, value, str(item)) for item in expected)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(value) for value in values)
    return any(one(value) for value in values)


def _conditions_hold(statement: dict, context: dict[str, list[str]], resource_known: bool = True) -> bool:
    """Whether every condition of ``statement`` holds in ``context``. Without a known resource (an action-level
    check), the keys of the resource itself (its tags) cannot be read: those conditions are taken to hold, as the
    check is on the action alone."""
    for operator, keys in (statement.get("Condition") or {}).items():
        for key, expected in keys.items():
            if not resource_known and "ResourceTag/" in key:
                continue
            if not _condition_holds(operator, key, [str(item) for item in _as_list(expected)], context):
                return False
    return True


def evaluate(policies: list[dict], action: str, resource: str | None, context: dict[str, list[str]]) -> str:
    """``allow``, ``explicit deny`` or ``implicit deny`` for one action on one resource (``None``: any)."""
    allowed = False
    for statement in _statements(policies):
        if not (_action_matches(statement, action) and _resource_matches(statement, resource)):
            continue
        if not _conditions_hold(statement, context, resource_known=resource is not None):
            continue
        if statement.get("Effect") == "Deny":
            if resource is not None or "*" in _as_list(statement.get("Resource")):
                return "explicit deny"
        elif statement.get("Effect") == "Allow":
            allowed = True
    return "allow" if allowed else "implicit deny"


def authorize(
    principal: Principal,
    policies: list[dict],
    action: str,
    resources: list[str],
    derived: bool,
    context: dict,
    state: ResourceState | None = None,
    boundary: list[dict] | None = None,
) -> Check:
    """The decision on ``action`` over ``resources``; ``boundary``: the principal's permissions boundary (``None``:
    none), which must allow it too."""
    for resource in resources:
        own = {**context, **resource_context(resource, state)} if derived else context
        verdict = evaluate(policies, action, resource if derived else None, own)
        if verdict == "allow" and boundary is not None:
            verdict = evaluate(boundary, action, resource if derived else None, own)
            verdict = verdict if verdict == "allow" else f"{verdict} (permissions boundary)"
        if verdict != "allow":
            return Check(principal.session_arn, action, resources, False, derived, verdict, resource)
    return Check(principal.session_arn, action, resources, True, derived, "allow")


# Calls AWS answers whatever the policies say ("No permissions are required to perform this operation").
ALWAYS_ALLOWED = {"sts:GetCallerIdentity"}


def checks_for(
    request: Request,
    principal: Principal,
    policies: list[dict],
    state: ResourceState | None = None,
    boundary: list[dict] | None = None,
) -> list[Check]:
    """Every authorization AWS makes for ``request``: its own action, then the implied ones. ``state`` reads what
    the condition keys of existing resources need (a role's boundary, an EC2 resource's tags)."""
    account = principal.account
    if request.action in ALWAYS_ALLOWED:
        return [Check(principal.session_arn, request.action, ["*"], True, True, "no permission needed")]
    resources, derived = resources_of(request.action, request, account)
    context = {**request_context(request, state), **parameter_context(request, account)}
    checks = [authorize(principal, policies, request.action, resources, derived, context, state, boundary)]
    for action, implied_resources, implied_context in implied_checks(request, account, state):
        checks.append(authorize(principal, policies, action, implied_resources, True, implied_context, state, boundary))
    return checks


@dataclass
class Coverage:
    """What was checked: per action the resources, and whether they were derived from the request, are "*" only
    (the action has no resource-level permissions) or fell back to the action alone."""

    resources: dict[str, set[str]] = field(default_factory=dict)
    derived: set[str] = field(default_factory=set)
    star_only: set[str] = field(default_factory=set)
    action_level: set[str] = field(default_factory=set)

    def add(self, check: Check) -> None:
        self.resources.setdefault(check.action, set()).update(check.resources)
        if not check.derived:
            self.action_level.add(check.action)
        elif check.resources == ["*"]:
            self.star_only.add(check.action)
        else:
            self.derived.add(check.action)


def iam_prefix(signing_name: str) -> str:
    return IAM_PREFIX.get(signing_name, signing_name)
