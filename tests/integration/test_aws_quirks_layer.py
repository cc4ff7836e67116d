"""The real-AWS behaviour layer itself (tests/support/aws_quirks): each rule answers exactly AWS's error, in its
protocol's wire shape, as botocore parses it; stops when its condition is gone; and reshapes answers as AWS does.
The IAM engine decides hand-picked calls with parliament's database of actions and resource types.
"""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from lab import builder
from tests.support.ansible_run import STARTUP_WARNING, VENV_BIN, ansible_env, warning_python_path
from tests.support.aws_quirks.iam import Principal, checks_for
from tests.support.aws_quirks.layer import Injection, QuirksLayer
from tests.support.aws_quirks.rules import (
    EcsDrain,
    EcsFargateProviders,
    EcsServiceLinkedRole,
    ElbOidcClientSecret,
    IamPolicySimulator,
    IamPropagation,
    IamScoping,
    LambdaQuota,
    LogsPagination,
    MetricLag,
    Throttling,
)
from tests.support.aws_quirks.runner import PlayRun, Run, Settings, parse_play, status_decisions
from tests.support.aws_quirks.wire import Request, parse_request
from tests.support.local_aws import REGION
from tests.support.scaler_stack import SCHEDULED_EVENT, SPILL_ALARM, build_stack, load_scaler_module
from tests.unit.plugins.module_utils.test_forward_action import OIDC

pytestmark = pytest.mark.integration
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})
LAMBDA_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def through(local_aws, clock):
    """``through(rule, ...)``: a layer with these rules in front of the local AWS; stopped after the test."""
    layers = []

    def start(*rules):
        layer = QuirksLayer(local_aws.endpoint, list(rules), clock=clock).start()
        layers.append(layer)
        return layer

    yield start
    for layer in layers:
        layer.stop()


def client(layer_or_endpoint, service: str, credentials: dict | None = None, config: Config = NO_RETRIES):
    endpoint = getattr(layer_or_endpoint, "endpoint", layer_or_endpoint)
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint, config=config, **(credentials or {}))


def refusal(call, *args, **kwargs) -> tuple[str, str, int]:
    """The error code, message and HTTP status of the ClientError that ``call(*args, **kwargs)`` must raise."""
    with pytest.raises(ClientError) as excinfo:
        call(*args, **kwargs)
    response = excinfo.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def assume(endpoint: str, role_arn: str) -> dict:
    sts = client(endpoint, "sts")
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="quirks-test")["Credentials"]
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }


def code_zip() -> bytes:
    """The same bytes on every call, as a caller's retry sends them (a file dated now would change with the clock's
    second, and the layer would see another request, not a retry)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        entry = zipfile.ZipInfo("app.py", (1980, 1, 1, 0, 0, 0))
        archive.writestr(entry, "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


def test_a_new_role_cannot_be_assumed_by_lambda_until_it_has_propagated(through, clock):
    layer = through(IamPropagation(seconds=10))
    role = client(layer, "iam").create_role(RoleName="fresh", AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    lambda_ = client(layer, "lambda")
    create = {"FunctionName": "fn", "Runtime": "python3.12", "Role": role, "Handler": "app.handler"}
    assert refusal(lambda_.create_function, **create, Code={"ZipFile": code_zip()}) == (
        "InvalidParameterValueException",
        "The role defined for the function cannot be assumed by Lambda.",
        400,
    )
    clock.now += 9
    with pytest.raises(ClientError):
        lambda_.create_function(**create, Code={"ZipFile": code_zip()})
    clock.now += 1
    lambda_.create_function(**create, Code={"ZipFile": code_zip()})
    rule = layer.rules[0]
    assert rule.injected == 2 and all(injection.retried for injection in rule.injections)
    # A role the layer did not see created (older than the layer) is assumable.
    old = client(layer.upstream, "iam").create_role(RoleName="old", AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]
    lambda_.update_function_configuration(FunctionName="fn", Role=old["Arn"])
    assert rule.injected == 2


def test_the_first_ecs_create_in_an_account_without_the_service_linked_role_fails_once(through, local_aws):
    layer = through(EcsServiceLinkedRole())
    account = assume(local_aws.endpoint, "arn:aws:iam::210987654321:role/admin")
    ecs, iam = client(layer, "ecs", account), client(layer, "iam", account)
    assert refusal(ecs.create_cluster, clusterName="first") == (
        "InvalidParameterException",
        "Unable to assume the service linked role. Please verify that the ECS service linked role exists.",
        400,
    )
    # ECS created the role meanwhile (under AWS's name); the retry succeeds and nothing more is injected.
    role = iam.get_role(RoleName="AWSServiceRoleForECS")["Role"]
    assert role["Arn"] == "arn:aws:iam::210987654321:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"
    ecs.create_cluster(clusterName="first")
    ecs.create_cluster(clusterName="second")
    assert layer.rules[0].injected == 1 and layer.rules[0].injections[0].retried
    assert refusal(iam.create_service_linked_role, AWSServiceName="ecs.amazonaws.com") == (
        "InvalidInput",
        "Service role name AWSServiceRoleForECS has been taken in this account, please try a different suffix.",
        400,
    )


def test_the_ecs_service_linked_role_is_not_created_for_a_caller_who_may_not_create_it(through, local_aws):
    admin = assume(local_aws.endpoint, "arn:aws:iam::210987654321:role/admin")
    iam = client(local_aws.endpoint, "iam", admin)
    deployer = iam.create_role(RoleName="deployer", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}]}
    iam.put_role_policy(RoleName="deployer", PolicyName="ecs-only", PolicyDocument=json.dumps(policy))
    layer = through(IamScoping("deployer", [deployer]), EcsServiceLinkedRole())
    ecs = client(layer, "ecs", assume(layer.endpoint, deployer))
    for _attempt in range(2):
        assert refusal(ecs.create_cluster, clusterName="first")[0] == "InvalidParameterException"
    assert iam.list_roles(PathPrefix="/aws-service-role/")["Roles"] == []


def test_lambda_quota_answers_account_settings_and_keeps_the_unreserved_floor(through, local_aws):
    small = assume(local_aws.endpoint, "arn:aws:iam::444455556666:role/admin")
    layer = through(LambdaQuota({"444455556666": 10}))
    role = client(layer, "iam").create_role(RoleName="fn", AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    lambda_ = client(layer, "lambda")
    for name in ("one", "two"):
        lambda_.create_function(
            FunctionName=name, Runtime="python3.12", Role=role, Handler="a.h", Code={"ZipFile": code_zip()}
        )
    lambda_.put_function_concurrency(FunctionName="one", ReservedConcurrentExecutions=600)
    settings = lambda_.get_account_settings()["AccountLimit"]
    assert (settings["ConcurrentExecutions"], settings["UnreservedConcurrentExecutions"]) == (1000, 400)
    assert refusal(lambda_.put_function_concurrency, FunctionName="two", ReservedConcurrentExecutions=301) == (
        "InvalidParameterValueException",
        "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
        "below its minimum value of [100].",
        400,
    )
    lambda_.put_function_concurrency(FunctionName="two", ReservedConcurrentExecutions=300)
    lambda_.put_function_concurrency(FunctionName="one", ReservedConcurrentExecutions=600)  # the same again: fits

    # A new account: a quota of 10, and no reservation at all fits.
    small_iam, small_lambda = client(layer, "iam", small), client(layer, "lambda", small)
    small_role = small_iam.create_role(RoleName="fn", AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    small_lambda.create_function(
        FunctionName="one", Runtime="python3.12", Role=small_role, Handler="a.h", Code={"ZipFile": code_zip()}
    )
    assert small_lambda.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 10
    message = refusal(small_lambda.put_function_concurrency, FunctionName="one", ReservedConcurrentExecutions=1)[1]
    assert "below its minimum value of [10]." in message


@pytest.mark.parametrize(
    ("service", "call", "code", "status"),
    [
        ("elbv2", "describe_load_balancers", "Throttling", 400),
        ("ecs", "list_clusters", "ThrottlingException", 400),
        ("cloudwatch", "describe_alarms", "Throttling", 400),
        ("lambda", "list_functions", "TooManyRequestsException", 429),
    ],
)
def test_throttling_has_each_services_shape_and_standard_retries_absorb_it(through, service, call, code, status):
    layer = through(Throttling(share=0.5))  # every second call
    bare = client(layer, service)
    getattr(bare, call)()
    assert refusal(getattr(bare, call)) == (code, "Rate exceeded", status)
    retrying = client(layer, service, config=Config(retries={"mode": "standard", "max_attempts": 4}))
    for _call in range(6):
        getattr(retrying, call)()
    rule = layer.rules[0]
    assert rule.injected == 6 and all(injection.retried for injection in rule.injections)


def test_filter_log_events_pages_are_partial_and_empty_and_oldest_first(through, aws_client):
    logs = aws_client("logs")
    logs.create_log_group(logGroupName="/quirks")
    now = int(datetime.now(UTC).timestamp() * 1000)
    for stream, offsets in (("a", range(0, 10, 2)), ("b", range(1, 10, 2))):
        logs.create_log_stream(logGroupName="/quirks", logStreamName=stream)
        events = [{"timestamp": now - 10_000 + 1000 * i, "message": f"event {i}"} for i in offsets]
        logs.put_log_events(logGroupName="/quirks", logStreamName=stream, logEvents=events)
    layer = through(LogsPagination(page_size=3))
    through_logs = client(layer, "logs")
    first = through_logs.filter_log_events(logGroupName="/quirks", limit=100)
    assert first["events"] == [] and first["nextToken"]  # one call alone sees nothing
    pages, token = [], first["nextToken"]
    while token:
        page = through_logs.filter_log_events(logGroupName="/quirks", limit=100, nextToken=token)
        pages.append([event["message"] for event in page["events"]])
        token = page.get("nextToken")
    assert pages == [[f"event {i}" for i in range(start, min(start + 3, 10))] for start in range(0, 10, 3)]
    paginated = through_logs.get_paginator("filter_log_events").paginate(
        logGroupName="/quirks", PaginationConfig={"PageSize": 2}
    )
    messages = [event["message"] for event in paginated.build_full_result()["events"]]
    assert messages == [f"event {i}" for i in range(10)]
    window = through_logs.get_paginator("filter_log_events").paginate(logGroupName="/quirks", startTime=now - 4500)
    assert [event["message"] for event in window.build_full_result()["events"]] == [f"event {i}" for i in range(6, 10)]


def test_get_metric_data_leaves_out_the_newest_periods_of_lambda_and_alb_metrics_only(through, aws_client):
    now = datetime.now(UTC).replace(second=30, microsecond=0)
    end = now.replace(second=0)
    cloudwatch = aws_client("cloudwatch")
    for namespace in ("AWS/Lambda", "AWS/ApplicationELB", "Custom/App"):
        data = [
            {"MetricName": "Invocations", "Timestamp": end - timedelta(minutes=back), "Value": float(back)}
            for back in range(1, 7)
        ]
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data)
    layer = through(MetricLag(lag_periods=2, now=lambda: now))
    queries = [
        {
            "Id": f"q{index}",
            "MetricStat": {
                "Metric": {"Namespace": namespace, "MetricName": "Invocations"},
                "Period": 60,
                "Stat": "Sum",
            },
        }
        for index, namespace in enumerate(("AWS/Lambda", "AWS/ApplicationELB", "Custom/App"))
    ]
    answer = client(layer, "cloudwatch").get_metric_data(
        MetricDataQueries=queries, StartTime=end - timedelta(minutes=10), EndTime=end
    )
    by_id = {result["Id"]: sorted(result["Values"]) for result in answer["MetricDataResults"]}
    # Minutes 1 and 2 back ended less than two periods ago: not delivered yet; minute 3 back is the newest there.
    assert by_id == {"q0": [3.0, 4.0, 5.0, 6.0], "q1": [3.0, 4.0, 5.0, 6.0], "q2": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}
    assert layer.rules[0].dropped == 4


def test_a_deleted_service_drains_and_keeps_its_cluster_until_it_is_gone(through, local_aws, clock):
    stack = build_stack(local_aws.endpoint)  # cluster "spill", service "app"
    layer = through(EcsDrain(seconds=15))
    ecs = client(layer, "ecs")
    assert ecs.delete_service(cluster=stack.cluster, service="app", force=True)["service"]["status"] == "DRAINING"
    assert ecs.describe_services(cluster=stack.cluster, services=["app"])["services"][0]["status"] == "DRAINING"
    assert refusal(ecs.delete_cluster, cluster=stack.cluster) == (
        "ClusterContainsServicesException",
        "The Cluster cannot be deleted while Services are active.",
        400,
    )
    clock.now += 15
    assert ecs.describe_services(cluster=stack.cluster, services=["app"])["services"][0]["status"] == "INACTIVE"
    ecs.delete_cluster(cluster=stack.cluster)
    assert layer.rules[0].injections[-1].retried


class Broken(Throttling):
    name = "broken"

    def before(self, request):
        raise KeyError("a defect of the layer")


def test_a_defect_of_the_layer_is_answered_as_internal_failure_and_recorded(through):
    layer = through(Broken())
    code, message, status = refusal(client(layer, "ecs").list_clusters)
    assert (code, status) == ("InternalFailure", 500) and "quirks layer" in message
    assert len(layer.errors) == 1 and "ecs:ListClusters: KeyError" in layer.errors[0]
    assert layer.rules[0].injected == 0


# -- the IAM engine


SCALER_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["cloudwatch:DescribeAlarms"],
            "Resource": ["arn:aws:cloudwatch:us-east-1:111122223333:alarm:s-spill"],
        },
        {
            "Effect": "Allow",
            "Action": ["elasticloadbalancing:DescribeListeners", "cloudwatch:GetMetricData"],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": ["elasticloadbalancing:DescribeTargetHealth"],
            "Resource": ["arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/s-ecs/0123456789abcdef"],
        },
        {
            "Effect": "Allow",
            "Action": ["ecs:UpdateService", "ecs:DescribeServices"],
            "Resource": ["arn:aws:ecs:us-east-1:111122223333:service/s/s-app"],
        },
        {
            "Effect": "Allow",
            "Action": ["elasticloadbalancing:AddTags"],
            "Resource": [
                "arn:aws:elasticloadbalancing:us-east-1:111122223333:listener/app/s/0123456789abcdef/fedcba9876543210"
            ],
            "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["spillover:last-move"]}},
        },
        {
            "Effect": "Deny",
            "Action": ["ecs:UpdateService"],
            "Resource": ["arn:aws:ecs:us-east-1:111122223333:service/s/locked"],
        },
    ],
}
LISTENER = "arn:aws:elasticloadbalancing:us-east-1:111122223333:listener/app/s/0123456789abcdef/fedcba9876543210"
PRINCIPAL = Principal(
    "arn:aws:iam::111122223333:role/s-scaler", "arn:aws:sts::111122223333:assumed-role/s-scaler/run", "111122223333"
)


def request(service: str, operation: str, params: dict) -> Request:
    return Request("POST", "/", {}, b"", service, operation, "ASIAQUIRKS", REGION, params)


def decide(service: str, operation: str, params: dict, policy: dict = SCALER_POLICY) -> list:
    return checks_for(request(service, operation, params), PRINCIPAL, [policy])


def test_describe_alarms_of_composite_alarms_needs_every_alarm_and_metric_alarms_do_not():
    metric_only = decide("monitoring", "DescribeAlarms", {"AlarmNames": ["s-spill"], "AlarmTypes": ["MetricAlarm"]})
    assert [check.allowed for check in metric_only] == [True]
    composite = decide(
        "monitoring", "DescribeAlarms", {"AlarmNames": ["s-spill"], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
    )
    assert composite[0].allowed is False and composite[0].resources == ["*"]
    assert composite[0].message == (
        "User: arn:aws:sts::111122223333:assumed-role/s-scaler/run is not authorized to perform: "
        "cloudwatch:DescribeAlarms because no identity-based policy allows the cloudwatch:DescribeAlarms action"
    )
    everything = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "cloudwatch:Describe*", "Resource": "*"}],
    }
    assert decide("monitoring", "DescribeAlarms", {"AlarmTypes": ["CompositeAlarm"]}, everything)[0].allowed


def test_describes_without_resource_level_permissions_are_granted_only_on_star():
    assert decide("elasticloadbalancing", "DescribeListeners", {"ListenerArns": [LISTENER]})[0].allowed
    assert decide("monitoring", "GetMetricData", {"MetricDataQueries": []})[0].allowed
    # DescribeTargetHealth has no resource type: a statement scoped to the target group does not grant it.
    scoped = decide(
        "elasticloadbalancing",
        "DescribeTargetHealth",
        {"TargetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/s-ecs/0123456789abcdef"},
    )
    assert scoped[0].allowed is False and scoped[0].derived


def test_service_writes_are_scoped_to_their_resource_and_an_explicit_deny_wins():
    allowed = decide("ecs", "UpdateService", {"cluster": "s", "service": "s-app", "desiredCount": 2})
    assert allowed[0].allowed and allowed[0].resources == ["arn:aws:ecs:us-east-1:111122223333:service/s/s-app"]
    other = decide("ecs", "UpdateService", {"cluster": "s", "service": "other", "desiredCount": 2})[0]
    assert other.allowed is False
    assert other.message == (
        "User: arn:aws:sts::111122223333:assumed-role/s-scaler/run is not authorized to perform: ecs:UpdateService "
        "on resource: arn:aws:ecs:us-east-1:111122223333:service/s/other because no identity-based policy allows "
        "the ecs:UpdateService action"
    )
    by_arn = decide(
        "ecs",
        "DescribeServices",
        {
            "cluster": "arn:aws:ecs:us-east-1:111122223333:cluster/s",
            "services": ["arn:aws:ecs:us-east-1:111122223333:service/s/s-app"],
        },
    )
    assert by_arn[0].allowed
    denied = {
        **SCALER_POLICY,
        "Statement": [*SCALER_POLICY["Statement"], {"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}],
    }
    locked = decide("ecs", "UpdateService", {"cluster": "s", "service": "locked"}, denied)[0]
    assert locked.allowed is False and "with an explicit deny in an identity-based policy" in locked.message


def test_tag_conditions_and_implied_actions():
    own = decide(
        "elasticloadbalancing",
        "AddTags",
        {"ResourceArns": [LISTENER], "Tags": [{"Key": "spillover:last-move", "Value": "t"}]},
    )
    assert own[0].allowed
    other = decide(
        "elasticloadbalancing", "AddTags", {"ResourceArns": [LISTENER], "Tags": [{"Key": "owner", "Value": "x"}]}
    )
    assert other[0].allowed is False
    # CreateFunction passes its role: iam:PassRole on it, to lambda.amazonaws.com.
    create_only = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "lambda:CreateFunction", "Resource": "*"}],
    }
    role = "arn:aws:iam::111122223333:role/s-app-lambda"
    checks = decide("lambda", "CreateFunction", {"FunctionName": "s-app", "Role": role}, create_only)
    assert [(c.action, c.allowed) for c in checks] == [("lambda:CreateFunction", True), ("iam:PassRole", False)]
    with_pass = {
        **create_only,
        "Statement": [
            *create_only["Statement"],
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": role,
                "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
            },
        ],
    }
    assert all(
        c.allowed for c in decide("lambda", "CreateFunction", {"FunctionName": "s-app", "Role": role}, with_pass)
    )
    # A create that tags needs the service's tagging action, which can be limited to creation.
    elb = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "elasticloadbalancing:CreateTargetGroup", "Resource": "*"}],
    }
    tagged = decide(
        "elasticloadbalancing",
        "CreateTargetGroup",
        {"Name": "s-ecs", "Tags": [{"Key": "spillover:stack", "Value": "s"}]},
        elb,
    )
    assert [(c.action, c.allowed) for c in tagged] == [
        ("elasticloadbalancing:CreateTargetGroup", True),
        ("elasticloadbalancing:AddTags", False),
    ]
    assert tagged[1].resources == ["arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/s-ecs/*"]
    elb["Statement"].append(
        {
            "Effect": "Allow",
            "Action": "elasticloadbalancing:AddTags",
            "Resource": "*",
            "Condition": {"StringEquals": {"elasticloadbalancing:CreateAction": "CreateTargetGroup"}},
        }
    )
    assert all(
        c.allowed
        for c in decide(
            "elasticloadbalancing", "CreateTargetGroup", {"Name": "s-ecs", "Tags": [{"Key": "k", "Value": "v"}]}, elb
        )
    )


def test_denied_calls_come_back_in_each_protocols_shape(through, local_aws):
    admin = assume(local_aws.endpoint, "arn:aws:iam::111122223333:role/admin")
    iam = client(local_aws.endpoint, "iam", admin)
    role = iam.create_role(RoleName="s-scaler", AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    iam.put_role_policy(RoleName="s-scaler", PolicyName="scaler", PolicyDocument=json.dumps(SCALER_POLICY))
    layer = through(IamScoping("iam_scaler_policy", [role]))
    scaler = assume(layer.endpoint, role)
    user = "User: arn:aws:sts::111122223333:assumed-role/s-scaler/quirks-test is not authorized to perform: "
    calls = [
        (
            "cloudwatch",
            lambda c: c.describe_alarms(AlarmNames=["s-spill"], AlarmTypes=["CompositeAlarm"]),
            "AccessDenied",
            403,
            "cloudwatch:DescribeAlarms",
        ),
        (
            "ecs",
            lambda c: c.update_service(cluster="s", service="other", desiredCount=1),
            "AccessDeniedException",
            400,
            "ecs:UpdateService on resource: arn:aws:ecs:us-east-1:111122223333:service/s/other",
        ),
        (
            "elbv2",
            lambda c: c.describe_load_balancers(),
            "AccessDenied",
            403,
            "elasticloadbalancing:DescribeLoadBalancers",
        ),
        (
            "lambda",
            lambda c: c.get_function_concurrency(FunctionName="s-app"),
            "AccessDeniedException",
            403,
            "lambda:GetFunctionConcurrency on resource: arn:aws:lambda:us-east-1:111122223333:function:s-app",
        ),
        ("ec2", lambda c: c.describe_vpcs(), "UnauthorizedOperation", 403, "ec2:DescribeVpcs"),
        ("logs", lambda c: c.describe_log_groups(), "AccessDeniedException", 400, "logs:DescribeLogGroups"),
    ]
    for service, call, code, status, what in calls:
        got_code, message, got_status = refusal(call, client(layer, service, scaler))
        assert (got_code, got_status) == (code, status), service
        assert user + what in message, message
    # Allowed calls pass; the admin's own credentials are not enforced.
    client(layer, "cloudwatch", scaler).describe_alarms(AlarmNames=["s-spill"], AlarmTypes=["MetricAlarm"])
    client(layer, "ecs", admin).list_clusters()
    rule = layer.rules[0]
    assert rule.injected == len(calls) and rule.checked == len(calls) + 1


def test_requests_are_decoded_per_protocol():
    form = (
        b"Action=AddTags&Version=2015-12-01&ResourceArns.member.1=arn%3Aaws%3Ax"
        b"&Tags.member.1.Key=k&Tags.member.1.Value=v"
    )
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/elasticloadbalancing/aws4_request",
    }
    query = parse_request("POST", "/", headers, form)
    assert (query.operation, query.params["ResourceArns"], query.params["Tags"]) == (
        "AddTags",
        ["arn:aws:x"],
        [{"Key": "k", "Value": "v"}],
    )
    assert (query.access_key, query.region, query.action) == ("AKID", "us-east-1", "elasticloadbalancing:AddTags")
    rest = parse_request(
        "PUT",
        "/2017-10-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A111122223333%3Afunction%3Aapp/concurrency",
        {"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/lambda/aws4_request"},
        b'{"ReservedConcurrentExecutions": 5}',
    )
    assert (rest.operation, rest.params["FunctionName"], rest.params["ReservedConcurrentExecutions"]) == (
        "PutFunctionConcurrency",
        "arn:aws:lambda:us-east-1:111122223333:function:app",
        5,
    )


# -- the runner's verdicts


def test_a_play_failure_is_read_from_ansibles_json_output(tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - name: Pass\n      ansible.builtin.debug: {msg: fine}\n"
        "    - name: Create the thing\n"
        "      ansible.builtin.fail: {msg: 'An error occurred (Throttling): Rate exceeded'}\n"
    )
    completed = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(playbook)],
        env=ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    run = parse_play("converge", completed.stdout, 1.0)
    assert (run.ok, run.failed_task, run.message) == (
        False,
        "Create the thing",
        "An error occurred (Throttling): Rate exceeded",
    )


def test_a_play_is_read_from_its_stdout_while_python_warns_on_stderr(tmp_path):
    """A Python that warns at start (a sitecustomize on PYTHONPATH) and ansible-playbook's own warning: the run's
    stdout is still exactly the JSON callback's document, the warnings stay on stderr, and the log keeps both apart."""
    playbook = tmp_path / "status.yml"
    playbook.write_text(
        "- hosts: no_such_group\n  gather_facts: false\n  tasks: []\n"
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - name: Show the stack's state\n"
        "      ansible.builtin.debug:\n"
        "        msg: {stack: s, scaler_decisions: [{action: noop, reason: '{idle}'}]}\n"
        "    - name: Create the thing\n"
        "      ansible.builtin.fail: {msg: 'An error occurred (Throttling): Rate exceeded'}\n"
    )
    run = Run(Settings(work=tmp_path / "work"))
    run.work.mkdir()
    run.extra_vars = {}
    played = run.play("status", str(playbook), vars_={"PYTHONPATH": warning_python_path(tmp_path / "site")})

    assert (played.ok, played.failed_task, played.message) == (
        False,
        "Create the thing",
        "An error occurred (Throttling): Rate exceeded",
    )
    assert run.read_status_decisions() == [{"action": "noop", "reason": "{idle}"}]
    stdout = (run.work / "01-status.json").read_text()
    assert status_decisions(stdout) == [{"action": "noop", "reason": "{idle}"}]
    stderr = (run.work / "01-status.json.stderr").read_text()
    # Not silenced: both warnings are in the log, apart from the document.
    assert STARTUP_WARNING in stderr
    assert "no_such_group" in stderr
    assert "CryptographyDeprecationWarning" not in stdout


def test_a_quirk_fails_only_on_what_its_own_injections_caused(tmp_path):
    throttling, propagation = Throttling(), IamPropagation()
    throttling.injections.append(
        Injection("api_throttling", "ecs", "ListClusters", "K", "ThrottlingException", "Rate exceeded", "f", 0, True)
    )
    propagation.injections.append(
        Injection(
            "iam_propagation",
            "lambda",
            "CreateFunction",
            "K",
            "InvalidParameterValueException",
            IamPropagation.MESSAGE,
            "g",
            0,
        )
    )
    run = Run(Settings(work=tmp_path))
    run.layer = SimpleNamespace(rules=[throttling, propagation], state=SimpleNamespace(principals={}), errors=[])
    run.plays = [
        PlayRun(
            "converge 1", False, 0, 1.0, "scaler : Create the function", f"CreateFunction: {IamPropagation.MESSAGE}"
        ),
        PlayRun("converge 2", True, 3, 1.0),
    ]
    assert run.verdict(throttling).line() == "quirk api_throttling: injected 1, survived"
    assert run.verdict(propagation).line() == (
        "quirk iam_propagation: injected 1, FAILED: converge 1 failed at 'scaler : Create the function': "
        f"CreateFunction: {IamPropagation.MESSAGE}"
    )
    assert "not retried: lambda:CreateFunction" in run.verdict(propagation).details
    assert run.report() == 1
    assert (tmp_path / "report.json").exists()


# ---------------------------------------------------------------------------------------------------------
# What the preflight reads, and authenticated listeners


def test_the_region_lists_its_built_in_fargate_providers_and_misses_an_unavailable_one(through):
    layer = through(EcsFargateProviders())
    answer = client(layer, "ecs").describe_capacity_providers(capacityProviders=["FARGATE", "FARGATE_SPOT"])
    assert [(p["name"], p["status"]) for p in answer["capacityProviders"]] == [
        ("FARGATE", "ACTIVE"),
        ("FARGATE_SPOT", "ACTIVE"),
    ]
    assert answer["capacityProviders"][0]["capacityProviderArn"] == (
        f"arn:aws:ecs:{REGION}:123456789012:capacity-provider/FARGATE"
    )
    no_spot = through(EcsFargateProviders(unavailable=["FARGATE_SPOT"]))
    answer = client(no_spot, "ecs").describe_capacity_providers(capacityProviders=["FARGATE", "FARGATE_SPOT"])
    assert [p["name"] for p in answer["capacityProviders"]] == ["FARGATE"]
    assert [f["reason"] for f in answer["failures"]] == ["MISSING"]


def test_the_policy_simulator_decides_with_the_roles_policies_and_the_context(through, local_aws):
    layer = through(IamPolicySimulator())
    iam = client(local_aws.endpoint, "iam")
    role = iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    grant = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "lambda:CreateFunction", "Resource": "arn:aws:lambda:*:*:function:app"},
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": "arn:aws:iam::123456789012:role/app",
                "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
            },
        ],
    }
    iam.put_role_policy(RoleName="deployer", PolicyName="deploy", PolicyDocument=json.dumps(grant))
    simulate = client(layer, "iam").simulate_principal_policy
    functions = [f"arn:aws:lambda:{REGION}:123456789012:function:{name}" for name in ("app", "other")]
    [result] = simulate(PolicySourceArn=role, ActionNames=["lambda:CreateFunction"], ResourceArns=functions)[
        "EvaluationResults"
    ]
    assert [(r["EvalResourceName"], r["EvalResourceDecision"]) for r in result["ResourceSpecificResults"]] == [
        (functions[0], "allowed"),
        (functions[1], "implicitDeny"),
    ]
    passed = {"ActionNames": ["iam:PassRole"], "ResourceArns": ["arn:aws:iam::123456789012:role/app"]}
    context = [
        {
            "ContextKeyName": "iam:PassedToService",
            "ContextKeyValues": ["lambda.amazonaws.com"],
            "ContextKeyType": "string",
        }
    ]
    assert (
        simulate(PolicySourceArn=role, **passed, ContextEntries=context)["EvaluationResults"][0]["EvalDecision"]
        == "allowed"
    )
    assert simulate(PolicySourceArn=role, **passed)["EvaluationResults"][0]["EvalDecision"] == "implicitDeny"


def oidc_listener(stack) -> list[dict]:
    """The stack's listener behind an OIDC login (with its secret, as its owner wrote it), weights 100 / 0."""
    login = {**OIDC, "Order": 1, "AuthenticateOidcConfig": {**OIDC["AuthenticateOidcConfig"], "ClientSecret": "s3cret"}}
    weights = {stack.lambda_target_group_arn: 100, stack.ecs_target_group_arn: 0}
    actions = [login, {**builder.weighted_forward(weights, 300), "Order": 2}]
    stack.client("elbv2").modify_listener(ListenerArn=stack.listener_arn, DefaultActions=actions)
    return actions


def test_elb_never_returns_the_oidc_secret_and_refuses_a_write_without_it(through, local_aws):
    layer = through(ElbOidcClientSecret())
    stack = build_stack(local_aws.endpoint)
    oidc_listener(stack)
    elbv2 = client(layer, "elbv2")
    described = elbv2.describe_listeners(ListenerArns=[stack.listener_arn])["Listeners"][0]["DefaultActions"]
    login = next(action for action in described if action["Type"] == "authenticate-oidc")
    assert "ClientSecret" not in login["AuthenticateOidcConfig"]
    assert refusal(elbv2.modify_listener, ListenerArn=stack.listener_arn, DefaultActions=described) == (
        "ValidationError",
        "A client secret must be specified",
        400,
    )
    login["AuthenticateOidcConfig"]["UseExistingClientSecret"] = True
    elbv2.modify_listener(ListenerArn=stack.listener_arn, DefaultActions=described)


def test_the_scaler_moves_the_weights_behind_an_oidc_login_as_aws_takes_them(through, local_aws):
    """Issue 10, m: the scaler's write through the forward-action codec keeps the login (UseExistingClientSecret),
    its order and the stickiness, where AWS refuses an action written back as DescribeListeners returns it."""
    layer = through(ElbOidcClientSecret())
    stack = build_stack(local_aws.endpoint)
    oidc_listener(stack)
    stack.add_healthy_targets(2)
    stack.set_alarm(SPILL_ALARM, "ALARM")
    scaler = load_scaler_module()
    record = scaler.Scaler.from_environment(stack.environment(AWS_ENDPOINT_URL=layer.endpoint)).handle(SCHEDULED_EVENT)
    assert (record["action"], record["verified"], record["weights"]) == ("step_up", True, {"lambda": 75, "ecs": 25})
    actions = stack.client("elbv2").describe_listeners(ListenerArns=[stack.listener_arn])["Listeners"][0]
    login, weighted = sorted(actions["DefaultActions"], key=lambda action: action["Order"])
    assert login["Type"] == "authenticate-oidc" and login["AuthenticateOidcConfig"]["ClientId"] == "app"
    assert weighted["ForwardConfig"]["TargetGroupStickinessConfig"] == {"Enabled": True, "DurationSeconds": 300}
    # The layer left the secret out of what the scaler read (as AWS does), and refused nothing it wrote.
    assert [i.message for i in layer.rules[0].injections] == ["client secret left out"]
