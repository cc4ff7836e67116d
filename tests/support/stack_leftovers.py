"""What is left on an AWS endpoint of a stack named under the stack contract, after playbooks/teardown.yml.

Looks up every resource kind the roles create by its contract name (``S``, ``S-app``, ``S-lambda``, ...) and by
the ``spillover:stack`` tag, and returns a list of descriptions of whatever still exists (empty = all gone). The
roles' permissions boundary ``S-boundary`` is not the stack's: like the deploying role's policy, an administrator
creates it with playbooks/deployer_bootstrap.yml and removes it with its ``absent`` (``bootstrap_leftovers``).
Used by the pytest teardown test and, as a command, by the molecule scenarios' destroy step:

    python -m tests.support.stack_leftovers STACK [STACK ...]   # exit 1 and list leftovers if any

Connection from the standard AWS environment (AWS_ENDPOINT_URL, AWS_DEFAULT_REGION, credentials); with
``--assume-role ARN`` per stack (``STACK=ARN``) it looks in that role's account.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable

import boto3


def _names(items, key: str) -> list[str]:
    return [item[key] for item in items]


def stack_leftovers(client: Callable[[str], object], stack: str) -> list[str]:
    """Descriptions of the resources of ``stack`` that still exist; ``client(service)`` gives boto3 clients."""
    left: list[str] = []
    elbv2, lambda_, ecs, ecr = (client(name) for name in ("elbv2", "lambda", "ecs", "ecr"))
    cloudwatch, events, iam, logs, ec2 = (client(name) for name in ("cloudwatch", "events", "iam", "logs", "ec2"))

    load_balancers = _names(elbv2.describe_load_balancers()["LoadBalancers"], "LoadBalancerName")
    left += [f"load balancer {name}" for name in load_balancers if name == stack]
    groups = _names(elbv2.describe_target_groups()["TargetGroups"], "TargetGroupName")
    left += [f"target group {name}" for name in groups if name in (f"{stack}-lambda", f"{stack}-ecs")]
    functions = _names(lambda_.list_functions()["Functions"], "FunctionName")
    left += [f"function {name}" for name in functions if name in (f"{stack}-app", f"{stack}-scaler")]

    clusters = ecs.describe_clusters(clusters=[stack])["clusters"]
    left += [f"ECS cluster {c['clusterName']}" for c in clusters if c.get("status") == "ACTIVE"]
    if any(c.get("status") == "ACTIVE" for c in clusters):
        left += [f"ECS service {arn}" for arn in ecs.list_services(cluster=stack)["serviceArns"]]
    families = ecs.list_task_definitions(familyPrefix=f"{stack}-app", status="ACTIVE")["taskDefinitionArns"]
    left += [f"task definition {arn}" for arn in families]
    repositories = _names(ecr.describe_repositories()["repositories"], "repositoryName")
    left += [f"ECR repository {name}" for name in repositories if name == f"{stack}-app"]

    alarms = _names(cloudwatch.describe_alarms(AlarmNamePrefix=f"{stack}-")["MetricAlarms"], "AlarmName")
    left += [f"alarm {name}" for name in alarms]
    dashboards = _names(cloudwatch.list_dashboards(DashboardNamePrefix=stack)["DashboardEntries"], "DashboardName")
    left += [f"dashboard {name}" for name in dashboards if name == stack]
    rules = _names(events.list_rules(NamePrefix=f"{stack}-")["Rules"], "Name")
    left += [f"EventBridge rule {name}" for name in rules]
    roles = _names(iam.list_roles()["Roles"], "RoleName")
    left += [f"IAM role {name}" for name in roles if name.startswith(f"{stack}-")]
    log_groups = _names(logs.describe_log_groups()["logGroups"], "logGroupName")
    left += [f"log group {name}" for name in log_groups if f"/{stack}-" in name or name.endswith(f"/{stack}")]

    tag_filter = [{"Name": "tag:spillover:stack", "Values": [stack]}]
    left += [f"VPC {v['VpcId']}" for v in ec2.describe_vpcs(Filters=tag_filter)["Vpcs"]]
    left += [f"subnet {s['SubnetId']}" for s in ec2.describe_subnets(Filters=tag_filter)["Subnets"]]
    named_groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{stack}-*"]}])
    tagged_groups = ec2.describe_security_groups(Filters=tag_filter)
    group_ids = {g["GroupId"] for g in named_groups["SecurityGroups"] + tagged_groups["SecurityGroups"]}
    left += [f"security group {group_id}" for group_id in sorted(group_ids)]
    return left


def bootstrap_leftovers(client: Callable[[str], object], stack: str) -> list[str]:
    """What playbooks/deployer_bootstrap.yml made for ``stack`` and teardown.yml leaves (the deployer may not delete
    it): the roles' permissions boundary and the deployer policy's parts. Empty after the bootstrap's ``absent``."""
    policies = _names(client("iam").list_policies(Scope="Local")["Policies"], "PolicyName")
    return [
        f"IAM policy {name}"
        for name in policies
        if name == f"{stack}-boundary" or re.fullmatch(rf"{re.escape(stack)}-deployer-policy-[0-9]+", name)
    ]


def _session(assume_role_arn: str | None) -> boto3.session.Session:
    session = boto3.session.Session()
    if not assume_role_arn:
        return session
    credentials = session.client("sts").assume_role(RoleArn=assume_role_arn, RoleSessionName="leftovers")["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def main(argv: list[str]) -> int:
    """``STACK`` or ``STACK=ROLE_ARN[@REGION]`` per argument; prints leftovers, exits 1 when there are any."""
    left = []
    for argument in argv:
        stack, target = [*argument.split("=", 1), ""][:2]
        role_arn, region = [*target.split("@", 1), ""][:2]
        session = _session(role_arn or None)
        client = functools.partial(session.client, region_name=region or None)
        left += [f"{stack}: {item}" for item in stack_leftovers(client, stack)]
    print("\n".join(left) if left else f"nothing left of {', '.join(a.split('=')[0] for a in argv)}")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
