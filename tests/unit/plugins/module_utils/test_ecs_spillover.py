"""Unit tests of the logic of ecs_spillover_service in plugins/module_utils/ecs_spillover.py: comparison, planning,
refusals, waiting and state=absent.

No AWS: services and task definitions are the dicts DescribeServices / DescribeTaskDefinition return.
"""

from __future__ import annotations

import copy
import sys

import pytest

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.module_utils import ecs_spillover as es
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.target_health import count_healthy

TASK_1 = "arn:aws:ecs:us-east-1:123456789012:task-definition/app:1"
TASK_2 = "arn:aws:ecs:us-east-1:123456789012:task-definition/app:2"
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/app-ecs/1111111111111111"
TG_2 = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/app-ecs-2/2222222222222222"
CLUSTER_ARN = "arn:aws:ecs:us-east-1:123456789012:cluster/spill"
# The network and strategy of params() as ECS describes them, and as CreateService takes them.
NETWORK_CONFIGURATION = {
    "awsvpcConfiguration": {
        "subnets": ["subnet-a", "subnet-b"],
        "securityGroups": ["sg-1"],
        "assignPublicIp": "DISABLED",
    }
}
FARGATE_STRATEGY = [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}]


def params(**overrides) -> dict:
    base = {
        "cluster": "spill",
        "name": "app",
        "container_name": "app",
        "container_port": 8080,
        "subnets": ["subnet-b", "subnet-a"],
        "security_groups": ["sg-1"],
        "assign_public_ip": False,
        "standby_count": 0,
        "enforce_standby": False,
        "capacity_provider_strategy": [{"capacity_provider": "FARGATE", "weight": 1, "base": 0}],
        "health_check_grace_period": None,
        "deployment_circuit_breaker": {"enable": True, "rollback": True},
        "platform_version": None,
        "enable_execute_command": False,
        "propagate_tags": "NONE",
        "tags": {"application": "spill"},
        "purge_tags": True,
        "force_new_deployment": False,
    }
    base.update(overrides)
    return base


def aws_service(**overrides) -> dict:
    """A service as real ECS describes one created by the module with params()."""
    service = {
        "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/spill/app",
        "serviceName": "app",
        "clusterArn": CLUSTER_ARN,
        "status": "ACTIVE",
        "desiredCount": 0,
        "runningCount": 0,
        "pendingCount": 0,
        "taskDefinition": TASK_1,
        "loadBalancers": [{"targetGroupArn": TG, "containerName": "app", "containerPort": 8080}],
        # ECS returns subnets in its own order and spells the public IP setting out.
        "networkConfiguration": NETWORK_CONFIGURATION,
        "capacityProviderStrategy": FARGATE_STRATEGY,
        "platformVersion": "LATEST",
        "deploymentConfiguration": {
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
        },
        "deployments": [
            {"id": "ecs-svc/1", "status": "PRIMARY", "rolloutState": "COMPLETED", "taskDefinition": TASK_1}
        ],
        "events": [],
        "healthCheckGracePeriodSeconds": 0,
        "deploymentController": {"type": "ECS"},
        "enableExecuteCommand": False,
        "propagateTags": "NONE",
        "tags": [{"key": "application", "value": "spill"}],
    }
    service.update(overrides)
    return copy.deepcopy(service)  # the shared constants above stay as they are


def desired(**overrides) -> dict:
    return es.desired_definition(params(**overrides), TASK_1, TG)


def plan(service=None, **overrides) -> dict:
    merged = params(**overrides)
    return es.plan_changes(service, es.desired_definition(merged, merged.get("task_arn", TASK_1), TG), merged)


# ---------------------------------------------------------------------------------------------
# Normalisation and comparison
# ---------------------------------------------------------------------------------------------


def test_a_service_created_from_the_same_options_compares_equal():
    assert es.definition_changes(es.current_definition(aws_service()), desired()) == []


def test_what_ecs_fills_in_or_reorders_is_not_a_change():
    service = aws_service(
        networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-b", "subnet-a"], "securityGroups": ["sg-1"]}},
        capacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 3}, {"capacityProvider": "FARGATE"}],
    )
    # assignPublicIp missing means DISABLED; a missing base is 0.
    wanted = desired(
        capacity_provider_strategy=[
            {"capacity_provider": "FARGATE", "weight": 0, "base": 0},
            {"capacity_provider": "FARGATE_SPOT", "weight": 3, "base": 0},
        ]
    )
    assert es.definition_changes(es.current_definition(service), wanted) == []


def test_the_live_desired_count_is_not_part_of_the_definition():
    for count in (0, 1, 7, 50):
        current = es.current_definition(aws_service(desiredCount=count, runningCount=count))
        assert es.definition_changes(current, desired()) == []


def test_optional_settings_left_unset_are_not_managed():
    service = aws_service(healthCheckGracePeriodSeconds=90, platformVersion="1.4.0")
    current = es.current_definition(service)
    assert es.definition_changes(current, desired()) == []
    assert es.definition_changes(current, desired(health_check_grace_period=30)) == ["health_check_grace_period"]
    assert es.definition_changes(current, desired(platform_version="LATEST")) == ["platform_version"]
    # The diff's "after" shows the value kept, not None.
    resolved = es.resolved_definition(current, desired())
    assert resolved["health_check_grace_period"] == 90
    assert resolved["platform_version"] == "1.4.0"


@pytest.mark.parametrize(
    ("service_overrides", "param_overrides", "expected"),
    [
        ({"taskDefinition": TASK_2}, {}, ["task_definition"]),
        (
            {"loadBalancers": [{"targetGroupArn": TG_2, "containerName": "app", "containerPort": 8080}]},
            {},
            ["load_balancers"],
        ),
        ({}, {"container_port": 9090}, ["load_balancers"]),
        ({}, {"subnets": ["subnet-a"]}, ["subnets"]),
        ({}, {"security_groups": ["sg-1", "sg-2"]}, ["security_groups"]),
        ({}, {"assign_public_ip": True}, ["assign_public_ip"]),
        (
            {},
            {"capacity_provider_strategy": [{"capacity_provider": "FARGATE_SPOT", "weight": 1, "base": 0}]},
            ["capacity_provider_strategy"],
        ),
        ({}, {"deployment_circuit_breaker": {"enable": True, "rollback": False}}, ["deployment_circuit_breaker"]),
        ({"deploymentConfiguration": {}}, {}, ["deployment_circuit_breaker"]),
        ({}, {"enable_execute_command": True}, ["enable_execute_command"]),
        ({"propagateTags": "SERVICE"}, {}, ["propagate_tags"]),
        ({"propagateTags": None}, {"propagate_tags": "NONE"}, []),
    ],
)
def test_each_managed_setting_is_compared(service_overrides, param_overrides, expected):
    current = es.current_definition(aws_service(**service_overrides))
    assert es.definition_changes(current, desired(**param_overrides)) == expected


def test_a_launch_type_service_needs_the_switch_to_capacity_providers():
    service = aws_service(launchType="FARGATE", capacityProviderStrategy=[])
    current = es.current_definition(service)
    assert current["launch_type"] == "FARGATE"
    assert es.definition_changes(current, desired()) == ["capacity_provider_strategy", "launch_type"]


def test_a_launch_type_reported_beside_a_strategy_does_not_count():
    # ECS (and moto) may keep reporting launchType after a switch to capacity providers.
    current = es.current_definition(aws_service(launchType="EC2"))
    assert current["launch_type"] is None
    assert es.definition_changes(current, desired()) == []


# ---------------------------------------------------------------------------------------------
# Desired count: the scaler's
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("live", "standby", "enforce", "expected"),
    [
        (4, 1, False, (None, "kept")),
        (4, 1, True, (None, "kept")),
        (0, 2, False, (None, "kept")),
        (0, 2, True, (2, "raised")),
        (2, 2, True, (None, "kept")),
        (1, 0, True, (None, "kept")),
    ],
)
def test_desired_count_is_never_lowered_and_raised_only_on_request(live, standby, enforce, expected):
    assert es.plan_desired_count(live, standby, enforce) == expected


def test_plan_of_an_unchanged_service_writes_nothing_whatever_the_live_count():
    for count in (0, 3, 40):
        result = plan(aws_service(desiredCount=count), standby_count=1)
        assert result["changes"] == []
        assert result["update"] is None
        assert result["create"] is None
        assert result["tags_to_set"] == {}
        assert result["tags_to_remove"] == []
        assert result["before"] == result["after"]
        assert result["count_after"] == count


def test_plan_of_a_new_revision_rolls_without_touching_the_count():
    result = plan(aws_service(desiredCount=5), task_arn=TASK_2)
    assert result["changes"] == ["task_definition"]
    assert result["update"] == {"cluster": CLUSTER_ARN, "service": "app", "taskDefinition": TASK_2}
    assert result["count_after"] == 5
    assert result["before"]["task_definition"] == TASK_1
    assert result["after"]["task_definition"] == TASK_2


def test_plan_raises_the_count_to_the_standby_floor():
    result = plan(aws_service(desiredCount=0), standby_count=2, enforce_standby=True)
    assert result["changes"] == ["desired_count"]
    assert result["desired_count_action"] == "raised"
    assert result["update"] == {"cluster": CLUSTER_ARN, "service": "app", "desiredCount": 2}
    assert (result["before"]["desired_count"], result["after"]["desired_count"]) == (0, 2)


def test_plan_of_tags_adds_changes_and_purges():
    service = aws_service(tags=[{"key": "application", "value": "spill"}, {"key": "old", "value": "x"}])
    result = plan(service, tags={"application": "spill2", "new": "y"})
    assert result["changes"] == ["tags"]
    assert result["update"] is None
    assert result["tags_to_set"] == {"application": "spill2", "new": "y"}
    assert result["tags_to_remove"] == ["old"]
    assert result["after"]["tags"] == {"application": "spill2", "new": "y"}

    kept = plan(service, tags={"new": "y"}, purge_tags=False)
    assert kept["tags_to_remove"] == []
    assert kept["after"]["tags"] == {"application": "spill", "old": "x", "new": "y"}

    unmanaged = plan(service, tags=None)
    assert unmanaged["changes"] == []


def test_plan_of_a_new_service_creates_with_the_standby_count_and_every_setting():
    result = plan(None, standby_count=1, health_check_grace_period=30, platform_version="1.4.0")
    assert result["changes"] == ["created"]
    assert result["desired_count_action"] == "created"
    assert result["before"] == {}
    assert result["create"] == {
        "cluster": "spill",
        "serviceName": "app",
        "taskDefinition": TASK_1,
        "desiredCount": 1,
        "loadBalancers": [{"targetGroupArn": TG, "containerName": "app", "containerPort": 8080}],
        "networkConfiguration": NETWORK_CONFIGURATION,
        "capacityProviderStrategy": FARGATE_STRATEGY,
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
        "enableExecuteCommand": False,
        "propagateTags": "NONE",
        "schedulingStrategy": "REPLICA",
        "deploymentController": {"type": "ECS"},
        "healthCheckGracePeriodSeconds": 30,
        "platformVersion": "1.4.0",
        "tags": [{"key": "application", "value": "spill"}],
    }


def test_create_request_leaves_unset_optional_settings_to_ecs():
    request = plan(None, tags={})["create"]
    assert "healthCheckGracePeriodSeconds" not in request
    assert "platformVersion" not in request
    assert "tags" not in request


def test_update_request_carries_only_what_changed():
    service = aws_service()
    wanted = desired(subnets=["subnet-a"], assign_public_ip=True, health_check_grace_period=15)
    changes = es.definition_changes(es.current_definition(service), wanted)
    assert changes == ["subnets", "assign_public_ip", "health_check_grace_period"]
    assert es.update_request(service, wanted, changes) == {
        "cluster": CLUSTER_ARN,
        "service": "app",
        "networkConfiguration": {
            "awsvpcConfiguration": {"subnets": ["subnet-a"], "securityGroups": ["sg-1"], "assignPublicIp": "ENABLED"}
        },
        "healthCheckGracePeriodSeconds": 15,
    }


def test_a_strategy_change_forces_a_new_deployment():
    service = aws_service(launchType="FARGATE", capacityProviderStrategy=[])
    wanted = desired()
    request = es.update_request(service, wanted, es.definition_changes(es.current_definition(service), wanted))
    assert request["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}]
    assert request["forceNewDeployment"] is True
    assert "desiredCount" not in request


def test_a_circuit_breaker_change_keeps_the_rest_of_the_deployment_configuration():
    service = aws_service()
    service["deploymentConfiguration"]["minimumHealthyPercent"] = 50
    wanted = desired(deployment_circuit_breaker={"enable": False, "rollback": False})
    request = es.update_request(service, wanted, ["deployment_circuit_breaker"])
    assert request["deploymentConfiguration"] == {
        "deploymentCircuitBreaker": {"enable": False, "rollback": False},
        "maximumPercent": 200,
        "minimumHealthyPercent": 50,
    }
    # The service dict itself is not modified.
    assert service["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}


def test_force_new_deployment_alone_is_a_change():
    result = plan(aws_service(), force_new_deployment=True)
    assert result["changes"] == ["force_new_deployment"]
    assert result["update"] == {"cluster": CLUSTER_ARN, "service": "app", "forceNewDeployment": True}


def test_non_ecs_deployment_controllers_refuse_what_update_service_cannot_change():
    service = aws_service(deploymentController={"type": "CODE_DEPLOY"}, taskDefinition=TASK_2)
    with pytest.raises(SpilloverError, match="CODE_DEPLOY deployment controller, which cannot change task_def"):
        plan(service)
    # Tags and the desired count can still be changed.
    allowed = plan(aws_service(deploymentController={"type": "CODE_DEPLOY"}), tags={"a": "b"})
    assert allowed["changes"] == ["tags"]


# ---------------------------------------------------------------------------------------------
# Rejections
# ---------------------------------------------------------------------------------------------


def target_group(**overrides) -> dict:
    return {"TargetGroupName": "app-ecs", "TargetType": "ip", "LoadBalancerArns": ["arn:lb"], **overrides}


def task_definition(**overrides) -> dict:
    definition = {
        "taskDefinitionArn": TASK_1,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "compatibilities": ["EC2", "FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{"name": "app", "portMappings": [{"containerPort": 8080, "protocol": "tcp"}]}],
    }
    definition.update(overrides)
    return definition


def test_a_usable_target_group_and_task_definition_pass():
    es.check_target_group(target_group())
    es.check_task_definition(task_definition(), "app", 8080)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"TargetType": "instance"}, "target type 'instance'"),
        ({"TargetType": "lambda"}, "target type 'lambda'"),
        ({"LoadBalancerArns": []}, "not used by any load balancer listener"),
    ],
)
def test_target_group_rejections(overrides, message):
    with pytest.raises(SpilloverError, match=message):
        es.check_target_group(target_group(**overrides))


@pytest.mark.parametrize(
    ("overrides", "name", "port", "message"),
    [
        ({"networkMode": "bridge"}, "app", 8080, "network mode is 'bridge'"),
        ({"cpu": None}, "app", 8080, "no task-level cpu"),
        ({"memory": None}, "app", 8080, "no task-level memory"),
        ({"compatibilities": ["EC2"], "requiresCompatibilities": ["EC2"]}, "app", 8080, "not compatible with FARGATE"),
        ({}, "web", 8080, r"no container named 'web' \(its containers: app\)"),
        ({}, "app", 80, r"does not map port 80 \(its ports: 8080\)"),
        ({"containerDefinitions": [{"name": "app"}]}, "app", 8080, r"its ports: none"),
    ],
)
def test_task_definition_rejections(overrides, name, port, message):
    with pytest.raises(SpilloverError, match=message):
        es.check_task_definition(task_definition(**overrides), name, port)


def test_every_problem_of_a_task_definition_is_named_at_once():
    with pytest.raises(SpilloverError) as raised:
        es.check_task_definition(task_definition(networkMode="host", cpu=None), "web", 8080)
    assert "network mode is 'host'" in raised.value.message
    assert "no task-level cpu" in raised.value.message
    assert "no container named 'web'" in raised.value.message


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        ([], "must name FARGATE and/or FARGATE_SPOT"),
        ([{"capacity_provider": "FARGATE", "weight": 1, "base": 0}] * 2, "names a capacity provider twice"),
        ([{"capacity_provider": "FARGATE", "weight": 0, "base": 1}], "weight greater than 0"),
        (
            [
                {"capacity_provider": "FARGATE", "weight": 1, "base": 1},
                {"capacity_provider": "FARGATE_SPOT", "weight": 1, "base": 1},
            ],
            "base greater than 0 on one provider only",
        ),
    ],
)
def test_strategy_rejections(strategy, message):
    with pytest.raises(SpilloverError, match=message):
        es.check_strategy(es.normalise_strategy(strategy))


SPOT = {"capacity_provider": "FARGATE_SPOT", "weight": 1, "base": 0}
ON_DEMAND = {"capacity_provider": "FARGATE", "weight": 1, "base": 1}


@pytest.mark.parametrize("strategy", [[SPOT], [ON_DEMAND, SPOT], [ON_DEMAND, {**SPOT, "weight": 0}]])
def test_arm64_tasks_on_fargate_spot_are_refused_naming_the_options(strategy):
    arm = task_definition(runtimePlatform={"operatingSystemFamily": "LINUX", "cpuArchitecture": "ARM64"})
    with pytest.raises(SpilloverError) as caught:
        es.check_platform_strategy(arm, es.normalise_strategy(strategy))
    message = caught.value.message
    assert "runs on ARM64 (runtimePlatform.cpuArchitecture)" in message
    assert "does not run ARM64 Linux tasks on FARGATE_SPOT" in message
    assert "Name FARGATE only in capacity_provider_strategy, or use an X86_64 task definition" in message


@pytest.mark.parametrize(
    ("platform", "strategy"),
    [
        ({"cpuArchitecture": "ARM64"}, [ON_DEMAND]),
        ({"cpuArchitecture": "X86_64"}, [ON_DEMAND, SPOT]),
        (None, [SPOT]),  # no runtimePlatform: X86_64
    ],
    ids=["arm64-on-demand", "x86-spot", "default-spot"],
)
def test_other_platform_and_strategy_pairs_pass(platform, strategy):
    definition = task_definition(**({"runtimePlatform": platform} if platform else {}))
    es.check_platform_strategy(definition, es.normalise_strategy(strategy))


class RefusingEcs:
    """A task definition on ARM64 and no service: any call but the two reads is a write."""

    def __init__(self):
        self.calls = []

    def describe_task_definition(self, **kwargs):
        self.calls.append("DescribeTaskDefinition")
        arm = {"operatingSystemFamily": "LINUX", "cpuArchitecture": "ARM64"}
        return {"taskDefinition": task_definition(runtimePlatform=arm)}

    def __getattr__(self, name):
        def call(**kwargs):
            self.calls.append(name)
            raise AssertionError(f"{name} called after the refusal")

        return call


class ListenedTargetGroup:
    def describe_target_groups(self, **kwargs):
        return {"TargetGroups": [target_group(TargetGroupArn=TG)]}


def test_ensure_present_refuses_arm64_on_spot_before_any_write():
    ecs = RefusingEcs()
    request = params(task_definition=TASK_1, target_group=TG, capacity_provider_strategy=[ON_DEMAND, SPOT])
    with pytest.raises(SpilloverError, match="FARGATE_SPOT"):
        es.ensure_present(ecs, ListenedTargetGroup(), request, check_mode=False)
    assert ecs.calls == ["DescribeTaskDefinition"]


# ---------------------------------------------------------------------------------------------
# Waiting: rollout state and the timeout message
# ---------------------------------------------------------------------------------------------


def deployment(state, status="PRIMARY", reason=None):
    return {"status": status, "rolloutState": state, "rolloutStateReason": reason}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, "stable"),
        ({"desiredCount": 2, "runningCount": 1, "pendingCount": 1}, "in_progress"),
        ({"deployments": [deployment("IN_PROGRESS")]}, "in_progress"),
        ({"deployments": [deployment("COMPLETED"), deployment("COMPLETED", "ACTIVE")]}, "in_progress"),
        ({"deployments": [deployment("FAILED", reason="circuit breaker: rolled back")]}, "failed"),
        ({"deployments": [{"status": "PRIMARY"}], "desiredCount": 1, "runningCount": 1}, "stable"),
    ],
)
def test_deployment_status(overrides, expected):
    assert es.deployment_status(aws_service(**overrides))[0] == expected


def test_timeout_message_shows_counts_rollout_events_and_targets():
    service = aws_service(
        desiredCount=1,
        runningCount=0,
        pendingCount=1,
        deployments=[deployment("IN_PROGRESS", reason="ECS deployment ecs-svc/1 in progress.")],
        events=[{"message": f"event {index}"} for index in range(8)],
    )
    targets = [
        {"Target": {"Id": "10.0.1.5", "Port": 8080}, "TargetHealth": {"State": "healthy"}},
        {
            "Target": {"Id": "10.0.2.9", "Port": 8080},
            "TargetHealth": {"State": "unhealthy", "Reason": "Target.FailedHealthChecks"},
        },
    ]
    message = es.wait_failure_message("healthy (2 healthy targets)", 60, service, targets)
    assert message.startswith("Timed out after 60 s waiting for service app to be healthy (2 healthy targets)")
    assert "desired 1, running 0, pending 1; rollout in_progress (ECS deployment ecs-svc/1 in progress.)" in message
    assert "Recent events: event 0 | event 1 | event 2 | event 3 | event 4." in message
    assert "event 5" not in message
    assert "Targets: 10.0.1.5:8080 healthy, 10.0.2.9:8080 unhealthy (Target.FailedHealthChecks)." in message
    assert count_healthy(targets) == 1


def test_poll_delay_is_short_for_short_timeouts():
    assert es.poll_delay(600) == 5
    assert es.poll_delay(20) == 2
    assert es.poll_delay(2) == 1


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


def test_service_result_is_snake_case_with_tags_as_a_dict():
    service = aws_service(tags=[{"key": "CostCentre", "value": "42"}])
    result = es.service_result(service)
    assert result["desired_count"] == 0
    assert result["load_balancers"] == [{"target_group_arn": TG, "container_name": "app", "container_port": 8080}]
    assert result["capacity_provider_strategy"] == [{"capacity_provider": "FARGATE", "weight": 1, "base": 0}]
    assert result["tags"] == {"CostCentre": "42"}


def test_planned_service_overlays_the_plan_on_the_current_service():
    current = es.service_result(aws_service(desiredCount=3, runningCount=3))
    result = plan(aws_service(desiredCount=3, runningCount=3), task_arn=TASK_2, tags={"a": "b"})
    planned = es.planned_service(result["after"], copy.deepcopy(current))
    assert planned["service_arn"] == current["service_arn"]
    assert planned["task_definition"] == TASK_2
    assert planned["desired_count"] == 3
    assert planned["running_count"] == 3
    assert planned["tags"] == {"a": "b"}
    new = es.planned_service(plan(None, standby_count=1)["after"])
    assert (new["desired_count"], new["running_count"], new["pending_count"]) == (1, 0, 0)
    assert "service_arn" not in new


# ---------------------------------------------------------------------------------------------
# state=absent: the drain, with a fake ECS client (moto stops tasks at once, so it cannot show a slow drain)
# ---------------------------------------------------------------------------------------------


class FakeEcs:
    """Only what ensure_absent calls; tasks keep running ``drain_reads`` describe calls after the scale-in, and a
    deleted service stays DRAINING for ``draining_reads`` describe calls (then INACTIVE), as on ECS."""

    def __init__(self, service: dict | None, drain_reads: int, draining_reads: int = 0):
        self.service = service
        self.drain_reads = drain_reads
        self.draining_reads = draining_reads
        self.writes: list[tuple[str, dict]] = []

    def describe_services(self, **kwargs):
        if self.service is None:
            return {"services": [], "failures": [{"reason": "MISSING"}]}
        if self.service["status"] == "DRAINING":
            if self.draining_reads > 0:
                self.draining_reads -= 1
            else:
                self.service["status"] = "INACTIVE"
        if self.service["desiredCount"] == 0:
            if self.drain_reads > 0:
                self.drain_reads -= 1
            else:
                self.service.update(runningCount=0, pendingCount=0)
        return {"services": [copy.deepcopy(self.service)]}

    def update_service(self, aws_retry, **kwargs):
        self.writes.append(("UpdateService", kwargs))
        self.service["desiredCount"] = kwargs["desiredCount"]
        return {"service": copy.deepcopy(self.service)}

    def delete_service(self, aws_retry, **kwargs):
        self.writes.append(("DeleteService", kwargs))
        self.service["status"] = "DRAINING"
        return {"service": copy.deepcopy(self.service)}


def absent_params(wait_timeout: int) -> dict:
    return {"cluster": "spill", "name": "app", "wait_timeout": wait_timeout}


def test_absent_waits_for_the_drain_then_deletes_without_force(monkeypatch):
    monkeypatch.setattr(es.time, "sleep", lambda seconds: None)
    ecs = FakeEcs(aws_service(desiredCount=2, runningCount=2), drain_reads=2)
    changed, result, diff, warnings = es.ensure_absent(ecs, absent_params(600), check_mode=False)
    assert changed is True
    assert warnings == []
    assert ecs.writes == [
        ("UpdateService", {"cluster": "spill", "service": "app", "desiredCount": 0}),
        ("DeleteService", {"cluster": "spill", "service": "app", "force": False}),
    ]
    assert ecs.drain_reads == 0, "deleted before the tasks drained"
    assert diff["before"]["desired_count"] == 2
    assert result["service"]["status"] == "DRAINING"


def test_absent_deletes_with_force_and_warns_when_the_drain_times_out():
    ecs = FakeEcs(aws_service(desiredCount=1, runningCount=1), drain_reads=10**6)
    changed, _, _, warnings = es.ensure_absent(ecs, absent_params(0), check_mode=False)
    assert changed is True
    assert ecs.writes[-1] == ("DeleteService", {"cluster": "spill", "service": "app", "force": True})
    assert warnings == [
        "Service app still had 1 running and 0 pending tasks after 0 s; deleted it with force, ECS stops them."
    ]


def test_absent_waits_until_the_deleted_service_has_stopped_draining(monkeypatch):
    # ECS refuses to delete the cluster while the service drains: the module returns only once it is gone.
    monkeypatch.setattr(es.time, "sleep", lambda seconds: None)
    ecs = FakeEcs(aws_service(desiredCount=0, runningCount=0), drain_reads=0, draining_reads=3)
    assert es.ensure_absent(ecs, absent_params(600), check_mode=False)[0] is True
    assert ecs.draining_reads == 0 and ecs.service["status"] == "INACTIVE"


def test_a_service_still_draining_from_an_earlier_run_is_waited_for_with_no_write(monkeypatch):
    monkeypatch.setattr(es.time, "sleep", lambda seconds: None)
    ecs = FakeEcs(aws_service(status="DRAINING", desiredCount=0, runningCount=0), drain_reads=0, draining_reads=2)
    assert es.ensure_absent(ecs, absent_params(600), check_mode=False)[0] is False
    assert ecs.writes == [] and ecs.service["status"] == "INACTIVE"


def test_a_drain_that_outlasts_the_timeout_fails_with_what_to_do():
    ecs = FakeEcs(aws_service(desiredCount=0, runningCount=0), drain_reads=0, draining_reads=10**6)
    with pytest.raises(SpilloverError) as caught:
        es.ensure_absent(ecs, absent_params(0), check_mode=False)
    message = caught.value.message
    assert "still DRAINING after 0 s" in message and "ClusterContainsServicesException" in message
    assert "aws ecs describe-services --cluster spill --services app" in message


def test_absent_in_check_mode_and_when_gone_writes_nothing():
    ecs = FakeEcs(aws_service(desiredCount=1, runningCount=1), drain_reads=0)
    assert es.ensure_absent(ecs, absent_params(10), check_mode=True)[0] is True
    gone = FakeEcs(None, drain_reads=0)
    assert es.ensure_absent(gone, absent_params(10), check_mode=False)[0] is False
    assert ecs.writes == gone.writes == []
