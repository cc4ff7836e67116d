"""A small ALB on the local AWS for the alb_weighted_forward tests and benchmark (composed of lab/builder.py's pieces).

A Lambda target group with a function registered and an ip target group with one target (moto marks it
healthy at once), a listener on port 80 forwarding Lambda 1 / ECS 0, a forward rule (priority 20) and a
fixed-response rule (priority 30). Spare groups: ``empty-ecs`` and ``empty-lambda`` (no target),
``other-vpc`` (a target group of another VPC) and ``spare`` (one healthy target).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lab import builder
from lab.collection import forward_action

LOAD_BALANCER = "spill-alb"
LAMBDA_TG = "my-app-lambda"
ECS_TG = "my-app-ecs"


@dataclass
class Stack:
    elbv2: object
    load_balancer_arn: str
    listener_arn: str
    forward_rule_arn: str
    fixed_rule_arn: str
    arns: dict[str, str]

    def default_actions(self) -> list[dict]:
        return self.elbv2.describe_listeners(ListenerArns=[self.listener_arn])["Listeners"][0]["DefaultActions"]

    def rule(self, rule_arn: str) -> dict:
        return self.elbv2.describe_rules(RuleArns=[rule_arn])["Rules"][0]

    def weights(self, actions: list[dict]) -> dict[str, int]:
        names = {arn: name for name, arn in self.arns.items()}
        return {names[arn]: weight for arn, weight in forward_action.read_forward(actions)["weights"].items()}

    def snapshot(self) -> tuple:
        """Everything the module may touch, to prove a refused run left it as it was."""
        rules = [
            rule for rule in self.elbv2.describe_rules(ListenerArn=self.listener_arn)["Rules"] if not rule["IsDefault"]
        ]
        return self.default_actions(), sorted(rules, key=lambda rule: rule["RuleArn"])


def build_alb_stack(client: Callable[[str], object]) -> Stack:
    """Build the ALB described above with ``client(service)`` boto3 clients; returns its ARNs."""
    ec2, elbv2, lambda_, iam = (client(name) for name in ("ec2", "elbv2", "lambda", "iam"))
    where = builder.network(ec2, "us-east-1", "10.0.0.0/16", ("alb",))
    other_vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    load_balancer = builder.load_balancer(elbv2, LOAD_BALANCER, where, "alb")
    function = builder.function(lambda_, "app", builder.lambda_role(iam, "app"), builder.stub_zip())
    arns = {
        LAMBDA_TG: builder.lambda_target_group(elbv2, LAMBDA_TG, function),
        ECS_TG: builder.ip_target_group(elbv2, ECS_TG, where.vpc_id),
        "empty-ecs": builder.ip_target_group(elbv2, "empty-ecs", where.vpc_id),
        "empty-lambda": builder.lambda_target_group(elbv2, "empty-lambda"),
        "other-vpc": builder.ip_target_group(elbv2, "other-vpc", other_vpc),
        "spare": builder.ip_target_group(elbv2, "spare", where.vpc_id),
    }
    for name in (ECS_TG, "spare", "other-vpc"):
        builder.register_ip_targets(elbv2, arns[name], ["10.0.1.10"])

    listener_arn = builder.weighted_listener(elbv2, load_balancer, {arns[LAMBDA_TG]: 1, arns[ECS_TG]: 0})
    forward_rule = builder.rule(
        elbv2, listener_arn, 20, "/api/*", [{"Type": "forward", "TargetGroupArn": arns[ECS_TG]}]
    )
    fixed_response = {
        "Type": "fixed-response",
        "FixedResponseConfig": {"StatusCode": "503", "ContentType": "text/plain"},
    }
    fixed_rule = builder.rule(elbv2, listener_arn, 30, "/maintenance", [fixed_response])
    return Stack(elbv2, load_balancer, listener_arn, forward_rule, fixed_rule, arns)
