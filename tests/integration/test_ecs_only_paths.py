"""ECS-only paths: listener rules that always forward to the ECS target group (alb_path_rules, the alb role), which
a scaler step and playbooks/shift.yml leave alone, on a stack whose compute the test made with boto3
(tests/support/wiring_prereqs.py) and whose load balancer the alb role deployed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from tests.integration.test_wiring import STACK, recap, run_wiring
from tests.support.ansible_run import ROOT, run_module, run_playbook
from tests.support.scaler_stack import SCHEDULED_EVENT, load_scaler_module
from tests.support.wiring_prereqs import build_prerequisites

pytestmark = pytest.mark.integration
PATHS = ["/report", "/exports/*"]


@pytest.fixture
def deployed(local_aws, aws_client):
    """The wired stack's load balancer with the ECS-only paths, and the ids the tests need."""
    prerequisites = build_prerequisites(aws_client, STACK)
    recap(run_wiring(local_aws.endpoint, prerequisites, wiring_roles=["alb"], alb_ecs_only_paths=PATHS))
    elbv2 = aws_client("elbv2")
    load_balancer = elbv2.describe_load_balancers(Names=[STACK])["LoadBalancers"][0]["LoadBalancerArn"]
    listener = elbv2.describe_listeners(LoadBalancerArn=load_balancer)["Listeners"][0]["ListenerArn"]
    return {**prerequisites, "listener_arn": listener}


def path_rules(elbv2, listener_arn: str) -> list[tuple[int, str, list[str]]]:
    """(priority, path, target groups) of every rule but the default one."""
    found = []
    for rule in elbv2.describe_rules(ListenerArn=listener_arn)["Rules"]:
        if rule["IsDefault"]:
            continue
        [condition] = rule["Conditions"]
        [action] = rule["Actions"]
        forward = action.get("ForwardConfig", {}).get("TargetGroups") or [
            {"TargetGroupArn": action.get("TargetGroupArn")}
        ]
        groups = [group["TargetGroupArn"] for group in forward if group["TargetGroupArn"]]
        found.append((int(rule["Priority"]), condition.get("PathPatternConfig", condition)["Values"][0], groups))
    return sorted(found)


def rules_args(deployed: dict, paths: list[str], **extra) -> dict:
    return {
        "listener_arn": deployed["listener_arn"],
        "target_group_arn": deployed["ecs_service__target_group_arn"],
        "paths": paths,
        **extra,
    }


def test_the_alb_role_forwards_each_path_to_ecs_and_a_rerun_writes_nothing(local_aws, recorder, aws_client, deployed):
    elbv2 = aws_client("elbv2")
    ecs = deployed["ecs_service__target_group_arn"]
    assert path_rules(elbv2, deployed["listener_arn"]) == [(1, "/report", [ecs]), (2, "/exports/*", [ecs])]

    recorder.reset()
    rerun = recap(run_wiring(recorder.endpoint, deployed, wiring_roles=["alb"], alb_ecs_only_paths=PATHS))
    assert rerun["localhost"]["changed"] == 0
    assert recorder.writes == [], recorder.writes

    # Removing one path from the inventory removes its rule, and only it.
    recap(run_wiring(local_aws.endpoint, deployed, wiring_roles=["alb"], alb_ecs_only_paths=["/exports/*"]))
    assert path_rules(elbv2, deployed["listener_arn"]) == [(1, "/exports/*", [ecs])]


def test_the_module_in_check_mode_writes_nothing_then_reorders_and_removes(local_aws, recorder, aws_client, deployed):
    elbv2 = aws_client("elbv2")
    ecs = deployed["ecs_service__target_group_arn"]
    reordered = rules_args(deployed, ["/exports/*", "/report", "/jobs/?"])
    recorder.reset()
    checked = run_module("alb_path_rules", reordered, endpoint=recorder.endpoint, check=True, diff=True)
    assert checked["changed"] and recorder.writes == []
    assert checked["diff"]["after"]["rules"] == [
        {"path": "/exports/*", "priority": 1},
        {"path": "/report", "priority": 2},
        {"path": "/jobs/?", "priority": 3},
    ]
    done = run_module("alb_path_rules", reordered, endpoint=local_aws.endpoint)
    assert done["changed"] and [rule["path"] for rule in done["rules"]] == ["/exports/*", "/report", "/jobs/?"]
    assert path_rules(elbv2, deployed["listener_arn"]) == [
        (1, "/exports/*", [ecs]),
        (2, "/report", [ecs]),
        (3, "/jobs/?", [ecs]),
    ]
    recorder.reset()
    assert not run_module("alb_path_rules", reordered, endpoint=recorder.endpoint)["changed"]
    assert recorder.writes == []

    gone = run_module("alb_path_rules", rules_args(deployed, [], state="absent"), endpoint=local_aws.endpoint)
    assert gone["changed"] and gone["rules"] == [] and path_rules(elbv2, deployed["listener_arn"]) == []


@pytest.mark.parametrize(
    ("paths", "extra", "message"),
    [
        (["/report", "/a b"], {}, "ALB does not take the path patterns '/a b'"),
        (["/x" * 65], {}, "ALB does not take the path patterns"),
        (["/report", "/report"], {}, "the path patterns /report are given more than once"),
        (["/report"], {"first_priority": 50001}, "first_priority must leave room for 1 rules within 1 to 50000"),
    ],
)
def test_bad_paths_are_refused_before_any_write(local_aws, recorder, deployed, paths, extra, message):
    recorder.reset()
    refused = run_module("alb_path_rules", rules_args(deployed, paths, **extra), endpoint=recorder.endpoint)
    assert refused["failed"] and message in refused["msg"], refused["msg"]
    assert recorder.writes == []


def test_a_priority_another_rule_holds_is_refused(local_aws, aws_client, deployed):
    elbv2 = aws_client("elbv2")
    elbv2.create_rule(
        ListenerArn=deployed["listener_arn"],
        Priority=5,
        Conditions=[{"Field": "host-header", "Values": ["admin.example.com"]}],
        Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "403"}}],
    )
    refused = run_module("alb_path_rules", rules_args(deployed, PATHS, first_priority=4), endpoint=local_aws.endpoint)
    assert refused["failed"] and "priorities 5 are held by other rules" in refused["msg"]
    # The other rule is not the module's: a run of its own paths leaves it alone.
    assert not run_module("alb_path_rules", rules_args(deployed, PATHS), endpoint=local_aws.endpoint)["changed"]
    assert [priority for priority, _, _ in path_rules(elbv2, deployed["listener_arn"])] == [1, 2, 5]
    assert path_rules(elbv2, deployed["listener_arn"])[2][2] == []  # the fixed-response rule, as it was


def test_a_scaler_step_and_shift_yml_move_the_default_weights_and_leave_the_rules_alone(
    local_aws, aws_client, deployed, tmp_path
):
    elbv2, cloudwatch = aws_client("elbv2"), aws_client("cloudwatch")
    before = path_rules(elbv2, deployed["listener_arn"])
    lambda_group, ecs_group = deployed["lambda_function__target_group_arn"], deployed["ecs_service__target_group_arn"]
    # Two healthy ECS targets (moto marks registered ip targets healthy at once) and a spill alarm in ALARM.
    elbv2.register_targets(
        TargetGroupArn=ecs_group, Targets=[{"Id": "10.30.1.7", "Port": 8080}, {"Id": "10.30.1.8", "Port": 8080}]
    )
    cloudwatch.put_metric_alarm(
        AlarmName=f"{STACK}-spill-throttles",
        Namespace="AWS/Lambda",
        MetricName="Throttles",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=f"{STACK}-spill-throttles", StateValue="ALARM", StateReason="test")
    scaler = load_scaler_module()
    environment = {
        "SPILLOVER_CLUSTER": deployed["ecs_service__cluster_name"],
        "SPILLOVER_SERVICE": deployed["ecs_service__service_name"],
        "SPILLOVER_LISTENER_ARN": deployed["listener_arn"],
        "SPILLOVER_LAMBDA_TARGET_GROUP_ARN": lambda_group,
        "SPILLOVER_ECS_TARGET_GROUP_ARN": ecs_group,
        "SPILLOVER_SPILL_ALARMS": f"{STACK}-spill-throttles",
        "SPILLOVER_WARM_ALARMS": "",
        "SPILLOVER_SPILL_TASKS": "2",
        "SPILLOVER_STANDBY_TASKS": "1",
        "SPILLOVER_STEPS": "50,100",
        "SPILLOVER_STEP_SECONDS": "60",
        "SPILLOVER_COOLDOWN_SECONDS": "300",
        "SPILLOVER_DRAIN_SECONDS": "60",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": local_aws.endpoint,
    }
    decision = scaler.Scaler.from_environment(environment, clock=lambda: datetime.now(UTC)).handle(SCHEDULED_EVENT)
    assert (decision["action"], decision["weights"]) == ("step_up", {"lambda": 50, "ecs": 50}), decision
    assert path_rules(elbv2, deployed["listener_arn"]) == before

    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {
                        "spillover_stacks": {
                            "hosts": {
                                "wired": {
                                    "ansible_connection": "local",
                                    "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                                    "spillover_stack_name": STACK,
                                    "spillover_aws_endpoint_url": local_aws.endpoint,
                                    "spillover_aws_region": "us-east-1",
                                    "spillover_aws_access_key": "testing",
                                    "spillover_aws_secret_key": "testing",
                                }
                            }
                        }
                    }
                }
            }
        )
    )
    shifted = run_playbook(ROOT / "playbooks" / "shift.yml", inventory=inventory, extra_vars={"ecs_share": 100})
    assert recap(shifted)["wired"]["changed"] == 1
    listener = elbv2.describe_listeners(ListenerArns=[deployed["listener_arn"]])["Listeners"][0]
    [forward] = listener["DefaultActions"]
    assert {g["TargetGroupArn"]: g["Weight"] for g in forward["ForwardConfig"]["TargetGroups"]} == {
        lambda_group: 0,
        ecs_group: 100,
    }
    assert path_rules(elbv2, deployed["listener_arn"]) == before
    assert [path for _, path, _ in before] == PATHS
