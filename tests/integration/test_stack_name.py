"""The stack-name check every playbook runs first (playbooks/tasks/stack_name.yml): a stack name that would build a
name AWS refuses is refused, with the variable, the name that would be built and the rule it breaks, before any AWS
call. The local AWS (moto) takes all of these names; AWS refuses them halfway through a deploy.

One run of playbooks/deployer_policy.yml (no AWS call) with one inventory host per stack name: the play's real check.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.support.ansible_run import ROOT, run_playbook

pytestmark = pytest.mark.integration

LONGEST = 25  # <stack>-lambda, a target group name: at most 32 characters

REFUSED = {
    "sg-shop": "the load balancer's security group name 'sg-shop-alb' may not start with 'sg-'",
    "internal-shop": "the stack's load balancer name 'internal-shop' may not start with 'internal-'",
    "shop-": "load balancer name 'shop-' breaks the rule of load balancer names: letters, digits and hyphens only, "
    "no hyphen at either end",
    "-shop": "load balancer name '-shop' breaks the rule of load balancer names",
    "a" * (LONGEST + 1): f"the Lambda target group name '{'a' * (LONGEST + 1)}-lambda' has 33 characters, "
    "target group names have 1 to 32",
    "Shop": "the app's ECR repository name 'Shop-app' breaks the rule of ECR repository names: lowercase letters and "
    "digits joined by one . or /, one or two _, or hyphens; none at an end",
    "shop_blue": "load balancer name 'shop_blue' breaks the rule of load balancer names",
    "shop.blue": "target group name 'shop.blue-ecs' breaks the rule of target group names",
    "shop blue": "Lambda function name 'shop blue-app' breaks the rule of Lambda function names",
}
ACCEPTED = ["a", "9lives", "a" * LONGEST, "shop-prod-2", "shop--blue"]
FATAL = re.compile(r"^fatal: \[(?P<host>[^\]]+)\]: FAILED! => (?P<result>\{.*\})$", re.M)
RECAP = re.compile(r"^(?P<host>\S+)\s+: ok=\d+\s+changed=\d+\s+unreachable=\d+\s+failed=(?P<failed>\d+)", re.M)


def deployer_policy_outcomes(work, hosts: dict[str, dict]) -> dict[str, tuple[int, str]]:
    """``{host: (failed, message)}`` of one run of deployer_policy.yml (no AWS call) over ``hosts``."""
    inventory = work / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "vars": {
                        "ansible_connection": "local",
                        "spillover_aws_region": "us-east-1",
                        "network_create_vpc": True,
                    },
                    "children": {"spillover_stacks": {"hosts": hosts}},
                }
            }
        )
    )
    completed = run_playbook(ROOT / "playbooks" / "deployer_policy.yml", inventory=inventory)
    messages = {m["host"]: json.loads(m["result"])["msg"] for m in FATAL.finditer(completed.stdout)}
    failed = {m["host"]: int(m["failed"]) for m in RECAP.finditer(completed.stdout)}
    assert set(failed) == set(hosts), completed.stdout[-4000:] + completed.stderr[-2000:]
    return {host: (failed[host], messages.get(host, "")) for host in hosts}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory) -> dict[str, tuple[int, str]]:
    """``{stack name: (failed, message)}`` of one run of deployer_policy.yml with one host per stack name."""
    names = [*REFUSED, *ACCEPTED, ""]
    hosts = {
        f"stack{index}": {"spillover_stack_name": name, "spillover_aws_account_id": "123456789012"}
        for index, name in enumerate(names)
    }
    found = deployer_policy_outcomes(tmp_path_factory.mktemp("stack-names"), hosts)
    return {hosts[host]["spillover_stack_name"]: found[host] for host in hosts}


@pytest.mark.parametrize("stack", list(REFUSED), ids=[f"refused-{name!r}" for name in REFUSED])
def test_a_stack_name_that_builds_a_name_aws_refuses_is_refused_with_the_rule(outcome, stack):
    failed, message = outcome[stack]
    assert failed == 1
    assert message.startswith(f"spillover_stack_name {json.dumps(stack)} would build names AWS refuses: ")
    assert REFUSED[stack] in message
    assert f"A stack name of at most {LONGEST} lowercase letters" in message


@pytest.mark.parametrize("stack", ACCEPTED, ids=[f"accepted-{len(name)}-{name[:6]}" for name in ACCEPTED])
def test_the_shortest_and_the_longest_legal_stack_names_pass(outcome, stack):
    failed, message = outcome[stack]
    assert (failed, message) == (0, "")


def test_no_stack_name_is_refused(outcome):
    failed, message = outcome[""]
    assert failed == 1 and message.startswith("Set spillover_stack_name for stack")


TAGGED = {
    "reserved-key": ({"alb_tags": {"aws:owner": "me"}}, "alb_tags: tag key 'aws:owner' may not start with 'aws:'"),
    "apostrophe": (
        {"scaler_tags": {"team": "platform's"}},
        'scaler_tags: tag value "platform\'s" breaks the rule of tag values: letters, digits, spaces and _.:/=+-@ only',
    ),
    "long-key": ({"network_tags": {"k" * 129: "v"}}, f"network_tags: tag key '{'k' * 129}' has 129 characters"),
    "not-a-dict": ({"ecs_service_tags": ["team=platform"]}, "ecs_service_tags must be a dict of tag keys to values."),
    "taken": ({"lambda_function_tags": {"équipe": "plateforme 2", "cost:center": "a/b=c+d@e", "empty": ""}}, ""),
}


@pytest.fixture(scope="module")
def tag_outcome(tmp_path_factory) -> dict[str, tuple[int, str]]:
    """``{case: (failed, message)}`` of one run of deployer_policy.yml with one host per case of TAGGED."""
    hosts = {
        case: {"spillover_stack_name": "shop", "spillover_aws_account_id": "123456789012", **given}
        for case, (given, _message) in TAGGED.items()
    }
    return deployer_policy_outcomes(tmp_path_factory.mktemp("tags"), hosts)


@pytest.mark.parametrize("case", list(TAGGED))
def test_a_tag_aws_refuses_is_refused_before_anything_with_its_variable(tag_outcome, case):
    failed, message = tag_outcome[case]
    expected = TAGGED[case][1]
    if not expected:
        assert (failed, message) == (0, "")
        return
    assert failed == 1
    assert expected in message
    assert message.endswith("Fix it in the inventory of " + case + "; nothing was created.")
