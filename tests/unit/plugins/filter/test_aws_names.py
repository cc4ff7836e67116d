"""spillover.lambda_ecs.aws_names: the rules AWS applies to each kind of name; and the security group descriptions the
roles send, rendered as EC2 gets them, against EC2's rule (the local AWS takes any description; EC2 answers
InvalidParameterValue: Invalid security group description).

The stack names' own cases run through the play's real check: tests/integration/test_stack_name.py.
"""

from __future__ import annotations

import sys

import pytest
import yaml

from tests.support.ansible_run import ROOT, link_collection

sys.path.insert(0, str(link_collection()))

from ansible.errors import AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible_collections.spillover.lambda_ecs.plugins.filter.aws_names import FilterModule, aws_names, problem

SHORTEST, LONGEST = "a", "a" * 25
SECURITY_GROUP_MODULES = ("amazon.aws.ec2_security_group", "ec2_security_group")


def security_group_texts() -> list[tuple[str, str]]:
    """``(where, template)`` of every description and rule description of every security group a role creates."""
    found = []
    for path in sorted((ROOT / "roles").glob("*/tasks/*.yml")):
        for task in yaml.safe_load(path.read_text()) or []:
            args = next((task[key] for key in SECURITY_GROUP_MODULES if key in task), None)
            if not args or args.get("state", "present") != "present":
                continue
            where = f"{path.relative_to(ROOT)}: {task['name']}"
            found.append((where, args["description"]))
            found += [(f"{where}, rule", rule["rule_desc"]) for rule in args.get("rules", []) if "rule_desc" in rule]
    return found


def test_the_roles_create_security_groups_with_descriptions():
    # The stack's two groups, and the created VPC's default group that the network role strips of its rules.
    assert len([where for where, _ in security_group_texts() if not where.endswith("rule")]) == 3


@pytest.mark.parametrize("stack", [SHORTEST, LONGEST], ids=["shortest", "longest"])
def test_every_security_group_description_is_one_ec2_accepts(stack):
    templar = Templar(loader=DataLoader(), variables={"network_stack_name": stack})
    for where, template in security_group_texts():
        text = templar.template(trust_as_template(template))
        assert stack in text or "{{" not in template
        assert problem("security_group_description", text) is None, where


@pytest.mark.parametrize(
    ("text", "broken"),
    [
        ("Listener ports of shop's load balancer", "breaks the rule of security group descriptions"),
        ("x" * 256, "has 256 characters, security group descriptions have 1 to 255"),
        ("", "has 0 characters"),
        ("Ports: 80, 443 (HTTP/HTTPS) #1 @edge [a+b=c&d;{e}!$*]", None),
    ],
    ids=["apostrophe", "too-long", "empty", "every-allowed-character"],
)
def test_the_security_group_description_rule(text, broken):
    found = problem("security_group_description", text)
    assert found is None if broken is None else broken in found


def test_the_longest_stack_is_what_the_tightest_limit_leaves():
    names = [
        {"kind": "load_balancer", "name": "shop"},
        {"kind": "target_group", "what": "the Lambda", "name": "shop-lambda"},
        {"kind": "iam_role", "names": ["shop-app-task-exec", "shop-scaler"]},
    ]
    assert aws_names(names, "shop") == {"problems": [], "longest_stack": 25}


def test_several_problems_are_reported_at_once():
    names = [
        {"kind": "security_group", "what": "the tasks'", "name": "sg-x-tasks"},
        {"kind": "ecr_repository", "names": ["sg-x-app", "Sg-X-app"]},
    ]
    assert aws_names(names, "sg-x")["problems"] == [
        "the tasks' security group name 'sg-x-tasks' may not start with 'sg-'",
        "ECR repository name 'Sg-X-app' breaks the rule of ECR repository names: lowercase letters and digits "
        "joined by one . or /, one or two _, or hyphens; none at an end",
    ]


def test_bad_input_is_refused():
    with pytest.raises(AnsibleFilterError, match="unknown kind"):
        aws_names([{"kind": "bucket", "name": "x"}], "x")
    with pytest.raises(AnsibleFilterError, match="expects a list"):
        aws_names({"kind": "alarm"}, "x")


def test_the_filter_is_registered():
    assert FilterModule().filters()["aws_names"] is aws_names
