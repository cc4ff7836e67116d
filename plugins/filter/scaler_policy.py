# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: scaler_policy
short_description: Least-privilege IAM policy document for the spillover scaler Lambda
version_added: 0.1.0
author: spillover.lambda_ecs contributors
description:
  - Builds the IAM policy document the scaler function (C(files/scaler/scaler.py)) needs, from the same settings
    it is deployed with, and nothing more.
  - Write actions are scoped to the one ECS service and to the listeners (or the one rule) whose forward weights the
    scaler moves. C(elasticloadbalancing:ModifyListener) is granted on each listener, C(elasticloadbalancing:AddTags)
    only on the first listener (or the rule), where the scaler keeps its one last-move record, and only for its own
    tag key.
  - The listeners' other rules (the alb role's ECS-only path rules) are not the scaler's. It neither reads nor
    writes them, and the policy grants nothing on them.
  - Read actions are scoped where AWS supports resource-level permissions (C(cloudwatch:DescribeAlarms) to the
    named alarms, C(ecs:DescribeServices) to the service). The C(elasticloadbalancing:Describe*) actions support no
    resource-level permissions, so their statement uses C(*) and its C(Sid) says why; among them
    C(DescribeTargetGroups), for the health check settings that bound the scaler's health gate.
  - Its writes are narrowed further by the condition keys AWS offers for them. C(ecs:UpdateService) is allowed only
    without a C(taskDefinition) (a C(Null) condition on C(ecs:task-definition)), so the grant scales the service and
    cannot switch the code it runs. C(elasticloadbalancing:ModifyListener) is allowed only without a C(Protocol) or
    C(SslPolicy) (C(Null) conditions on C(elasticloadbalancing:ListenerProtocol) and
    C(elasticloadbalancing:SecurityPolicy)), so HTTPS stays HTTPS with its TLS policy.
  - AWS has no condition key for a listener's port, certificates or the target groups of its actions, nor any beyond
    the resource's tags for C(elasticloadbalancing:ModifyRule); those grants are bounded by their resources alone (the
    stack's listeners or rule).
  - Logs go only to the function's own log group.
  - With O(_input.app_function_name) (the scaler's step-down guard, C(SPILLOVER_FUNCTION_NAME)), it may also read
    that function's reserved concurrency (C(lambda:GetFunctionConcurrency), scoped to the function) and metric data
    (C(cloudwatch:GetMetricData), which supports no resource-level permissions, so on C(*) with a C(Sid) that says so).
  - Every problem of the input is reported in one error.
options:
  _input:
    description: The scaler's settings.
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
      cluster_name:
        description: The ECS cluster of the spill service.
        type: str
        required: true
      service_name:
        description: The ECS service the scaler scales (C(SPILLOVER_SERVICE)).
        type: str
        required: true
      listener_arns:
        description:
          - The ALB listeners whose default forward actions the scaler moves as one (C(SPILLOVER_LISTENER_ARNS)), all
            of one load balancer; the first holds the last-move record.
          - One of O(_input.listener_arns) and O(_input.listener_arn) is required.
        type: list
        elements: str
      listener_arn:
        description: One listener, the same as O(_input.listener_arns) with one element.
        type: str
      rule_arn:
        description:
          - A rule of the one listener to move instead of its default action (C(SPILLOVER_RULE_ARN)).
          - When set, the scaler may modify and tag only this rule, not the listener.
        type: str
      lambda_target_group_arn:
        description: The Lambda target group of the forward action; checked to belong to the same account and region.
        type: str
        required: true
      ecs_target_group_arn:
        description: The ECS (ip) target group of the forward action; checked like O(_input.lambda_target_group_arn).
        type: str
        required: true
      spill_alarm_names:
        description: The alarms that move traffic (C(SPILLOVER_SPILL_ALARMS)); at least one.
        type: list
        elements: str
        required: true
      warm_alarm_names:
        description: The alarms that only start capacity (C(SPILLOVER_WARM_ALARMS)).
        type: list
        elements: str
        default: []
      function_name:
        description: The scaler function's own name, for its log group.
        type: str
        required: true
      log_group_name:
        description: The scaler's log group, when not the Lambda default C(/aws/lambda/<function_name>).
        type: str
      app_function_name:
        description:
          - The app function whose traffic the scaler moves (C(SPILLOVER_FUNCTION_NAME)), for the step-down guard.
          - When omitted, the guard is off and the policy grants no Lambda or metric-data read.
        type: str
"""

EXAMPLES = r"""
- name: Give the scaler role exactly what the scaler needs
  amazon.aws.iam_policy:
    iam_type: role
    iam_name: spillover-scaler
    policy_name: spillover-scaler
    policy_json: "{{ scaler_policy_input | spillover.lambda_ecs.scaler_policy | to_json }}"
  vars:
    scaler_policy_input:
      account_id: "123456789012"
      region: us-east-1
      cluster_name: spill
      service_name: app
      listener_arns: ["{{ http_listener_arn }}", "{{ https_listener_arn }}"]
      lambda_target_group_arn: "{{ lambda_target_group_arn }}"
      ecs_target_group_arn: "{{ ecs_target_group_arn }}"
      spill_alarm_names: [app-throttles]
      warm_alarm_names: [app-concurrency-high]
      function_name: spillover-scaler
      app_function_name: spillover-app
"""

RETURN = r"""
_value:
  description: An IAM policy document (C(Version) and C(Statement)), ready for C(to_json).
  type: dict
  sample:
    Version: "2012-10-17"
    Statement:
      - Sid: ReadOwnAlarmStates
        Effect: Allow
        Action: [cloudwatch:DescribeAlarms]
        Resource: [arn:aws:cloudwatch:us-east-1:123456789012:alarm:app-throttles]
"""

import re

from ansible.errors import AnsibleFilterError

LAST_MOVE_TAG = "spillover:last-move"  # the tag key files/scaler/scaler.py writes
# Request condition keys (Service Authorization Reference) the scaler's writes must leave unset. AWS sets each from
# the request parameter it names, and only when the request has it; the scaler sends ecs:UpdateService with its
# desired count only and elasticloadbalancing:ModifyListener with DefaultActions only, so a "Null" condition on them
# costs it nothing and refuses any other use of the grant.
TASK_DEFINITION_KEY = "ecs:task-definition"  # UpdateService's taskDefinition
LISTENER_KEYS = (
    "elasticloadbalancing:ListenerProtocol",  # ModifyListener's Protocol
    "elasticloadbalancing:SecurityPolicy",  # ModifyListener's SslPolicy
)
_REQUIRED = (
    "account_id",
    "region",
    "cluster_name",
    "service_name",
    "lambda_target_group_arn",
    "ecs_target_group_arn",
    "spill_alarm_names",
    "function_name",
)
_OPTIONAL = (
    "partition",
    "listener_arns",
    "listener_arn",
    "rule_arn",
    "warm_alarm_names",
    "log_group_name",
    "app_function_name",
)
_PATTERNS = {
    "account_id": r"[0-9]{12}",
    "region": r"[a-z]{2}(-[a-z]+)+-[0-9]",
    "partition": r"aws(-[a-z]+)*",
    "cluster_name": r"[A-Za-z0-9_-]{1,255}",
    "service_name": r"[A-Za-z0-9_-]{1,255}",
    "function_name": r"[A-Za-z0-9_-]{1,64}",
    "app_function_name": r"[A-Za-z0-9_-]{1,64}",
    "log_group_name": r"[A-Za-z0-9_/.#-]{1,512}",
}
_ALARM_NAME = re.compile(r"[^\x00-\x1f*?]{1,255}")


def _listener_arns(data: dict) -> list:
    """The listeners, from listener_arns or the one listener_arn."""
    if data.get("listener_arns") not in (None, ""):
        return data["listener_arns"]
    return [data["listener_arn"]] if data.get("listener_arn") else []


def _problems(data: dict) -> list[str]:
    problems = [f"{key} is required" for key in _REQUIRED if data.get(key) in (None, "", [])]
    if data.get("listener_arns") and data.get("listener_arn"):
        problems.append("give listener_arns, or listener_arn for one listener, not both")
    listeners = _listener_arns(data)
    if not isinstance(listeners, list) or not listeners:
        problems.append(f"listener_arns is required (a non-empty list of listener ARNs), got {listeners!r}")
    elif len(set(map(str, listeners))) != len(listeners):
        problems.append("listener_arns names a listener twice")
    elif data.get("rule_arn") and len(listeners) > 1:
        problems.append("rule_arn moves a rule of one listener: give one listener with it")
    problems += [f"unknown key {key!r}" for key in sorted(set(data) - set(_REQUIRED) - set(_OPTIONAL))]
    for key, pattern in _PATTERNS.items():
        value = data.get(key)
        if value in (None, "") and key in _REQUIRED:
            continue
        if value is not None and not (isinstance(value, str) and re.fullmatch(pattern, value)):
            problems.append(f"{key} must be a string matching {pattern}, got {value!r}")
    for key in ("spill_alarm_names", "warm_alarm_names"):
        names = data.get(key) or []
        if not isinstance(names, list) or not all(isinstance(n, str) and _ALARM_NAME.fullmatch(n) for n in names):
            problems.append(f"{key} must be a list of alarm names (no wildcards), got {names!r}")
    return problems


def _arn_problems(data: dict, prefix: str) -> list[str]:
    expected = {
        "rule_arn": prefix + r"listener-rule/app/[^/]+/[0-9a-f]+/[0-9a-f]+/[0-9a-f]+",
        "lambda_target_group_arn": prefix + r"targetgroup/[^/]+/[0-9a-f]+",
        "ecs_target_group_arn": prefix + r"targetgroup/[^/]+/[0-9a-f]+",
    }
    problems = []
    listener = re.compile(prefix + r"listener/app/([^/]+/[0-9a-f]+)/[0-9a-f]+")
    listeners = _listener_arns(data)
    listeners_key = "listener_arns" if data.get("listener_arns") else "listener_arn"
    for value in listeners:
        if not (isinstance(value, str) and listener.fullmatch(value)):
            problems.append(
                f"{listeners_key} must be an application load balancer listener ARN in this account and region,"
                f" got {value!r}"
            )
    if not problems and len({listener.fullmatch(value).group(1) for value in listeners}) > 1:
        problems.append(f"{listeners_key} must be listeners of one load balancer")
    for key, pattern in expected.items():
        value = data.get(key)
        if value and not (isinstance(value, str) and re.fullmatch(pattern, value)):
            problems.append(f"{key} must be an application load balancer ARN in this account and region, got {value!r}")
    rule = data.get("rule_arn")
    if not problems and rule and not rule.startswith(listeners[0].replace(":listener/", ":listener-rule/") + "/"):
        problems.append(f"rule_arn must be a rule of {listeners_key}")
    return problems


def scaler_policy(data: dict) -> dict:
    """Return the least-privilege IAM policy document of the scaler described by ``data``."""
    if not isinstance(data, dict):
        raise AnsibleFilterError(f"scaler_policy expects a dict of the scaler's settings, got {type(data).__name__}")
    problems = _problems(data)
    if not problems:
        partition = data.get("partition") or "aws"
        region, account = data["region"], data["account_id"]
        problems = _arn_problems(data, re.escape(f"arn:{partition}:elasticloadbalancing:{region}:{account}:"))
    if problems:
        raise AnsibleFilterError("invalid scaler_policy input: " + "; ".join(problems))

    alarms = list(dict.fromkeys(data["spill_alarm_names"] + (data.get("warm_alarm_names") or [])))
    # What the scaler moves, and where its one last-move record lives: the rule, or every listener and the first.
    moved_arns = [data["rule_arn"]] if data.get("rule_arn") else list(_listener_arns(data))
    record_arn = moved_arns[0]
    log_group = data.get("log_group_name") or f"/aws/lambda/{data['function_name']}"
    log_group_arn = f"arn:{partition}:logs:{region}:{account}:log-group:{log_group}"
    service_arn = f"arn:{partition}:ecs:{region}:{account}:service/{data['cluster_name']}/{data['service_name']}"
    modify = "elasticloadbalancing:ModifyRule" if data.get("rule_arn") else "elasticloadbalancing:ModifyListener"
    describe = (
        "elasticloadbalancing:DescribeRules" if data.get("rule_arn") else "elasticloadbalancing:DescribeListeners"
    )
    statements = [
        {
            "Sid": "ReadOwnAlarmStates",
            "Effect": "Allow",
            "Action": ["cloudwatch:DescribeAlarms"],
            "Resource": [f"arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}" for name in alarms],
        },
        {
            "Sid": "ReadLoadBalancerStateElbDescribeHasNoResourceLevelPermissions",
            "Effect": "Allow",
            "Action": sorted(
                [
                    describe,
                    "elasticloadbalancing:DescribeTags",
                    "elasticloadbalancing:DescribeTargetGroupAttributes",
                    "elasticloadbalancing:DescribeTargetGroups",
                    "elasticloadbalancing:DescribeTargetHealth",
                ]
            ),
            "Resource": "*",
        },
        {
            "Sid": "ReadTheSpillService",
            "Effect": "Allow",
            "Action": ["ecs:DescribeServices"],
            "Resource": [service_arn],
        },
        {
            "Sid": "ScaleTheSpillServiceNeverSwitchItsTaskDefinition",
            "Effect": "Allow",
            "Action": ["ecs:UpdateService"],
            "Resource": [service_arn],
            "Condition": {"Null": {TASK_DEFINITION_KEY: "true"}},
        },
        {
            "Sid": "MoveForwardWeights" if data.get("rule_arn") else "MoveForwardWeightsNeverChangeProtocolOrTlsPolicy",
            "Effect": "Allow",
            "Action": [modify],
            "Resource": moved_arns,
            **({} if data.get("rule_arn") else {"Condition": {"Null": {key: "true" for key in LISTENER_KEYS}}}),
        },
        {
            "Sid": "RememberLastMoveInOwnTag",
            "Effect": "Allow",
            "Action": ["elasticloadbalancing:AddTags"],
            "Resource": [record_arn],
            "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": [LAST_MOVE_TAG]}},
        },
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [log_group_arn, f"{log_group_arn}:log-stream:*"],
        },
    ]
    if data.get("app_function_name"):
        app_function_arn = f"arn:{partition}:lambda:{region}:{account}:function:{data['app_function_name']}"
        statements += [
            {
                "Sid": "ReadRequestRateAndDurationGetMetricDataHasNoResourceLevelPermissions",
                "Effect": "Allow",
                "Action": ["cloudwatch:GetMetricData"],
                "Resource": "*",
            },
            {
                "Sid": "ReadAppFunctionReservedConcurrency",
                "Effect": "Allow",
                "Action": ["lambda:GetFunctionConcurrency"],
                "Resource": [app_function_arn],
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}


class FilterModule:
    """spillover.lambda_ecs filters."""

    def filters(self):
        return {"scaler_policy": scaler_policy}
