"""The wiring roles (alb, alarm, scaler, eventbridge) and the playbooks, run for real against the local AWS.

Role-level tests build what the network, lambda_function and ecs_service roles would hand over with boto3
(tests/support/wiring_prereqs.py) and run tests/integration/playbooks/wiring_roles.yml, which wires the four roles
exactly as playbooks/site.yml does. Site-level tests run playbooks/site.yml and teardown.yml themselves, with the
local and the example (two accounts) inventories.

Moto does not evaluate alarms, deliver EventBridge events or run Lambda code: these tests check what was deployed
and wired, not that it fires (the scaler's own tests and the lab cover that).
"""

from __future__ import annotations

import json
import re

import boto3
import pytest
import yaml

from lab.events import matches as lab_matches
from lab.stack import read_weights, write_weights
from tests.support.ansible_run import ROOT, run_playbook
from tests.support.aws_quirks.layer import QuirksLayer
from tests.support.aws_quirks.rules import ElbDeletionProtection
from tests.support.dashboard_check import add_code_metrics, deployed_body, read_stack_facts, widget_problems
from tests.support.local_aws import REGION
from tests.support.local_registry import needs_image_tools
from tests.support.scaler_stack import load_scaler_module, task_event
from tests.support.stack_leftovers import stack_leftovers
from tests.support.wiring_prereqs import build_prerequisites

pytestmark = pytest.mark.integration

WIRING = ROOT / "tests" / "integration" / "playbooks" / "wiring_roles.yml"
STACK = "wired"
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
INFRA_ROLES = ("network", "ecr_push", "lambda_function", "ecs_service")
needs_infra_roles = pytest.mark.skipif(
    not all((ROOT / "roles" / role / "tasks" / "main.yml").exists() for role in INFRA_ROLES),
    reason="site.yml needs the network, ecr_push, lambda_function and ecs_service roles (issue 6, first half)",
)

needs_reserved_concurrency = pytest.mark.skipif(
    not (ROOT / "plugins" / "modules" / "lambda_reserved_concurrency.py").exists(),
    reason="the scaler role needs the lambda_reserved_concurrency module (issue 6, first half)",
)


def recap(completed) -> dict[str, dict[str, int]]:
    """Per host ``{"ok", "changed", "failed"}`` of an ansible-playbook run; fails the test on a failed run."""
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-6000:]
    hosts = {
        host: {"ok": int(ok), "changed": int(changed), "failed": int(failed) + int(unreachable)}
        for host, ok, changed, unreachable, failed in RECAP.findall(completed.stdout)
    }
    assert hosts, output[-3000:]
    return hosts


def listener_arn(elbv2, stack: str = STACK) -> str:
    load_balancer = elbv2.describe_load_balancers(Names=[stack])["LoadBalancers"][0]["LoadBalancerArn"]
    return elbv2.describe_listeners(LoadBalancerArn=load_balancer)["Listeners"][0]["ListenerArn"]


def weights(elbv2, stack: str = STACK) -> dict[str, int]:
    names = {
        group["TargetGroupArn"]: group["TargetGroupName"] for group in elbv2.describe_target_groups()["TargetGroups"]
    }
    return {names[arn]: weight for arn, weight in read_weights(elbv2, listener_arn(elbv2, stack)).items()}


@pytest.fixture
def prerequisites(aws_client) -> dict:
    return build_prerequisites(aws_client, STACK)


def run_wiring(endpoint: str, prerequisites: dict, *, check: bool = False, scaler_endpoint: str = "", **extra):
    """Run the four roles; ``scaler_endpoint`` is the scaler's AWS_ENDPOINT_URL (the real one behind a recorder)."""
    return run_playbook(
        WIRING,
        inventory="localhost,",
        extra_vars={
            **prerequisites,
            "spillover_stack_name": STACK,
            "spillover_aws_endpoint_url": endpoint,
            "spillover_scaler_endpoint_url": scaler_endpoint or endpoint,
            **extra,
        },
        check=check,
    )


@needs_reserved_concurrency
def test_wiring_converges_rerun_and_check_write_nothing(local_aws, recorder, aws_client, prerequisites):
    first = recap(run_wiring(local_aws.endpoint, prerequisites))
    assert first["localhost"]["changed"] > 0

    # Second run and --check on the deployed stack, both through the recorder: no change reported, no write made.
    recorder.reset()
    second = recap(run_wiring(recorder.endpoint, prerequisites, scaler_endpoint=local_aws.endpoint))
    assert second["localhost"]["changed"] == 0
    check = run_wiring(recorder.endpoint, prerequisites, check=True, scaler_endpoint=local_aws.endpoint)
    assert recap(check)["localhost"]["changed"] == 0
    assert recorder.writes == [], recorder.writes

    # What was wired, read back with boto3.
    elbv2, lambda_, events = aws_client("elbv2"), aws_client("lambda"), aws_client("events")
    assert weights(elbv2) == {f"{STACK}-lambda": 100, f"{STACK}-ecs": 0}
    environment = lambda_.get_function_configuration(FunctionName=f"{STACK}-scaler")["Environment"]["Variables"]
    assert environment["SPILLOVER_ECS_TARGET_GROUP_ARN"] == prerequisites["ecs_service__target_group_arn"]
    assert environment["AWS_ENDPOINT_URL"] == local_aws.endpoint
    assert environment["SPILLOVER_HEALTH_GATE"] == "true"  # the role's default
    assert lambda_.get_function_concurrency(FunctionName=f"{STACK}-scaler")["ReservedConcurrentExecutions"] == 1
    pattern = json.loads(events.describe_rule(Name=f"{STACK}-alarm-state")["EventPattern"])
    alarms = ("spill-throttles", "spill-lambda-user-error", "spill-concurrency", "warm-concurrency")
    alarms += ("spill-pressure", "warm-pressure")
    assert sorted(arn.rsplit(":", 1)[1] for arn in pattern["resources"]) == sorted(f"{STACK}-{name}" for name in alarms)
    assert environment["SPILLOVER_SPILL_ALARMS"].split(",") == [
        f"{STACK}-{name}" for name in alarms if name.startswith("spill-")
    ]
    assert environment["SPILLOVER_WARM_ALARMS"].split(",") == [
        f"{STACK}-{name}" for name in alarms if name.startswith("warm-")
    ]
    policy = json.loads(lambda_.get_policy(FunctionName=f"{STACK}-scaler")["Policy"])
    assert sorted(s["Condition"]["ArnLike"]["AWS:SourceArn"].rsplit("/", 1)[1] for s in policy["Statement"]) == [
        f"{STACK}-alarm-state",
        f"{STACK}-schedule",
        f"{STACK}-task-state",
    ]
    # The pressure alarm, as the alarm role writes it: the app's EMF Duration, Sum over 10 s, high resolution.
    (pressure,) = aws_client("cloudwatch").describe_alarms(AlarmNames=[f"{STACK}-spill-pressure"])["MetricAlarms"]
    assert (pressure["Namespace"], pressure["MetricName"], pressure["Statistic"], pressure["Period"]) == (
        "Spillover",
        "Duration",
        "Sum",
        10,
    )
    assert pressure["Dimensions"] == [{"Name": "FunctionName", "Value": f"{STACK}-app"}]
    assert pressure["Threshold"] == 0.9 * 10 * 10 * 1000  # share x reserved concurrency x period x 1000 ms
    # The dashboard, with the states of all six alarms.
    body = deployed_body(aws_client("cloudwatch"), STACK)
    (alarm_status,) = [widget["properties"] for widget in body["widgets"] if widget["type"] == "alarm"]
    assert sorted(arn.rsplit(":", 1)[1] for arn in alarm_status["alarms"]) == sorted(
        f"{STACK}-{name}" for name in alarms
    )


@needs_reserved_concurrency
def test_the_task_state_rule_wakes_the_scaler_for_the_tasks_of_its_own_service_only(
    local_aws, aws_client, prerequisites
):
    """The deployed pattern, put to three matchers: the local AWS's own (a probe rule with the same pattern, on a bus
    of its own, sends what it matches to a queue: the local AWS has no TestEventPattern and cannot deliver to a
    Lambda target), the lab's EventBridge, and the scaler's classify_event with the deployed environment, which
    checks the cluster and the service again."""
    recap(run_wiring(local_aws.endpoint, prerequisites))
    events, sqs, lambda_ = aws_client("events"), aws_client("sqs"), aws_client("lambda")
    rule = events.describe_rule(Name=f"{STACK}-task-state")
    scaler_arn = lambda_.get_function_configuration(FunctionName=f"{STACK}-scaler")["FunctionArn"]
    assert [target["Arn"] for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]] == [scaler_arn]
    cluster, service = prerequisites["ecs_service__cluster_name"], prerequisites["ecs_service__service_name"]
    wakes = {"running": task_event(cluster, service, "RUNNING"), "stopped": task_event(cluster, service, "STOPPED")}
    others = {
        "another service": task_event(cluster, "other-app"),
        "another cluster": task_event("other-cluster", service),
        "a cluster that only starts alike": task_event(f"{cluster}-2", service),
        "another account's cluster": task_event(cluster, service, account="210987654321"),
        "a task still provisioning": task_event(cluster, service, "PROVISIONING"),
    }

    queue = sqs.create_queue(QueueName="matched")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.create_event_bus(Name="pattern-probe")
    events.put_rule(Name="pattern-probe", EventBusName="pattern-probe", EventPattern=rule["EventPattern"])
    events.put_targets(Rule="pattern-probe", EventBusName="pattern-probe", Targets=[{"Id": "queue", "Arn": queue_arn}])
    for name, event in {**wakes, **others}.items():
        entry = {"Source": event["source"], "DetailType": event["detail-type"], "Resources": event["resources"]}
        entry["EventBusName"] = "pattern-probe"
        detail = {**event["detail"], "probe": name}
        assert events.put_events(Entries=[{**entry, "Detail": json.dumps(detail)}])["FailedEntryCount"] == 0
    matched = []
    for _ in range(10):
        received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not received:
            break
        matched += [json.loads(message["Body"])["detail"]["probe"] for message in received]
    assert sorted(matched) == sorted(wakes)

    pattern = json.loads(rule["EventPattern"])
    assert {name for name, event in {**wakes, **others}.items() if lab_matches(pattern, event)} == set(wakes)

    environment = lambda_.get_function_configuration(FunctionName=f"{STACK}-scaler")["Environment"]["Variables"]
    config = load_scaler_module().load_config({**environment, "AWS_REGION": REGION})
    classify = load_scaler_module().classify_event
    assert [classify(event, config) for event in wakes.values()] == [None, None]
    for name in ("another service", "another cluster", "a cluster that only starts alike"):
        assert "not this scaler's service" in classify(others[name], config), name


def test_rerun_keeps_the_weights_the_scaler_set(local_aws, recorder, aws_client, prerequisites):
    recap(run_wiring(local_aws.endpoint, prerequisites, wiring_roles=["alb"]))
    elbv2 = aws_client("elbv2")
    ecs_group = prerequisites["ecs_service__target_group_arn"]
    # As the scaler would, mid-spillover: an ECS target (moto marks it healthy at once) and 40 / 60 weights.
    elbv2.register_targets(TargetGroupArn=ecs_group, Targets=[{"Id": "10.30.1.7", "Port": 8080}])
    listener = listener_arn(elbv2)
    write_weights(elbv2, listener, {prerequisites["lambda_function__target_group_arn"]: 40, ecs_group: 60})
    recorder.reset()
    rerun = recap(run_wiring(recorder.endpoint, prerequisites, wiring_roles=["alb"]))
    assert rerun["localhost"]["changed"] == 0
    assert weights(elbv2) == {f"{STACK}-lambda": 40, f"{STACK}-ecs": 60}
    assert recorder.writes == [], recorder.writes

    # A listener whose action is not the weighted forward (here: a plain forward) gets the initial weights back.
    elbv2.modify_listener(ListenerArn=listener, DefaultActions=[{"Type": "forward", "TargetGroupArn": ecs_group}])
    repaired = recap(run_wiring(local_aws.endpoint, prerequisites, wiring_roles=["alb"]))
    assert repaired["localhost"]["changed"] == 1
    assert weights(elbv2) == {f"{STACK}-lambda": 100, f"{STACK}-ecs": 0}


def balancer_attributes(elbv2, stack: str = STACK) -> dict[str, str]:
    arn = elbv2.describe_load_balancers(Names=[stack])["LoadBalancers"][0]["LoadBalancerArn"]
    attributes = elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    return {attribute["Key"]: attribute["Value"] for attribute in attributes}


def idle_timeout(elbv2, stack: str = STACK) -> str:
    return balancer_attributes(elbv2, stack)["idle_timeout.timeout_seconds"]


CONTROLS = ("routing.http.drop_invalid_header_fields.enabled", "deletion_protection.enabled")


def test_the_load_balancer_drops_invalid_header_fields_and_is_protected_by_default_and_both_can_be_turned_off(
    recorder, aws_client, prerequisites
):
    """AWS Foundational Security Best Practices ELB.4 and ELB.6, on by default (AWS's own defaults are off)."""
    elbv2 = aws_client("elbv2")
    recap(run_wiring(recorder.endpoint, prerequisites, wiring_roles=["alb"]))
    assert {key: balancer_attributes(elbv2)[key] for key in CONTROLS} == dict.fromkeys(CONTROLS, "true")

    recorder.reset()
    off = {"alb_drop_invalid_header_fields": False, "alb_deletion_protection": False}
    checked = recap(run_wiring(recorder.endpoint, prerequisites, check=True, wiring_roles=["alb"], **off))
    assert checked["localhost"]["changed"] == 1 and recorder.writes == [], recorder.writes
    changed = recap(run_wiring(recorder.endpoint, prerequisites, wiring_roles=["alb"], **off))
    assert changed["localhost"]["changed"] == 1
    assert [call.operation for call in recorder.writes] == ["ModifyLoadBalancerAttributes"]
    assert {key: balancer_attributes(elbv2)[key] for key in CONTROLS} == dict.fromkeys(CONTROLS, "false")
    recorder.reset()
    assert recap(run_wiring(recorder.endpoint, prerequisites, wiring_roles=["alb"], **off))["localhost"]["changed"] == 0
    assert recorder.writes == [], recorder.writes


def test_the_load_balancer_idle_timeout_is_set_in_check_mode_first_then_kept(recorder, aws_client, prerequisites):
    elbv2 = aws_client("elbv2")
    # Check mode on a stack without a load balancer writes nothing.
    checked = recap(run_wiring(recorder.endpoint, prerequisites, check=True, wiring_roles=["alb"]))
    assert checked["localhost"]["changed"] > 0 and recorder.writes == [], recorder.writes
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []

    recap(run_wiring(recorder.endpoint, prerequisites, wiring_roles=["alb"]))
    assert idle_timeout(elbv2) == "900"  # the role's default, not AWS's 60
    recorder.reset()
    assert recap(run_wiring(recorder.endpoint, prerequisites, wiring_roles=["alb"]))["localhost"]["changed"] == 0
    assert recorder.writes == [], recorder.writes

    # A new value: check mode says so and writes nothing, the run sets the attribute and only it.
    recorder.reset()
    longer = {"alb_idle_timeout": 3600}
    checked = recap(run_wiring(recorder.endpoint, prerequisites, check=True, wiring_roles=["alb"], **longer))
    assert checked["localhost"]["changed"] == 1 and recorder.writes == [], recorder.writes
    assert idle_timeout(elbv2) == "900"
    changed = recap(run_wiring(recorder.endpoint, prerequisites, wiring_roles=["alb"], **longer))
    assert changed["localhost"]["changed"] == 1
    assert [call.operation for call in recorder.writes] == ["ModifyLoadBalancerAttributes"]
    assert idle_timeout(elbv2) == "3600"


def test_an_idle_timeout_aws_refuses_is_refused_before_anything_is_created(recorder, prerequisites):
    completed = run_wiring(recorder.endpoint, prerequisites, wiring_roles=["alb"], alb_idle_timeout=4001)
    assert completed.returncode != 0
    assert "an alb_idle_timeout of 1 to 4000 seconds (got 4001)" in completed.stdout
    assert recorder.writes == [], recorder.writes


ACCESS_LOGS = ("access_logs.s3.enabled", "access_logs.s3.bucket", "access_logs.s3.prefix")
# The local AWS's account (of the test credentials); the bucket the role creates is named after it.
LOGS_BUCKET = f"{STACK}-alb-logs-123456789012"


def access_logs(elbv2) -> tuple[str, ...]:
    attributes = balancer_attributes(elbv2)
    return tuple(attributes.get(key, "") for key in ACCESS_LOGS)


def test_access_logs_go_to_a_private_bucket_the_role_creates_and_teardown_deletes_it_with_its_logs(
    local_aws, recorder, aws_client, prerequisites
):
    elbv2, s3 = aws_client("elbv2"), aws_client("s3")
    recap(run_wiring(local_aws.endpoint, prerequisites, wiring_roles=["alb"]))
    assert balancer_attributes(elbv2)["access_logs.s3.enabled"] == "false"  # off by default
    assert LOGS_BUCKET not in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]

    # Check mode writes nothing (amazon.aws.s3_bucket has no check mode: it is skipped) and says the logs would go on.
    recorder.reset()
    on = {"wiring_roles": ["alb"], "alb_access_logs": True}
    checked = recap(run_wiring(recorder.endpoint, prerequisites, check=True, **on))
    assert checked["localhost"]["changed"] == 1 and recorder.writes == [], recorder.writes

    recap(run_wiring(local_aws.endpoint, prerequisites, **on))
    assert access_logs(elbv2) == ("true", LOGS_BUCKET, "")
    encryption = s3.get_bucket_encryption(Bucket=LOGS_BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert [rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for rule in encryption] == ["AES256"]
    blocked = s3.get_public_access_block(Bucket=LOGS_BUCKET)["PublicAccessBlockConfiguration"]
    assert blocked == dict.fromkeys(blocked, True) and len(blocked) == 4
    assert {tag["Key"]: tag["Value"] for tag in s3.get_bucket_tagging(Bucket=LOGS_BUCKET)["TagSet"]} == {
        "spillover:stack": STACK
    }
    allow, deny = json.loads(s3.get_bucket_policy(Bucket=LOGS_BUCKET)["Policy"])["Statement"]
    # us-east-1 opened before August 2022: Elastic Load Balancing's account of the region writes the logs, and only
    # under AWSLogs/<account>/.
    assert (allow["Effect"], allow["Principal"], allow["Action"], allow["Resource"]) == (
        "Allow",
        {"AWS": "arn:aws:iam::127311923021:root"},
        "s3:PutObject",
        f"arn:aws:s3:::{LOGS_BUCKET}/AWSLogs/123456789012/*",
    )
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})

    # A second run changes nothing and writes nothing.
    recorder.reset()
    again = recap(run_wiring(recorder.endpoint, prerequisites, **on))
    assert again["localhost"]["changed"] == 0 and recorder.writes == [], recorder.writes

    # Teardown empties the bucket of its logs and deletes it; a second teardown is harmless. The test writes a log as
    # log delivery would. The local AWS applies a bucket policy's Deny to every object call whatever its condition
    # (AWS denies only requests without TLS, and every client here speaks plain HTTP to the local AWS), so the test
    # lifts the policy first.
    s3.delete_bucket_policy(Bucket=LOGS_BUCKET)
    s3.put_object(Bucket=LOGS_BUCKET, Key="AWSLogs/123456789012/elasticloadbalancing/log.gz", Body=b"log")
    teardown = {"wiring_state": "absent", "wiring_roles": ["alb"], "alb_access_logs": True}
    assert recap(run_wiring(local_aws.endpoint, prerequisites, **teardown))["localhost"]["changed"] > 0
    assert LOGS_BUCKET not in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]
    assert recap(run_wiring(local_aws.endpoint, prerequisites, **teardown))["localhost"]["changed"] == 0


def test_access_logs_in_a_bucket_of_ones_own_are_turned_on_and_off_and_the_bucket_is_never_touched(
    local_aws, recorder, aws_client, prerequisites
):
    elbv2, s3 = aws_client("elbv2"), aws_client("s3")
    s3.create_bucket(Bucket="org-alb-logs")
    own = {"alb_access_logs": True, "alb_access_logs_bucket": "org-alb-logs", "alb_access_logs_prefix": "shop/prod"}
    recap(run_wiring(local_aws.endpoint, prerequisites, wiring_roles=["alb"], **own))
    assert access_logs(elbv2) == ("true", "org-alb-logs", "shop/prod")

    recorder.reset()
    recap(run_wiring(recorder.endpoint, prerequisites, wiring_roles=["alb"]))  # the option off again
    assert balancer_attributes(elbv2)["access_logs.s3.enabled"] == "false"
    assert [call.operation for call in recorder.writes] == ["ModifyLoadBalancerAttributes"]
    teardown = {"wiring_state": "absent", "wiring_roles": ["alb"], **own}
    recorder.reset()
    recap(run_wiring(recorder.endpoint, prerequisites, **teardown))
    assert [call for call in recorder.calls if call.service == "s3"] == []
    assert "org-alb-logs" in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]


def test_the_waf_web_acl_is_associated_in_check_mode_first_then_kept(local_aws, recorder, aws_client, prerequisites):
    wafv2, elbv2 = aws_client("wafv2"), aws_client("elbv2")
    acl = wafv2.create_web_acl(
        Name=f"{STACK}-acl",
        Scope="REGIONAL",
        DefaultAction={"Allow": {}},
        VisibilityConfig={"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False, "MetricName": "acl"},
    )["Summary"]["ARN"]
    recap(run_wiring(local_aws.endpoint, prerequisites, wiring_roles=["alb"]))
    balancer = elbv2.describe_load_balancers(Names=[STACK])["LoadBalancers"][0]["LoadBalancerArn"]
    assert "WebACL" not in wafv2.get_web_acl_for_resource(ResourceArn=balancer)

    recorder.reset()
    checked = recap(run_wiring(recorder.endpoint, prerequisites, check=True, wiring_roles=["alb"], alb_web_acl_arn=acl))
    assert checked["localhost"]["changed"] == 1 and recorder.writes == [], recorder.writes
    changed = recap(run_wiring(recorder.endpoint, prerequisites, wiring_roles=["alb"], alb_web_acl_arn=acl))
    assert changed["localhost"]["changed"] == 1
    assert [call.operation for call in recorder.writes] == ["AssociateWebACL"]
    assert wafv2.get_web_acl_for_resource(ResourceArn=balancer)["WebACL"]["ARN"] == acl
    recorder.reset()
    again = recap(run_wiring(recorder.endpoint, prerequisites, wiring_roles=["alb"], alb_web_acl_arn=acl))
    assert again["localhost"]["changed"] == 0 and recorder.writes == [], recorder.writes


def listeners_by_port(elbv2, stack: str = STACK) -> dict[int, dict]:
    load_balancer = elbv2.describe_load_balancers(Names=[stack])["LoadBalancers"][0]["LoadBalancerArn"]
    return {
        listener["Port"]: listener for listener in elbv2.describe_listeners(LoadBalancerArn=load_balancer)["Listeners"]
    }


def test_with_a_certificate_http_redirects_to_https_which_carries_the_one_weighted_forward(
    local_aws, recorder, aws_client, prerequisites
):
    certificate = aws_client("acm").request_certificate(DomainName="shop.example.com")["CertificateArn"]
    elbv2 = aws_client("elbv2")
    lambda_group, ecs_group = (
        prerequisites["lambda_function__target_group_arn"],
        prerequisites["ecs_service__target_group_arn"],
    )
    recap(run_wiring(local_aws.endpoint, prerequisites, wiring_roles=["alb"], alb_certificate_arn=certificate))
    listeners = listeners_by_port(elbv2)
    assert (listeners[80]["Protocol"], listeners[443]["Protocol"]) == ("HTTP", "HTTPS")
    [redirect] = listeners[80]["DefaultActions"]
    assert redirect["Type"] == "redirect"
    assert {key: redirect["RedirectConfig"][key] for key in ("Protocol", "Port", "StatusCode")} == {
        "Protocol": "HTTPS",
        "Port": "443",
        "StatusCode": "HTTP_301",
    }
    assert read_weights(elbv2, listeners[443]["ListenerArn"]) == {lambda_group: 100, ecs_group: 0}

    recorder.reset()
    again = recap(run_wiring(recorder.endpoint, prerequisites, wiring_roles=["alb"], alb_certificate_arn=certificate))
    assert again["localhost"]["changed"] == 0 and recorder.writes == [], recorder.writes

    # Redirect off mid-spill: HTTP forwards again, at the HTTPS listener's weights, which stay as the scaler set them.
    elbv2.register_targets(TargetGroupArn=ecs_group, Targets=[{"Id": "10.30.1.7", "Port": 8080}])
    write_weights(elbv2, listeners[443]["ListenerArn"], {lambda_group: 40, ecs_group: 60})
    both = {"alb_certificate_arn": certificate, "alb_http_redirect": False}
    recap(run_wiring(local_aws.endpoint, prerequisites, wiring_roles=["alb"], **both))
    for port in (80, 443):
        assert read_weights(elbv2, listeners[port]["ListenerArn"]) == {lambda_group: 40, ecs_group: 60}, port

    # And on again: HTTP is the redirect once more, HTTPS keeps its weights.
    recap(run_wiring(local_aws.endpoint, prerequisites, wiring_roles=["alb"], alb_certificate_arn=certificate))
    listeners = listeners_by_port(elbv2)
    assert [action["Type"] for action in listeners[80]["DefaultActions"]] == ["redirect"]
    assert read_weights(elbv2, listeners[443]["ListenerArn"]) == {lambda_group: 40, ecs_group: 60}


def test_a_certificate_added_mid_spill_starts_https_at_the_scalers_weights(local_aws, aws_client, prerequisites):
    """HTTP forwards at 30 / 70 (the scaler mid-spill); adding a certificate creates HTTPS at 30 / 70, not at Lambda
    100, and turns HTTP into the redirect: HTTPS clients stay on ECS while the spill lasts."""
    elbv2 = aws_client("elbv2")
    lambda_group, ecs_group = (
        prerequisites["lambda_function__target_group_arn"],
        prerequisites["ecs_service__target_group_arn"],
    )
    recap(run_wiring(local_aws.endpoint, prerequisites, wiring_roles=["alb"]))
    elbv2.register_targets(TargetGroupArn=ecs_group, Targets=[{"Id": "10.30.1.7", "Port": 8080}])
    write_weights(elbv2, listener_arn(elbv2), {lambda_group: 30, ecs_group: 70})

    certificate = aws_client("acm").request_certificate(DomainName="shop.example.com")["CertificateArn"]
    recap(run_wiring(local_aws.endpoint, prerequisites, wiring_roles=["alb"], alb_certificate_arn=certificate))
    listeners = listeners_by_port(elbv2)
    assert [action["Type"] for action in listeners[80]["DefaultActions"]] == ["redirect"]
    assert read_weights(elbv2, listeners[443]["ListenerArn"]) == {lambda_group: 30, ecs_group: 70}


def test_shift_and_status_act_on_and_report_every_forwarding_listener(local_aws, aws_client, prerequisites, tmp_path):
    """HTTP and HTTPS both forwarding (a certificate, alb_http_redirect: false): shift.yml sets both, status.yml
    shows both."""
    certificate = aws_client("acm").request_certificate(DomainName="shop.example.com")["CertificateArn"]
    both = {"alb_certificate_arn": certificate, "alb_http_redirect": False}
    recap(run_wiring(local_aws.endpoint, prerequisites, wiring_roles=["alb"], **both))
    elbv2 = aws_client("elbv2")
    lambda_group, ecs_group = (
        prerequisites["lambda_function__target_group_arn"],
        prerequisites["ecs_service__target_group_arn"],
    )
    elbv2.register_targets(TargetGroupArn=ecs_group, Targets=[{"Id": "10.30.1.7", "Port": 8080}])
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "spillover_stack_name": STACK,
        "spillover_aws_endpoint_url": local_aws.endpoint,
        "spillover_aws_region": REGION,
        "spillover_aws_access_key": "testing",
        "spillover_aws_secret_key": "testing",
        **both,
    }
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"spillover_stacks": {"hosts": {"wired": host}}}}}))

    shifted = run_playbook(ROOT / "playbooks" / "shift.yml", inventory=inventory, extra_vars={"ecs_share": 30})
    assert recap(shifted)["wired"]["changed"] == 1
    listeners = listeners_by_port(elbv2)
    for port in (80, 443):
        assert read_weights(elbv2, listeners[port]["ListenerArn"]) == {lambda_group: 70, ecs_group: 30}, port

    status = run_playbook(ROOT / "playbooks" / "status.yml", inventory=inventory)
    recap(status)
    compact = re.sub(r"\s+", "", status.stdout)
    shown = json.dumps({f"{STACK}-lambda": 70, f"{STACK}-ecs": 30}, separators=(",", ":"), sort_keys=True)
    assert f'"80":{shown}' in compact and f'"443":{shown}' in compact, status.stdout[-3000:]
    assert listeners[443]["ListenerArn"] in status.stdout and listeners[80]["ListenerArn"] in status.stdout


@needs_reserved_concurrency
def test_wiring_teardown_twice_leaves_none_of_its_resources(local_aws, aws_client, prerequisites):
    recap(run_wiring(local_aws.endpoint, prerequisites))
    assert balancer_attributes(aws_client("elbv2"))["deletion_protection.enabled"] == "true"
    reverse = ["dashboard", "eventbridge", "scaler", "alarm", "alb"]
    # Through AWS's refusal to delete a protected load balancer (the local AWS deletes it): the role turns the
    # protection off first, so the delete is never refused.
    guard = ElbDeletionProtection()
    with QuirksLayer(local_aws.endpoint, [guard]) as layer:
        first = recap(run_wiring(layer.endpoint, prerequisites, wiring_state="absent", wiring_roles=reverse))
        second = recap(run_wiring(layer.endpoint, prerequisites, wiring_state="absent", wiring_roles=reverse))
    assert first["localhost"]["changed"] > 0
    assert second["localhost"]["changed"] == 0
    assert guard.injections == []
    # Only the prerequisites the test itself created with boto3 may remain.
    left = stack_leftovers(aws_client, STACK)
    theirs = {
        f"target group {STACK}-lambda",
        f"target group {STACK}-ecs",
        f"function {STACK}-app",
        f"ECS cluster {STACK}",
        f"IAM role {STACK}-app",
    }
    assert [
        item for item in left if item not in theirs and not item.startswith(("ECS service", "task def", "security"))
    ] == []
    assert aws_client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{STACK}-scaler")["logGroups"] == []
    assert aws_client("cloudwatch").list_dashboards(DashboardNamePrefix=STACK)["DashboardEntries"] == []


def _client_factory(endpoint: str, credentials: dict | None = None, region: str = REGION):
    def client(service: str):
        return boto3.client(service, region_name=region, endpoint_url=endpoint, **(credentials or {}))

    return client


@needs_infra_roles
@needs_image_tools
def test_site_converges_check_is_clean_and_teardown_twice_empties(
    local_aws, recorder, aws_client, registry, base_image
):
    inventory = ROOT / "inventories" / "local"
    port = local_aws.endpoint.rsplit(":", 1)[1]
    # An HTTPS listener too: the load balancer's security group must open its port as well as HTTP's.
    certificate = aws_client("acm").request_certificate(DomainName="shop.example.com")["CertificateArn"]
    scaler = {
        "spillover_scaler_endpoint_url": local_aws.endpoint,
        "ecr_push_registry_override": registry,
        "alb_certificate_arn": certificate,
    }
    first = recap(
        run_playbook(
            ROOT / "playbooks" / "site.yml", inventory=inventory, extra_vars=scaler, env={"LOCAL_AWS_PORT": port}
        )
    )
    assert first["local"]["changed"] > 0
    elbv2, ec2 = aws_client("elbv2"), aws_client("ec2")
    balancer = elbv2.describe_load_balancers(Names=["spillover-local"])["LoadBalancers"][0]
    listeners = elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    assert sorted((listener["Protocol"], listener["Port"]) for listener in listeners) == [("HTTP", 80), ("HTTPS", 443)]
    [group] = ec2.describe_security_groups(GroupIds=balancer["SecurityGroups"])["SecurityGroups"]
    assert sorted(rule["FromPort"] for rule in group["IpPermissions"]) == [80, 443]
    # The VPC site.yml created keeps no rule in its default security group, in or out.
    default = [{"Name": "vpc-id", "Values": [group["VpcId"]]}, {"Name": "group-name", "Values": ["default"]}]
    [default_group] = ec2.describe_security_groups(Filters=default)["SecurityGroups"]
    assert (default_group["IpPermissions"], default_group["IpPermissionsEgress"]) == ([], [])
    # The task execution role trusts ECS tasks of the stack's account only.
    role = aws_client("iam").get_role(RoleName="spillover-local-app-task-exec")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
    }
    # The dashboard shows this stack: every widget's metric one AWS documents or the stack's code emits, with the
    # real resources' dimensions, and every alarm, log group and log field it names real.
    lambda_ = aws_client("lambda")
    environment = lambda_.get_function_configuration(FunctionName="spillover-local-scaler")["Environment"]["Variables"]
    facts = read_stack_facts(aws_client, REGION)
    add_code_metrics(facts, "spillover-local-app", "spillover-local-scaler", {**environment, "AWS_REGION": REGION})
    body = deployed_body(aws_client("cloudwatch"), "spillover-local")
    assert widget_problems(body, facts) == []
    reserved = lambda_.get_function_concurrency(FunctionName="spillover-local-app")["ReservedConcurrentExecutions"]
    assert [
        line["value"]
        for widget in body["widgets"]
        for line in widget["properties"].get("annotations", {}).get("horizontal", [])
    ] == [reserved]

    recorder.reset()
    recorder_port = recorder.endpoint.rsplit(":", 1)[1]
    check = run_playbook(
        ROOT / "playbooks" / "site.yml",
        inventory=inventory,
        extra_vars=scaler,
        check=True,
        env={"LOCAL_AWS_PORT": recorder_port},
    )
    assert recap(check)["local"]["changed"] == 0
    assert recorder.writes == [], recorder.writes

    # Teardown through AWS's refusal to delete a protected load balancer (deletion protection is on by default).
    assert balancer_attributes(elbv2, "spillover-local")["deletion_protection.enabled"] == "true"
    teardown = ROOT / "playbooks" / "teardown.yml"
    guard = ElbDeletionProtection()
    with QuirksLayer(local_aws.endpoint, [guard]) as layer:
        env = {"LOCAL_AWS_PORT": layer.endpoint.rsplit(":", 1)[1]}
        assert recap(run_playbook(teardown, inventory=inventory, env=env))["local"]["changed"] > 0
        assert recap(run_playbook(teardown, inventory=inventory, env=env))["local"]["changed"] == 0
    assert guard.injections == []
    assert stack_leftovers(aws_client, "spillover-local") == []


@needs_infra_roles
@needs_image_tools
def test_example_inventory_lands_each_stack_in_its_own_account(local_aws, registry, base_image):
    # The overlay the multi_account molecule scenario uses, pointed at this test's local AWS.
    overlay = yaml.safe_load(
        (ROOT / "extensions" / "molecule" / "multi_account" / "vars" / "local_aws.yml").read_text()
    )
    overlay["spillover_aws_endpoint_url"] = local_aws.endpoint
    overlay["ecr_push_registry_override"] = registry
    port = local_aws.endpoint.rsplit(":", 1)[1]
    result = recap(
        run_playbook(
            ROOT / "playbooks" / "site.yml",
            inventory=ROOT / "inventories" / "example",
            extra_vars=overlay,
            env={"LOCAL_AWS_PORT": port},
        )
    )
    assert set(result) == {"shop-staging", "shop-prod"}
    for stack, account, region in (
        ("shop-staging", "111111111111", "eu-west-1"),
        ("shop-prod", "222222222222", "us-east-1"),
    ):
        sts = _client_factory(local_aws.endpoint, {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"})(
            "sts"
        )
        credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/spillover-deploy", RoleSessionName="test")[
            "Credentials"
        ]
        client = _client_factory(
            local_aws.endpoint,
            {
                "aws_access_key_id": credentials["AccessKeyId"],
                "aws_secret_access_key": credentials["SecretAccessKey"],
                "aws_session_token": credentials["SessionToken"],
            },
            region,
        )
        load_balancer = client("elbv2").describe_load_balancers(Names=[stack])["LoadBalancers"][0]["LoadBalancerArn"]
        assert load_balancer.split(":")[3:5] == [region, account]
        # And not in the controller's own (default) account.
        default = _client_factory(local_aws.endpoint, region=region)("elbv2")
        assert stack not in [lb["LoadBalancerName"] for lb in default.describe_load_balancers()["LoadBalancers"]]


@needs_reserved_concurrency
def test_the_scaler_function_waits_until_lambda_can_assume_its_new_role(local_aws, recorder, aws_client, prerequisites):
    """The scaler's role is created a moment before its function: on AWS, CreateFunction answers that the role cannot
    be assumed until IAM has propagated it (the local AWS does not). The scaler role retries that answer."""
    create_function = "POST /2015-03-31/functions"  # the recorder names Lambda's REST calls by method and path
    unassumable = {
        "__type": "InvalidParameterValueException",
        "message": "The role defined for the function cannot be assumed by Lambda.",
    }
    recorder.answer(create_function, 400, unassumable, headers={"x-amzn-ErrorType": unassumable["__type"]}, times=2)
    completed = run_wiring(
        recorder.endpoint,
        prerequisites,
        scaler_endpoint=local_aws.endpoint,
        wiring_roles=["alb", "alarm", "scaler"],
        scaler__retry_delay=1,  # the role's delay (10 s), shortened for the test
    )
    recap(completed)
    assert [call.operation for call in recorder.calls].count(create_function) == 3
    configuration = aws_client("lambda").get_function_configuration(FunctionName=f"{STACK}-scaler")
    assert configuration["Role"].endswith(f":role/{STACK}-scaler")
