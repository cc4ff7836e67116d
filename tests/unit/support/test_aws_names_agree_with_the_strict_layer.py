"""Two witnesses of the same AWS rules, kept apart on purpose and held to agree.

The play refuses a stack name before anything is created with the collection's ``aws_names`` filter
(plugins/filter/aws_names.py): it must ship with the collection, and cannot read a test package. The strict local AWS
(tests/support/aws_quirks/constraints.py) judges every request from botocore's models, cfn-lint's schemas and its
``DOCUMENTED`` table: it must not read the product it judges, or a wrong rule would agree with itself.

So each kind of name the filter knows is sent, as the request the roles make, through the strict layer, with names at
and past every edge the rules have; the two must give the same verdict on each. A rule one of them lacks, or states
differently, fails here and names the kind and the name.
"""

from __future__ import annotations

import sys

import pytest

from tests.support.ansible_run import link_collection
from tests.support.aws_quirks.constraints import check

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.filter.aws_names import RULES, problem

_ROLE_ARN = "arn:aws:iam::123456789012:role/spill-scaler"
_TRUST = '{"Version":"2012-10-17","Statement":[]}'

# kind -> (signing name, operation, the member the name goes in, the rest of a request the model accepts)
REQUESTS = {
    "security_group": ("ec2", "CreateSecurityGroup", "GroupName", {"GroupDescription": "spill"}),
    "security_group_description": ("ec2", "CreateSecurityGroup", "GroupDescription", {"GroupName": "spill"}),
    "load_balancer": ("elasticloadbalancing", "CreateLoadBalancer", "Name", {}),
    "target_group": ("elasticloadbalancing", "CreateTargetGroup", "Name", {"TargetType": "lambda"}),
    "iam_role": ("iam", "CreateRole", "RoleName", {"AssumeRolePolicyDocument": _TRUST}),
    "iam_policy": ("iam", "PutRolePolicy", "PolicyName", {"RoleName": "spill", "PolicyDocument": _TRUST}),
    "sts_session": ("sts", "AssumeRole", "RoleSessionName", {"RoleArn": _ROLE_ARN}),
    "lambda_function": (
        "lambda",
        "CreateFunction",
        "FunctionName",
        {"Role": _ROLE_ARN, "Code": {"ImageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/spill:1"}},
    ),
    "log_group": ("logs", "CreateLogGroup", "logGroupName", {}),
    "ecr_repository": ("ecr", "CreateRepository", "repositoryName", {}),
    "eventbridge_rule": ("events", "PutRule", "Name", {"ScheduleExpression": "rate(1 minute)"}),
    "alarm": (
        "monitoring",
        "PutMetricAlarm",
        "AlarmName",
        {"EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 1.0},
    ),
    "dashboard": ("monitoring", "PutDashboard", "DashboardName", {"DashboardBody": '{"widgets":[]}'}),
    "ecs_cluster": ("ecs", "CreateCluster", "clusterName", {}),
    "ecs_service": ("ecs", "CreateService", "serviceName", {}),
    "task_family": ("ecs", "RegisterTaskDefinition", "family", {"containerDefinitions": []}),
    # Tags through ELB's AddTags: its model carries the tagging APIs' pattern; the layer adds the reserved aws: prefix.
    "tag_key": ("elasticloadbalancing", "AddTags", lambda key: {"Tags": [{"Key": key, "Value": "v"}]}, {}),
    "tag_value": ("elasticloadbalancing", "AddTags", lambda value: {"Tags": [{"Key": "k", "Value": value}]}, {}),
}
_ARNS = {"ResourceArns": ["arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/spill/0123456789"]}


def _request(kind: str, name: str) -> tuple[str, str, dict]:
    service, operation, member, rest = REQUESTS[kind]
    if callable(member):
        return service, operation, {**_ARNS, **member(name)}
    return service, operation, {**rest, member: name}


# Each rule's edges: separators, doubled and at the ends; the reserved prefixes in both cases; characters one kind
# takes and another refuses; a letter outside ASCII (Java's \w refuses it, Python's takes it); a control character.
EDGES = (
    "spill",
    "Spill01",
    "spill-api",
    "spill_api",
    "spill.api",
    "spill/api",
    "spill--api",
    "spill__api",
    "spill//api",
    "-spill",
    "spill-",
    "_spill",
    "spill_",
    ".spill",
    "spill.",
    "/spill",
    "spill/",
    "spill api",
    "spill's api",
    "spill:api",
    "spill#1",
    "spill@api",
    "spill+api=1,2",
    "spill(api)",
    "spill&api;{}!$*",
    "spill[1]",
    "spill%api",
    "spill~api",
    "sg-spill",
    "SG-spill",
    "internal-spill",
    "aws/spill",
    "AWS/spill",
    "/aws/lambda/spill",
    "spillé",
    "spill\tapi",
    "spill\u00a0api",
    "spill\u2028api",
    "aws:spill",
    "AWS:spill",
    "spill=1+2@host:/x",
    "",
    "a",
    "ab",
)


# Where the two may differ, and why. CreateFunction's FunctionName takes a name or an ARN, and its model's pattern
# reads 'spill:api' as a partial ARN (name:qualifier); the layer does not guess what AWS answers to a qualifier at
# creation, while the filter, which sees only the names the roles build, refuses any colon.
ASIDE = {"lambda_function": lambda name: ":" in name}


def _edges(kind: str) -> list[str]:
    rule = RULES[kind]
    lengths = {rule.minimum - 1, rule.minimum, rule.maximum, rule.maximum + 1} - {0}
    aside = ASIDE.get(kind, lambda _name: False)
    return [name for name in (*EDGES, *("a" * length for length in sorted(lengths))) if not aside(name)]


def test_every_kind_of_name_has_its_request():
    assert set(REQUESTS) == set(RULES)


@pytest.mark.parametrize("kind", sorted(RULES))
def test_the_filter_and_the_strict_layer_agree_on_every_edge(kind):
    disagreements = []
    for name in _edges(kind):
        service, operation, params = _request(kind, name)
        verdict = check(service, operation, params)
        refused_by_filter = problem(kind, name)
        if (verdict is None) != (refused_by_filter is None):
            layer = f"refused ({verdict.code}: {verdict.message})" if verdict else "taken"
            disagreements.append(f"{name!r}: the filter says {refused_by_filter or 'taken'}; the strict layer {layer}")
    assert not disagreements, f"{kind} ({REQUESTS[kind][1]}):\n" + "\n".join(disagreements)


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("iam_role", "spillé"),
        ("log_group", "aws/spill"),
        ("load_balancer", "internal-spill"),
        ("security_group", "sg-spill"),
        ("target_group", "a" * 33),
        ("tag_key", "AWS:owner"),
        ("tag_value", "team's"),
    ],
)
def test_both_refuse_the_names_that_once_slipped_through(kind, name):
    assert problem(kind, name)
    assert check(*_request(kind, name)) is not None
