"""A small ALB on the local AWS for the alb_weighted_forward tests and benchmark.

A Lambda target group with a function registered and an ip target group with one target (moto marks it
healthy at once), a listener on port 80 forwarding Lambda 1 / ECS 0, a forward rule (priority 20) and a
fixed-response rule (priority 30). Spare groups: ``empty-ecs`` and ``empty-lambda`` (no target),
``other-vpc`` (a target group of another VPC) and ``spare`` (one healthy target).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

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
        forward = next(action for action in actions if action["Type"] == "forward")
        return {names[group["TargetGroupArn"]]: group["Weight"] for group in forward["ForwardConfig"]["TargetGroups"]}

    def snapshot(self) -> tuple:
        """Everything the module may touch, to prove a refused run left it as it was."""
        rules = [
            rule for rule in self.elbv2.describe_rules(ListenerArn=self.listener_arn)["Rules"] if not rule["IsDefault"]
        ]
        return self.default_actions(), sorted(rules, key=lambda rule: rule["RuleArn"])


def _lambda_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


def build_alb_stack(client: Callable[[str], object]) -> Stack:
    """Build the ALB described above with ``client(service)`` boto3 clients; returns its ARNs."""
    ec2, elbv2, lambda_, iam = (client(name) for name in ("ec2", "elbv2", "lambda", "iam"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{index}.0/24", AvailabilityZone=f"us-east-1{zone}")["Subnet"][
            "SubnetId"
        ]
        for index, zone in ((1, "a"), (2, "b"))
    ]
    other_vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    security_group = ec2.create_security_group(GroupName="alb", Description="ALB", VpcId=vpc)["GroupId"]
    load_balancer = elbv2.create_load_balancer(Name=LOAD_BALANCER, Subnets=subnets, SecurityGroups=[security_group])[
        "LoadBalancers"
    ][0]

    def target_group(name: str, **kwargs) -> str:
        return elbv2.create_target_group(Name=name, **kwargs)["TargetGroups"][0]["TargetGroupArn"]

    ip = {"Protocol": "HTTP", "Port": 8080, "TargetType": "ip"}
    arns = {
        LAMBDA_TG: target_group(LAMBDA_TG, TargetType="lambda"),
        ECS_TG: target_group(ECS_TG, VpcId=vpc, **ip),
        "empty-ecs": target_group("empty-ecs", VpcId=vpc, **ip),
        "empty-lambda": target_group("empty-lambda", TargetType="lambda"),
        "other-vpc": target_group("other-vpc", VpcId=other_vpc, **ip),
        "spare": target_group("spare", VpcId=vpc, **ip),
    }
    role = iam.create_role(RoleName="app", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    function = lambda_.create_function(
        FunctionName="app", Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": _lambda_zip()}
    )["FunctionArn"]
    elbv2.register_targets(TargetGroupArn=arns[LAMBDA_TG], Targets=[{"Id": function}])
    for name in (ECS_TG, "spare", "other-vpc"):
        elbv2.register_targets(TargetGroupArn=arns[name], Targets=[{"Id": "10.0.1.10", "Port": 8080}])

    listener_arn = elbv2.create_listener(
        LoadBalancerArn=load_balancer["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": arns[LAMBDA_TG], "Weight": 1},
                        {"TargetGroupArn": arns[ECS_TG], "Weight": 0},
                    ]
                },
            }
        ],
    )["Listeners"][0]["ListenerArn"]
    forward_rule = elbv2.create_rule(
        ListenerArn=listener_arn,
        Priority=20,
        Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": arns[ECS_TG]}],
    )["Rules"][0]["RuleArn"]
    fixed_rule = elbv2.create_rule(
        ListenerArn=listener_arn,
        Priority=30,
        Conditions=[{"Field": "path-pattern", "Values": ["/maintenance"]}],
        Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503", "ContentType": "text/plain"}}],
    )["Rules"][0]["RuleArn"]
    return Stack(elbv2, load_balancer["LoadBalancerArn"], listener_arn, forward_rule, fixed_rule, arns)
