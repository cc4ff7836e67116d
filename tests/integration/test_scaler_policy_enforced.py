"""The scaler under its own narrowed policy (spillover.lambda_ecs.scaler_policy), enforced by the behaviour layer's
IAM engine in front of the local AWS: the scaler scales out and moves the weights with its role's credentials, and
the same grants refuse a task definition switch and a listener's protocol or TLS policy, in AWS's wire shape."""

from __future__ import annotations

import json
import sys

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.ansible_run import link_collection
from tests.support.aws_quirks.layer import QuirksLayer
from tests.support.aws_quirks.rules import IamScoping
from tests.support.local_aws import REGION
from tests.support.scaler_stack import SCHEDULED_EVENT, SPILL_ALARM, build_stack, load_scaler_module

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.filter.scaler_policy import scaler_policy

pytestmark = pytest.mark.integration
scaler = load_scaler_module()
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def client(endpoint: str, service: str, credentials: dict | None = None):
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint, config=NO_RETRIES, **(credentials or {}))


@pytest.fixture
def enforced(local_aws):
    """The stack, the scaler's role with its policy, a layer enforcing it, and the role's temporary credentials."""
    stack = build_stack(local_aws.endpoint)
    iam = client(local_aws.endpoint, "iam")
    role = iam.create_role(RoleName="spillover-scaler", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))["Role"]
    policy = json.dumps(scaler_policy(stack.policy_input()))
    iam.put_role_policy(RoleName="spillover-scaler", PolicyName="spillover-scaler", PolicyDocument=policy)
    rule = IamScoping("iam_scaler_policy", [role["Arn"]])
    layer = QuirksLayer(local_aws.endpoint, [rule]).start()
    try:
        answer = client(layer.endpoint, "sts").assume_role(RoleArn=role["Arn"], RoleSessionName="scaler")
        credentials = {
            "aws_access_key_id": answer["Credentials"]["AccessKeyId"],
            "aws_secret_access_key": answer["Credentials"]["SecretAccessKey"],
            "aws_session_token": answer["Credentials"]["SessionToken"],
        }
        yield stack, layer, rule, credentials
    finally:
        layer.stop()


def test_the_scaler_scales_out_and_moves_the_weights_under_its_narrowed_policy(enforced, monkeypatch):
    stack, layer, rule, credentials = enforced
    # The scaler's clients take the role's credentials from the environment, as in Lambda (a new default session:
    # the one of the process has resolved its credentials already).
    for name, value in credentials.items():
        monkeypatch.setenv(name.upper(), value)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    cycle = scaler.Scaler.from_environment(stack.environment(AWS_ENDPOINT_URL=layer.endpoint))
    stack.set_alarm(SPILL_ALARM, "ALARM")
    stack.add_healthy_targets(1)
    record = cycle.handle(SCHEDULED_EVENT)
    assert (record["action"], record["weights"]["ecs"]) == ("step_up", 25)
    assert record["writes"] == ["ecs:UpdateService", "elbv2:AddTags", "elbv2:ModifyListener"]
    assert stack.desired_count() == 2
    assert rule.denials == {} and rule.checked > 0


@pytest.mark.parametrize(
    ("service", "call", "code", "status", "denied"),
    [
        (
            "ecs",
            lambda c, stack: c.update_service(cluster=stack.cluster, service=stack.service, taskDefinition="app:1"),
            "AccessDeniedException",
            400,
            "ecs:UpdateService on resource: arn:aws:ecs:us-east-1:123456789012:service/spill/app",
        ),
        (
            "elbv2",
            lambda c, stack: c.modify_listener(
                ListenerArn=stack.listener_arn, Protocol="HTTP", DefaultActions=[stack.forward_action()]
            ),
            "AccessDenied",
            403,
            "elasticloadbalancing:ModifyListener on resource: {listener}",
        ),
        (
            "elbv2",
            lambda c, stack: c.modify_listener(
                ListenerArn=stack.listener_arn, SslPolicy="ELBSecurityPolicy-2016-08", DefaultActions=[]
            ),
            "AccessDenied",
            403,
            "elasticloadbalancing:ModifyListener on resource: {listener}",
        ),
    ],
    ids=["task-definition", "protocol", "tls-policy"],
)
def test_the_scalers_grants_refuse_what_the_scaler_never_sends(enforced, service, call, code, status, denied):
    stack, layer, rule, credentials = enforced
    before = (stack.desired_count(), stack.forward_action())
    with pytest.raises(ClientError) as refused:
        call(client(layer.endpoint, service, credentials), stack)
    error = refused.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
    assert denied.format(listener=stack.listener_arn) in error["Error"]["Message"]
    assert "because no identity-based policy allows" in error["Error"]["Message"]
    assert (stack.desired_count(), stack.forward_action()) == before  # refused before it reached AWS
    assert sum(rule.denials.values()) == 1
