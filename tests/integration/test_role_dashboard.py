"""The dashboard role against the local AWS: check mode, idempotence, absent, bad input, and every widget against the
stack it shows.

The stack's resources are made with lab/builder.py's pieces under the stack contract's names (what the network,
lambda_function, ecs_service, alb, alarm and scaler roles hand over), so the role runs on its own. The widget check
(tests/support/dashboard_check.py) reads the stack's real resources from the local AWS and the metrics its code
emits from the code itself (the app's emitter, and the scaler run once against this stack). Moto stores a dashboard
body as given and never validates it: the rejection CloudWatch gives a body is answered by the recording proxy as
AWS answers it.
"""

from __future__ import annotations

import copy
import json

import pytest
from botocore.exceptions import ClientError

from lab import builder
from tests.support.ansible_run import run_playbook
from tests.support.dashboard_check import (
    add_code_metrics,
    deployed_body,
    read_stack_facts,
    widget_problems,
)
from tests.support.infra_roles import PLAYBOOK, apply_role
from tests.support.local_aws import REGION
from tests.support.scaler_stack import load_scaler_module
from tests.support.wiring_prereqs import build_prerequisites

pytestmark = pytest.mark.integration

STACK = "shown"
# What AWS answers a PutDashboard it rejects (JSON protocol), as tests/integration/test_cloudwatch_dashboard.py has it.
REJECTED = {
    "__type": "GraniteServiceVersion20100801#DashboardInvalidInputError",
    "message": "The dashboard body is invalid, there are 1 validation errors:\n[\n  {\n"
    '    "dataPath": "/widgets/2/properties/metrics/0",\n    "message": "Should NOT have more than 2 items"\n  }\n]',
    "dashboardValidationMessages": [
        {"DataPath": "/widgets/2/properties/metrics/0", "Message": "Should NOT have more than 2 items"}
    ],
}


@pytest.fixture
def stack(aws_client) -> dict:
    """The stack's resources, and the role's variables and the scaler's environment for them."""
    prerequisites = build_prerequisites(aws_client, STACK, REGION)
    elbv2, iam, lambda_, logs = (aws_client(name) for name in ("elbv2", "iam", "lambda", "logs"))
    where = builder.Network(
        prerequisites["network__vpc_id"],
        prerequisites["network__subnet_ids"],
        {"alb": prerequisites["network__alb_security_group_id"]},
    )
    load_balancer = builder.load_balancer(elbv2, STACK, where, "alb")
    lambda_group, ecs_group = (
        prerequisites[f"{role}__target_group_arn"] for role in ("lambda_function", "ecs_service")
    )
    listener = builder.weighted_listener(elbv2, load_balancer, {lambda_group: 100, ecs_group: 0})
    alarms = builder.alarms(
        aws_client("cloudwatch"),
        alarm_stack_name=STACK,
        alarm_load_balancer_arn=load_balancer,
        alarm_lambda_target_group_arn=lambda_group,
    )
    scaler_function = f"{STACK}-scaler"
    builder.function(lambda_, scaler_function, builder.lambda_role(iam, scaler_function), builder.stub_zip())
    logs.create_log_group(logGroupName=f"/aws/lambda/{scaler_function}")
    variables = {
        "dashboard_stack_name": STACK,
        "dashboard_load_balancer_arn": load_balancer,
        "dashboard_lambda_target_group_arn": lambda_group,
        "dashboard_ecs_target_group_arn": ecs_group,
        "dashboard_function_name": f"{STACK}-app",
        "dashboard_reserved_concurrency": 7,
        "dashboard_cluster_name": prerequisites["ecs_service__cluster_name"],
        "dashboard_service_name": prerequisites["ecs_service__service_name"],
        "dashboard_scaler_function_name": scaler_function,
        "dashboard_scaler_log_group": f"/aws/lambda/{scaler_function}",
        "dashboard_alarm_arns": [alarm["arn"] for alarm in alarms],
        "dashboard_alarm_graph_arns": [alarm["arn"] for alarm in alarms if alarm["name"].endswith("-pressure")],
    }
    spill = [alarm["name"] for alarm in alarms if alarm["kind"] == "spill"]
    warm = [alarm["name"] for alarm in alarms if alarm["kind"] == "warm"]
    environment = {
        "SPILLOVER_CLUSTER": prerequisites["ecs_service__cluster_name"],
        "SPILLOVER_SERVICE": prerequisites["ecs_service__service_name"],
        "SPILLOVER_LISTENER_ARN": listener,
        "SPILLOVER_LAMBDA_TARGET_GROUP_ARN": lambda_group,
        "SPILLOVER_ECS_TARGET_GROUP_ARN": ecs_group,
        "SPILLOVER_SPILL_ALARMS": ",".join(spill),
        "SPILLOVER_WARM_ALARMS": ",".join(warm),
        "SPILLOVER_SPILL_TASKS": "2",
        "SPILLOVER_DRAIN_SECONDS": "60",
        "AWS_REGION": REGION,
    }
    return {"variables": variables, "scaler_environment": environment, "alarms": alarms}


def stored(aws_client) -> dict | None:
    try:
        return deployed_body(aws_client("cloudwatch"), STACK)
    except ClientError as error:
        assert error.response["Error"]["Code"] == "ResourceNotFound", error.response
        return None


def failed_run(endpoint: str, variables: dict):
    """The role run expected to fail: the playbook's output."""
    completed = run_playbook(
        PLAYBOOK, inventory="localhost,", extra_vars={"infra_role": "dashboard", "endpoint": endpoint, **variables}
    )
    assert completed.returncode != 0, completed.stdout[-3000:]
    return completed.stdout + completed.stderr


def test_check_mode_then_the_dashboard_converges_and_goes(local_aws, recorder, aws_client, stack):
    variables = stack["variables"]
    checked = apply_role("dashboard", recorder.endpoint, variables, check=True)
    assert checked.changed == 1 and stored(aws_client) is None
    assert [call.operation for call in recorder.writes] == []

    first = apply_role("dashboard", local_aws.endpoint, variables)
    assert first.changed == 1
    assert first.facts["dashboard__arn"] == f"arn:aws:cloudwatch::123456789012:dashboard/{STACK}"
    assert first.facts["dashboard__names"] == {
        "dashboard": STACK,
        "console_url": f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}"
        f"#dashboards/dashboard/{STACK}",
    }
    body = stored(aws_client)
    assert body["start"] == "-PT3H" and body["periodOverride"] == "inherit"

    recorder.reset()
    assert apply_role("dashboard", recorder.endpoint, variables).changed == 0
    assert apply_role("dashboard", recorder.endpoint, variables, check=True).changed == 0
    assert recorder.writes == [], recorder.summary()
    assert {call.operation for call in recorder.calls} == {"GetDashboard"}

    # Another input (here the reservation) rewrites the body, once.
    again = apply_role("dashboard", local_aws.endpoint, {**variables, "dashboard_reserved_concurrency": 9})
    assert again.changed == 1 and stored(aws_client) != body

    recorder.reset()
    gone = apply_role("dashboard", recorder.endpoint, {"dashboard_stack_name": STACK, "dashboard_state": "absent"})
    assert gone.changed == 1 and stored(aws_client) is None and gone.facts["dashboard__arn"] == ""
    assert [call.operation for call in recorder.writes] == ["DeleteDashboards"]
    absent = {"dashboard_stack_name": STACK, "dashboard_state": "absent"}
    assert apply_role("dashboard", local_aws.endpoint, absent).changed == 0


def test_every_widget_shows_what_the_stack_has(local_aws, aws_client, stack):
    """The body the role wrote, against the stack's real resources and the metrics its code emits."""
    apply_role("dashboard", local_aws.endpoint, stack["variables"])
    body = stored(aws_client)
    facts = read_stack_facts(aws_client, REGION)
    add_code_metrics(facts, f"{STACK}-app", f"{STACK}-scaler", stack["scaler_environment"])
    assert widget_problems(body, facts) == []

    # And it shows all of it: every alarm's state, a graph of each pressure alarm, the reservation, the decisions.
    by_type: dict[str, list[dict]] = {}
    for widget in body["widgets"]:
        by_type.setdefault(widget["type"], []).append(widget["properties"])
    (alarm_status,) = by_type["alarm"]
    assert (
        sorted(alarm_status["alarms"]) == sorted(alarm["arn"] for alarm in stack["alarms"]) and len(facts.alarms) == 6
    )
    graphs = [
        properties for properties in by_type["metric"] if "annotations" in properties and "metrics" not in properties
    ]
    assert sorted(graph["title"] for graph in graphs) == [f"{STACK}-spill-pressure", f"{STACK}-warm-pressure"]
    annotated = [properties for properties in by_type["metric"] if properties.get("annotations", {}).get("horizontal")]
    assert [line["value"] for properties in annotated for line in properties["annotations"]["horizontal"]] == [7]
    (log,) = by_type["log"]
    assert log["query"].startswith(f"SOURCE '/aws/lambda/{STACK}-scaler' |") and "| limit 20" in log["query"]
    shown = {tuple(row[:2]) for properties in by_type["metric"] for row in properties.get("metrics", [])}
    scaler = load_scaler_module()
    assert {("Spillover", name) for name in scaler.ACTION_METRICS.values()} <= shown
    assert {("Spillover", "EcsShare"), ("Spillover", "DesiredCount"), ("Spillover", "RunningCount")} <= shown
    assert {("AWS/ApplicationELB", "RequestCount"), ("AWS/ApplicationELB", "HealthyHostCount")} <= shown
    assert {("AWS/Lambda", "Throttles"), ("AWS/Lambda", "ConcurrentExecutions")} <= shown


def _metric_rows(body: dict, title: str) -> list:
    return next(w["properties"]["metrics"] for w in body["widgets"] if w["properties"].get("title") == title)


def _mutations(stack: dict) -> list[tuple[str, object, str]]:
    lambda_group = stack["variables"]["dashboard_lambda_target_group_arn"].split(":")[-1]
    alarm = stack["alarms"][0]["arn"]

    def requests(body, row):
        _metric_rows(body, "Requests per target group")[0] = row

    def alarm_status(body, alarms):
        next(w for w in body["widgets"] if w["type"] == "alarm")["properties"]["alarms"] = alarms

    def log(body, old, new):
        widget = next(w for w in body["widgets"] if w["type"] == "log")
        widget["properties"]["query"] = widget["properties"]["query"].replace(old, new)

    return [
        (
            "a target group that does not exist",
            lambda body: requests(
                body,
                [
                    "AWS/ApplicationELB",
                    "RequestCount",
                    "TargetGroup",
                    "targetgroup/gone/0a",
                    "LoadBalancer",
                    _metric_rows(body, "Requests per target group")[0][5],
                ],
            ),
            "TargetGroup targetgroup/gone/0a is not a target group of the stack",
        ),
        (
            "a metric name AWS does not have",
            lambda body: requests(body, ["AWS/ApplicationELB", "RequestCounts", "TargetGroup", lambda_group]),
            "AWS/ApplicationELB RequestCounts is neither a metric AWS documents nor one the stack's code emits",
        ),
        (
            "an ELB metric under a target group, which AWS does not publish",
            lambda body: requests(
                body,
                [
                    "AWS/ApplicationELB",
                    "HTTPCode_ELB_502_Count",
                    "TargetGroup",
                    lambda_group,
                    "LoadBalancer",
                    _metric_rows(body, "Requests per target group")[0][5],
                ],
            ),
            "HTTPCode_ELB_502_Count is not published with dimensions ['LoadBalancer', 'TargetGroup']",
        ),
        (
            "the scaler's share under the app function, which does not write it",
            lambda body: requests(body, ["Spillover", "EcsShare", "FunctionName", f"{STACK}-app"]),
            "Spillover EcsShare is emitted with dimensions [{'FunctionName': 'shown-scaler'}]",
        ),
        (
            "an action the scaler has no metric for",
            lambda body: requests(body, ["Spillover", "Panic", "FunctionName", f"{STACK}-scaler"]),
            "Spillover Panic is neither a metric AWS documents nor one the stack's code emits",
        ),
        (
            "a function that does not exist",
            lambda body: requests(body, ["AWS/Lambda", "Throttles", "FunctionName", "someone-else"]),
            "FunctionName someone-else is not a function of the stack",
        ),
        (
            "an alarm that does not exist",
            lambda body: alarm_status(body, [alarm.replace("-spill-", "-gone-")]),
            "does not exist",
        ),
        ("a log group that does not exist", lambda body: log(body, "-scaler'", "-other'"), "does not exist"),
        ("a field the decision lines do not have", lambda body: log(body, "reason,", "why,"), "field why is not"),
        (
            "another region",
            lambda body: body["widgets"][1]["properties"].update(region="eu-west-1"),
            "region eu-west-1, not the stack's us-east-1",
        ),
        ("two widgets on one cell", lambda body: body["widgets"][2].update(x=4), "widget 2 overlaps widget 1"),
    ]


def test_the_check_catches_each_widget_the_stack_does_not_have(local_aws, aws_client, stack):
    apply_role("dashboard", local_aws.endpoint, stack["variables"])
    body = stored(aws_client)
    facts = read_stack_facts(aws_client, REGION)
    add_code_metrics(facts, f"{STACK}-app", f"{STACK}-scaler", stack["scaler_environment"])
    for what, mutate, expected in _mutations(stack):
        broken = copy.deepcopy(body)
        mutate(broken)
        problems = widget_problems(broken, facts)
        assert any(expected in problem for problem in problems), (what, problems)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"dashboard_load_balancer_arn": ""}, "needs dashboard_load_balancer_arn"),
        ({"dashboard_function_name": "arn:aws:lambda:us-east-1:123456789012:function:shown-app"}, "not ARNs"),
        ({"dashboard_period": 90}, "a multiple of 60"),
        ({"dashboard_alarm_graph_arns": ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:elsewhere"]}, "elsewhere"),
    ],
)
def test_bad_input_fails_before_any_write_and_says_what_to_fix(
    local_aws, recorder, aws_client, stack, changes, expected
):
    output = failed_run(recorder.endpoint, {**stack["variables"], **changes})
    assert expected in output
    assert recorder.calls == [] and stored(aws_client) is None


def test_a_body_cloudwatch_rejects_fails_with_its_message_and_changes_nothing(local_aws, recorder, aws_client, stack):
    variables = stack["variables"]
    apply_role("dashboard", local_aws.endpoint, variables)
    before = stored(aws_client)
    recorder.answer("PutDashboard", 400, REJECTED, headers={"x-amzn-query-error": "InvalidParameterInput;Sender"})
    output = failed_run(recorder.endpoint, {**variables, "dashboard_reserved_concurrency": 8})
    assert "Should NOT have more than 2 items" in output and "/widgets/2/properties/metrics/0" in output
    assert stored(aws_client) == before
    assert json.dumps(before).count('"value": 7') == 1  # the previous body, whole


@pytest.mark.parametrize(
    ("partition", "region", "url"),
    [
        ("aws", "eu-west-1", "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"),
        ("aws-cn", "cn-north-1", "https://cn-north-1.console.amazonaws.cn/cloudwatch/home?region=cn-north-1"),
        ("aws-us-gov", "us-gov-west-1", "https://console.amazonaws-us-gov.com/cloudwatch/home?region=us-gov-west-1"),
        ("aws-iso", "us-iso-east-1", ""),  # no console reachable from the internet
    ],
)
def test_the_names_entry_point_gives_the_console_url_of_the_stacks_partition_and_region(partition, region, url):
    load_balancer = f"arn:{partition}:elasticloadbalancing:{region}:123456789012:loadbalancer/app/{STACK}/0123abcd"
    variables = {"dashboard_stack_name": STACK, "dashboard_load_balancer_arn": load_balancer}
    names = apply_role("dashboard", "http://127.0.0.1:9", {**variables, "infra_entry_points": ["names"]})
    expected = f"{url}#dashboards/dashboard/{STACK}" if url else ""
    assert names.facts["dashboard__names"] == {"dashboard": STACK, "console_url": expected} and names.changed == 0


def test_without_the_load_balancer_the_names_entry_point_gives_the_name_only():
    """What playbooks/tasks/names.yml needs (the name, for the deployer policy) with no ARN to read a region from."""
    nameless = apply_role(
        "dashboard", "http://127.0.0.1:9", {"dashboard_stack_name": STACK, "infra_entry_points": ["names"]}
    )
    assert nameless.facts["dashboard__names"] == {"dashboard": STACK, "console_url": ""}
