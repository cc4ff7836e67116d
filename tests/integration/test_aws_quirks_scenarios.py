"""The scenarios' readings of the account (tests/support/aws_quirks/runner.py), on the local AWS: every resource kind
the stack tags is found by its tag, and an imported certificate gives an HTTPS listener beside HTTP's redirect, each
listener read with its tags."""

from __future__ import annotations

from types import SimpleNamespace

import boto3
import pytest

from lab import builder
from tests.support.aws_quirks.runner import Run, Settings
from tests.support.aws_quirks.scenarios import listener_weights, redirect_of, self_signed_certificate
from tests.support.local_aws import REGION
from tests.support.scaler_stack import build_stack

pytestmark = pytest.mark.integration
KEY = "quirks:scenario"


def test_the_tag_is_found_on_every_kind_the_stack_tags_and_listeners_read_with_theirs(local_aws, tmp_path):
    stack = build_stack(local_aws.endpoint)  # load balancer, target groups, listener, cluster and service "spill"
    run = Run(Settings(stack="spill", account="123456789012", work=tmp_path))
    run.admin = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    run.moto = SimpleNamespace(endpoint=local_aws.endpoint)
    iam, lambda_, elbv2 = run.world("iam"), run.world("lambda"), run.world("elbv2")
    role = builder.lambda_role(iam, "spill-app-lambda")
    for name in ("spill-app", "spill-scaler"):
        builder.function(lambda_, name, role, builder.stub_zip())
    assert run.tag_holders(KEY) == []

    lambda_.tag_resource(Resource=run.arn("lambda", "function:spill-scaler"), Tags={KEY: "x"})
    balancer = elbv2.describe_load_balancers(Names=["spill"])["LoadBalancers"][0]
    elbv2.add_tags(
        ResourceArns=[balancer["LoadBalancerArn"], stack.ecs_target_group_arn], Tags=[{"Key": KEY, "Value": "x"}]
    )
    run.world("ec2").create_tags(Resources=balancer["SecurityGroups"], Tags=[{"Key": KEY, "Value": "x"}])
    iam.tag_role(RoleName="spill-app-lambda", Tags=[{"Key": KEY, "Value": "x"}])
    run.world("logs").create_log_group(logGroupName="/aws/lambda/spill-scaler", tags={KEY: "x"})
    ecs = run.world("ecs")
    service = ecs.list_services(cluster="spill")["serviceArns"][0]
    ecs.tag_resource(resourceArn=service, tags=[{"key": KEY, "value": "x"}])
    held = run.tag_holders(KEY)
    assert [holder.split(" ", 1)[0] for holder in held] == ["lambda", "elbv2", "elbv2", "ec2", "iam", "logs", "ecs"]
    assert held[0] == "lambda function spill-scaler"
    assert held[3] == f"ec2 security-group {balancer['SecurityGroups'][0]}"
    assert held[-1] == "ecs service/spill/app"

    # A certificate as a user imports it: HTTPS forwards, HTTP redirects, the HTTPS listener keeps a record.
    certificate_pem, key_pem = self_signed_certificate("spill.example.com")
    certificate = run.world("acm").import_certificate(Certificate=certificate_pem, PrivateKey=key_pem)
    http = elbv2.describe_listeners(ListenerArns=[stack.listener_arn])["Listeners"][0]
    https = elbv2.create_listener(
        LoadBalancerArn=balancer["LoadBalancerArn"],
        Protocol="HTTPS",
        Port=443,
        Certificates=[{"CertificateArn": certificate["CertificateArn"]}],
        DefaultActions=http["DefaultActions"],
    )["Listeners"][0]["ListenerArn"]
    redirect = {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}
    elbv2.modify_listener(
        ListenerArn=stack.listener_arn, DefaultActions=[{"Type": "redirect", "RedirectConfig": redirect}]
    )
    elbv2.add_tags(ResourceArns=[https], Tags=[{"Key": "spillover:last-move", "Value": "2026-12-07T13:00:00.000Z"}])
    listeners = run.listeners()
    assert [(listener["Port"], listener["Tags"]) for listener in listeners] == [
        (80, {}),
        (443, {"spillover:last-move": "2026-12-07T13:00:00.000Z"}),
    ]
    assert listeners[1]["Certificates"][0]["CertificateArn"] == certificate["CertificateArn"]
    assert redirect_of(listeners[0])["Port"] == "443"
    lambda_group, ecs_group = stack.lambda_target_group_arn, stack.ecs_target_group_arn
    assert [listener_weights(listener, lambda_group, ecs_group) for listener in listeners] == [
        None,
        {"lambda": 100, "ecs": 0},
    ]
