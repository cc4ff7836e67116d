"""The scenarios' readings of the account (tests/support/aws_quirks/runner.py), on the local AWS: every resource kind
the stack tags is found by its tag, and an imported certificate gives an HTTPS listener beside HTTP's redirect, each
listener read with its tags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import boto3
import pytest

from lab import builder
from tests.support.aws_quirks.runner import Run, Settings
from tests.support.aws_quirks.scenarios import Scenario, listener_weights, redirect_of, self_signed_certificate
from tests.support.local_aws import REGION
from tests.support.scaler_stack import build_stack, scaler_code_dir

pytestmark = pytest.mark.integration
KEY = "quirks:scenario"


def add_certificate(run, stack, balancer_arn):
    """As the alb role does with a certificate: HTTPS forwards as HTTP did, HTTP redirects to it. Returns the imported
    certificate and the HTTPS listener's ARN."""
    elbv2 = run.world("elbv2")
    certificate_pem, key_pem = self_signed_certificate("spill.example.com")
    certificate = run.world("acm").import_certificate(Certificate=certificate_pem, PrivateKey=key_pem)
    http = elbv2.describe_listeners(ListenerArns=[stack.listener_arn])["Listeners"][0]
    https = elbv2.create_listener(
        LoadBalancerArn=balancer_arn,
        Protocol="HTTPS",
        Port=443,
        Certificates=[{"CertificateArn": certificate["CertificateArn"]}],
        DefaultActions=http["DefaultActions"],
    )["Listeners"][0]["ListenerArn"]
    redirect = {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}
    elbv2.modify_listener(
        ListenerArn=stack.listener_arn, DefaultActions=[{"Type": "redirect", "RedirectConfig": redirect}]
    )
    return certificate, https


def test_the_tag_is_found_on_every_kind_the_stack_tags_and_listeners_read_with_theirs(local_aws, tmp_path):
    stack = build_stack(local_aws.endpoint)  # load balancer, target groups, listener, cluster and service "spill"
    run = Run(Settings(stack="spill", account="123456789012", work=tmp_path))
    run.admin = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    run.moto = SimpleNamespace(endpoint=local_aws.endpoint)
    iam, lambda_, elbv2 = run.world("iam"), run.world("lambda"), run.world("elbv2")
    role = builder.lambda_role(iam, "spill-app-lambda")
    builder.function(lambda_, "spill-app", role, builder.stub_zip())
    builder.function(lambda_, "spill-scaler", role, builder.stub_zip(), environment=stack.environment())
    assert run.tag_holders(KEY) == []
    state = run.stack_state()
    assert (state["app_arn"], state["service_arn"], state["memory_size"]) == (
        f"arn:aws:lambda:{REGION}:123456789012:function:spill-app",
        f"arn:aws:ecs:{REGION}:123456789012:service/spill/app",
        128,
    )
    assert state["task_definition"].endswith(":task-definition/app:1") and state["image"] == "app:latest"

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
    certificate, https = add_certificate(run, stack, balancer["LoadBalancerArn"])
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


def test_a_spill_and_a_return_move_every_forwarding_listener_and_leave_one_new_record(local_aws, tmp_path):
    """The certificate scenario's drive, with the real scaler code: HTTPS forwards, HTTP redirects (and keeps a
    record of its forwarding days); a listener the scaler does not move is caught."""
    stack = build_stack(local_aws.endpoint)
    run = Run(Settings(stack="spill", account="123456789012", work=tmp_path))
    run.admin = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    run.moto = SimpleNamespace(endpoint=local_aws.endpoint)
    run.layer = SimpleNamespace(endpoint=local_aws.endpoint, rules=[])
    elbv2 = run.world("elbv2")
    balancer = elbv2.describe_load_balancers(Names=["spill"])["LoadBalancers"][0]["LoadBalancerArn"]
    _certificate, https = add_certificate(run, stack, balancer)
    stale = "2026-01-01T00:00:00.000Z"
    elbv2.add_tags(ResourceArns=[stack.listener_arn], Tags=[{"Key": "spillover:last-move", "Value": stale}])

    environment = stack.environment(
        SPILLOVER_LISTENER_ARNS=https,
        SPILLOVER_STEP_SECONDS="0",
        SPILLOVER_COOLDOWN_SECONDS="0",
        SPILLOVER_DRAIN_SECONDS="0",
    )
    del environment["SPILLOVER_LISTENER_ARN"]
    run.scaler_env = {**environment, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    run.scaler_dir = scaler_code_dir(tmp_path)
    run.scaler_function = {"FunctionName": "spill-scaler"}
    run.scaler_session = run.admin
    run.world("logs").create_log_group(logGroupName="/aws/lambda/spill-scaler")
    run.outputs = {
        "listener_arn": https,
        "listener_arns": [https],
        "lambda_target_group_arn": stack.lambda_target_group_arn,
        "ecs_target_group_arn": stack.ecs_target_group_arn,
    }

    scenario = Scenario("certificate", "a spill and a return")
    since = datetime.now(UTC) - timedelta(seconds=1)
    run.spill_and_return(scenario, since)
    assert scenario.failures == [], [i for i in run.invocations if i["error"]]
    assert scenario.details[:2] == [
        "after the spill: {80: 'redirect', 443: {'lambda': 0, 'ecs': 100}}",
        "after the return: {80: 'redirect', 443: {'lambda': 100, 'ecs': 0}}",
    ]
    assert scenario.details[2].startswith(f"spillover:last-move records: {{80: '{stale}', 443: '20")
    assert scenario.details[2].endswith(": [443])")

    # A forwarding listener the scaler does not move is left behind on the spill.
    forward = elbv2.describe_listeners(ListenerArns=[https])["Listeners"][0]["DefaultActions"]  # after the return
    other = elbv2.create_listener(LoadBalancerArn=balancer, Protocol="HTTP", Port=8080, DefaultActions=forward)[
        "Listeners"
    ][0]["ListenerArn"]
    assert other
    behind = Scenario("certificate", "again")
    run.spill_and_return(behind, datetime.now(UTC) - timedelta(seconds=1))
    assert behind.failures == [
        "after the spill, listener 8080 has {'lambda': 100, 'ecs': 0}, not {'lambda': 0, 'ecs': 100}"
    ]
