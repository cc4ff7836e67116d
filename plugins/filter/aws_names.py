# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: aws_names
positional: stack
short_description: Check names built from a stack name against the rules AWS applies to each kind of resource name
version_added: 0.1.0
author: spillover.lambda_ecs contributors
description:
  - Takes the names the roles build from a stack name (their C(names) entry points) and returns, for each name AWS
    would refuse, the rule it breaks; and the longest stack name every one of those names can take.
  - Moto, the local AWS, checks none of these rules; AWS refuses the create call, halfway through a deploy.
  - 'The rules, by O(_input[].kind):'
  - V(security_group) (CreateSecurityGroup GroupName) 1 to 255 letters, digits, spaces, parentheses and
    C(._-:/#,@[]+=&;{}!$*), not starting with C(sg-); V(security_group_description) (its Description, and a rule's)
    1 to 255 of the same characters (no apostrophe).
  - V(load_balancer) (CreateLoadBalancer Name) 1 to 32 letters, digits and hyphens, no hyphen at either end, not
    starting with C(internal-).
  - V(target_group) (CreateTargetGroup Name) 1 to 32 letters, digits and hyphens, no hyphen at either end.
  - V(iam_role) 1 to 64, V(iam_policy) 1 to 128, V(sts_session) 2 to 64 of C(a-zA-Z0-9_+=,.@-) (ASCII letters and
    digits only, as the API's Java patterns mean them).
  - V(lambda_function) 1 to 64 letters, digits, hyphens and underscores.
  - V(log_group) 1 to 512 of C(a-zA-Z0-9_-/.#), not starting with C(aws/) (in any case).
  - V(ecr_repository) 2 to 256 lowercase letters and digits, joined by one C(.) or C(/), one or two C(_), or a run
    of C(-); no separator at either end.
  - V(eventbridge_rule) 1 to 64 of C(a-zA-Z0-9._-).
  - V(alarm) 1 to 255 characters, none an ASCII control character.
  - V(dashboard) 1 to 255 letters, digits, hyphens and underscores.
  - V(ecs_cluster), V(ecs_service), V(task_family) 1 to 255 letters, digits, hyphens and underscores.
  - V(tag_key) 1 to 128, V(tag_value) 0 to 256 Unicode letters, digits, spaces and C(_.:/=+-@), as the tagging APIs
    of Elastic Load Balancing, Lambda, CloudWatch Logs, EventBridge and ECS take them; a key does not start with
    C(aws:) in any case.
options:
  _input:
    description: The names to check.
    type: list
    elements: dict
    required: true
    suboptions:
      kind:
        description: The kind of name, one of the kinds above.
        type: str
        required: true
      name:
        description: The name as it would be sent to AWS. Required without O(_input[].names).
        type: str
      names:
        description: Several names of the same kind and O(_input[].what).
        type: list
        elements: str
      what:
        description: What the name names, for the message (for example C(the load balancer)).
        type: str
  stack:
    description: The stack name the names are built from; each name holds it once.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Check the names the role builds from its stack name
  ansible.builtin.assert:
    that: network__name_check.problems | length == 0
    fail_msg: "network_stack_name would build names AWS refuses: {{ network__name_check.problems | join('; ') }}."
  vars:
    network__name_check: >-
      {{ [{'kind': 'security_group', 'what': 'the load balancer security group', 'name': network__alb_group_name}]
         | spillover.lambda_ecs.aws_names(network_stack_name) }}
"""

RETURN = r"""
_value:
  description: What AWS would refuse, and how long the stack name may be.
  type: dict
  contains:
    problems:
      description: One sentence per refused name, naming it and the rule it breaks; empty when AWS takes every name.
      type: list
      elements: str
      sample: ["the load balancer name 'internal-shop' may not start with 'internal-'"]
    longest_stack:
      description: The longest stack name every name can take (each kind's length limit less what the name adds).
      type: int
      sample: 25
"""

import re
import unicodedata
from typing import NamedTuple

from ansible.errors import AnsibleFilterError

_IAM = r"[\w+=,.@-]+"
# ECR's model: components of lowercase letters and digits joined by one '.', one or two '_', or any run of '-'.
_SEPARATED = r"[a-z0-9]+(?:(?:[.]|__?|-+)[a-z0-9]+)*"
# What EC2 takes in a VPC security group's name and descriptions (CreateSecurityGroup).
_EC2_TEXT = r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]+"
_EC2_TEXT_SAYS = "letters, digits, spaces and ._-:/()#,@[]+=&;{}!$* only"


class Rule(NamedTuple):
    minimum: int
    maximum: int
    pattern: str  # a whole-string ASCII pattern; "": Unicode letters, numbers and spaces, and the characters of unicode
    says: str
    forbidden_prefix: str = ""
    label: str = ""
    unicode: str = ""  # with pattern "": the characters taken beside Unicode letters, numbers and spaces


# Tags, as the tagging APIs of ELB, Lambda, Logs, EventBridge, ECS, IAM and CloudWatch take them:
# [\p{L}\p{Z}\p{N}_.:/=+\-@] (EC2 and ECR take any character; every role's tags reach one of the former).
_TAG_SAYS = "letters, digits, spaces and _.:/=+-@ only"


def _unicode_text(name, extra):
    return all(char in extra or unicodedata.category(char)[0] in "LNZ" for char in name)


RULES = {
    "security_group": Rule(
        1,
        255,
        _EC2_TEXT,
        _EC2_TEXT_SAYS,
        forbidden_prefix="sg-",
        label="security group name",
    ),
    "security_group_description": Rule(
        1,
        255,
        _EC2_TEXT,
        _EC2_TEXT_SAYS,
        label="security group description",
    ),
    "load_balancer": Rule(
        1,
        32,
        r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?",
        "letters, digits and hyphens only, no hyphen at either end",
        forbidden_prefix="internal-",
        label="load balancer name",
    ),
    "target_group": Rule(
        1,
        32,
        r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?",
        "letters, digits and hyphens only, no hyphen at either end",
        label="target group name",
    ),
    "iam_role": Rule(1, 64, _IAM, "letters, digits and _+=,.@- only", label="IAM role name"),
    "iam_policy": Rule(1, 128, _IAM, "letters, digits and _+=,.@- only", label="IAM policy name"),
    "sts_session": Rule(2, 64, _IAM, "letters, digits and _+=,.@- only", label="role session name"),
    "lambda_function": Rule(
        1, 64, r"[a-zA-Z0-9_-]+", "letters, digits, hyphens and underscores only", label="Lambda function name"
    ),
    "log_group": Rule(
        1,
        512,
        r"[a-zA-Z0-9_\-/.#]+",
        "letters, digits and _-/.# only",
        forbidden_prefix="aws/",
        label="log group name",
    ),
    "ecr_repository": Rule(
        2,
        256,
        rf"(?:{_SEPARATED}/)*{_SEPARATED}",
        "lowercase letters and digits joined by one . or /, one or two _, or hyphens; none at an end",
        label="ECR repository name",
    ),
    "eventbridge_rule": Rule(1, 64, r"[a-zA-Z0-9._-]+", "letters, digits and ._- only", label="EventBridge rule name"),
    "alarm": Rule(1, 255, r"[^\x00-\x1f\x7f]+", "no ASCII control characters", label="alarm name"),
    "dashboard": Rule(
        1, 255, r"[a-zA-Z0-9_-]+", "letters, digits, hyphens and underscores only", label="dashboard name"
    ),
    "ecs_cluster": Rule(
        1, 255, r"[a-zA-Z0-9_-]+", "letters, digits, hyphens and underscores only", label="ECS cluster name"
    ),
    "ecs_service": Rule(
        1, 255, r"[a-zA-Z0-9_-]+", "letters, digits, hyphens and underscores only", label="ECS service name"
    ),
    "task_family": Rule(
        1, 255, r"[a-zA-Z0-9_-]+", "letters, digits, hyphens and underscores only", label="task definition family"
    ),
    "tag_key": Rule(1, 128, "", _TAG_SAYS, forbidden_prefix="aws:", label="tag key", unicode="_.:/=+-@"),
    "tag_value": Rule(0, 256, "", _TAG_SAYS, label="tag value", unicode="_.:/=+-@"),
}


def problem(kind, name, what=""):
    """The rule of ``kind`` that ``name`` breaks, as a sentence naming both; ``None`` when AWS takes it."""
    rule = RULES[kind]
    subject = f"{what + ' ' if what else ''}{rule.label} {name!r}"
    if not rule.minimum <= len(name) <= rule.maximum:
        return f"{subject} has {len(name)} characters, {rule.label}s have {rule.minimum} to {rule.maximum}"
    if rule.forbidden_prefix and name.lower().startswith(rule.forbidden_prefix):
        return f"{subject} may not start with {rule.forbidden_prefix!r}"
    if not (re.fullmatch(rule.pattern, name, re.ASCII) if rule.pattern else _unicode_text(name, rule.unicode)):
        return f"{subject} breaks the rule of {rule.label}s: {rule.says}"
    return None


def aws_names(names, stack):
    """``{"problems": [...], "longest_stack": n}`` of the names built from ``stack``."""
    if not isinstance(names, list) or not all(isinstance(entry, dict) for entry in names):
        raise AnsibleFilterError(f"aws_names expects a list of {{kind, name or names, what}} dicts, got {names!r}")
    unknown = sorted({str(entry.get("kind")) for entry in names} - set(RULES))
    if unknown:
        raise AnsibleFilterError(f"aws_names: unknown kind(s) {', '.join(unknown)}; kinds: {', '.join(RULES)}")
    stack = str(stack)
    problems, room = [], []
    for entry in names:
        for name in entry["names"] if "names" in entry else [entry.get("name", "")]:
            name = str(name)
            found = problem(entry["kind"], name, entry.get("what") or "")
            if found:
                problems.append(found)
            if stack and stack in name:
                room.append(RULES[entry["kind"]].maximum - (len(name) - len(stack)))
    return {"problems": problems, "longest_stack": min(room) if room else 0}


class FilterModule:
    """spillover.lambda_ecs filters."""

    def filters(self):
        return {"aws_names": aws_names}
