"""What the network, lambda_function and ecs_service roles hand to the alb, alarm, scaler and eventbridge roles.

Composed of lab/builder.py's pieces under the stack contract's names, so the wiring roles can be exercised on their
own: the outputs come back as the facts those roles publish (``network__subnet_ids``,
``lambda_function__target_group_arn`` and so on) and can be passed as extra vars to a playbook that runs only the
later roles.
"""

from __future__ import annotations

from collections.abc import Callable

from lab import builder
from lab.stack import STACK_TAG


def build_prerequisites(client: Callable[[str], object], stack: str, region: str = "us-east-1") -> dict:
    """Create the VPC, security groups, app function, both target groups and the ECS service of ``stack``."""
    ec2, elbv2, lambda_, iam, ecs = (client(name) for name in ("ec2", "elbv2", "lambda", "iam", "ecs"))
    tags = {STACK_TAG: stack}
    where = builder.network(ec2, region, "10.30.0.0/16", (f"{stack}-alb", f"{stack}-task"))
    role = builder.lambda_role(iam, f"{stack}-app")
    function = builder.function(lambda_, f"{stack}-app", role, builder.stub_zip(), tags=tags)
    lambda_tg = builder.lambda_target_group(elbv2, f"{stack}-lambda", function, tags=tags)
    ecs_tg = builder.ip_target_group(elbv2, f"{stack}-ecs", where.vpc_id, tags=tags, HealthCheckPath="/health")
    builder.cluster(ecs, stack)
    task_definition = builder.task_definition(ecs, f"{stack}-app", "app:1")
    builder.service(ecs, stack, f"{stack}-app", task_definition, where, f"{stack}-task", ecs_tg)
    return {
        "network__vpc_id": where.vpc_id,
        "network__subnet_ids": where.subnet_ids,
        "network__alb_security_group_id": where.security_groups[f"{stack}-alb"],
        "network__task_security_group_id": where.security_groups[f"{stack}-task"],
        "lambda_function__function_arn": function,
        "lambda_function__target_group_arn": lambda_tg,
        "ecs_service__cluster_name": stack,
        "ecs_service__service_name": f"{stack}-app",
        "ecs_service__target_group_arn": ecs_tg,
    }
