"""spillover.lambda_ecs.ecs_spillover_service against the local AWS (moto server).

Every module run goes through the recording proxy, so "no write call" is asserted from what reached AWS. The
stack (VPC, ALB, target groups, cluster, task definitions) is built directly with boto3, which the proxy does
not record; boto3 also plays the scaler, which sets the live desired count of the service.

What moto 5.2.5 does not model, and how these tests deal with it:
- CreateService drops capacityProviderStrategy, deploymentConfiguration, healthCheckGracePeriodSeconds and
  enableExecuteCommand (real ECS stores them). The module re-reads a service it created and stores what was
  dropped with one UpdateService, so on moto a create writes CreateService + UpdateService (``CREATE_WRITES``);
  on ECS the re-read finds nothing to do. The unit tests check that the CreateService request carries them.
- No task ever starts, and registered ``ip`` targets are ``healthy`` at once: ``wait: healthy`` is tested by
  registering targets ourselves (faking task start + target health), and its timeout by registering none.
- UpdateService with a new task definition does not start a new deployment in moto (it only records the task
  definition); forceNewDeployment gives the deployment a new id, which is what the tests check for a forced one.
- Service events are always empty in moto, so a timeout message shows "Recent events: none".
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lab import builder
from tests.support.ansible_run import run_module, run_module_each
from tests.support.local_aws import REGION

pytestmark = pytest.mark.integration

CLUSTER = "spill"
SERVICE = "spill-app"
ECS_TG = "spill-ecs"
TASKS_GROUP = "tasks"


@dataclass
class EcsStack:
    ecs: object
    elbv2: object
    where: builder.Network
    target_groups: dict[str, str]
    task_definitions: dict[str, str]

    @property
    def subnets(self) -> list[str]:
        return self.where.subnet_ids

    @property
    def security_group(self) -> str:
        return self.where.security_groups[TASKS_GROUP]

    def service(self, name: str = SERVICE) -> dict | None:
        services = self.ecs.describe_services(cluster=CLUSTER, services=[name], include=["TAGS"])["services"]
        return services[0] if services and services[0]["status"] != "INACTIVE" else None

    def scale(self, count: int) -> None:
        """What the scaler does: set the live desired count."""
        self.ecs.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=count)

    def create_service_elsewhere(self, desired_count: int, **settings) -> None:
        """The service as another tool (for example community.aws.ecs_service) would have created it."""
        builder.service(
            self.ecs,
            CLUSTER,
            SERVICE,
            self.task_definitions["app:1"],
            self.where,
            TASKS_GROUP,
            self.target_groups[ECS_TG],
            desired_count,
            **settings,
        )


def build_ecs_stack(aws_client) -> EcsStack:
    ec2, elbv2, ecs = aws_client("ec2"), aws_client("elbv2"), aws_client("ecs")
    where = builder.network(ec2, REGION, "10.0.0.0/16", (TASKS_GROUP,))
    load_balancer = builder.load_balancer(elbv2, "spill-alb", where, TASKS_GROUP)
    target_groups = {
        ECS_TG: builder.ip_target_group(elbv2, ECS_TG, where.vpc_id),
        "spill-ecs-2": builder.ip_target_group(elbv2, "spill-ecs-2", where.vpc_id),
        "unattached": builder.ip_target_group(elbv2, "unattached", where.vpc_id),
        "spill-lambda": builder.lambda_target_group(elbv2, "spill-lambda"),
    }
    weights = {target_groups["spill-lambda"]: 1, target_groups[ECS_TG]: 0, target_groups["spill-ecs-2"]: 0}
    builder.weighted_listener(elbv2, load_balancer, weights)
    builder.cluster(ecs, CLUSTER, capacity_providers=["FARGATE", "FARGATE_SPOT"])
    single_container = [{"name": "app", "image": "app:v1", "memory": 512, "portMappings": [{"containerPort": 8080}]}]
    task_definitions = {
        "app:1": builder.task_definition(ecs, "app", "app:v1"),
        "app:2": builder.task_definition(ecs, "app", "app:v2"),
        "bridge": builder.task_definition(
            ecs, "bridge", "app:v1", networkMode="bridge", requiresCompatibilities=["EC2"]
        ),
        "no-cpu": builder.task_definition(
            ecs, "no-cpu", "app:v1", cpu=None, memory=None, containerDefinitions=single_container
        ),
    }
    return EcsStack(ecs, elbv2, where, target_groups, task_definitions)


@pytest.fixture
def stack(aws_client) -> EcsStack:
    return build_ecs_stack(aws_client)


def service_args(stack: EcsStack, **overrides) -> dict:
    return {
        "cluster": CLUSTER,
        "name": SERVICE,
        "task_definition": "app:1",
        "target_group": ECS_TG,
        "container_name": "app",
        "container_port": 8080,
        "subnets": stack.subnets,
        "security_groups": [stack.security_group],
        "standby_count": 0,
        "tags": {"application": "spill", "team": "web"},
        **overrides,
    }


def run(recorder, args: dict, **kwargs) -> dict:
    recorder.reset()
    return run_module("ecs_spillover_service", args, endpoint=recorder.endpoint, **kwargs)


def run_each(recorder, runs: list[dict]) -> list[dict]:
    """Run the module once per argument dict, in one ansible-playbook (a loop), and return each result."""
    recorder.reset()
    return run_module_each("ecs_spillover_service", runs, endpoint=recorder.endpoint)


def writes(recorder) -> list[str]:
    return [call.operation for call in recorder.writes]


# What a create writes on moto: the follow-up UpdateService stores the settings moto dropped (see the top).
CREATE_WRITES = ["CreateService", "UpdateService"]


def create(stack: EcsStack, recorder, args: dict) -> dict:
    created = run(recorder, args)
    assert created["changed"] is True, created
    return created


def test_create_rerun_and_the_scalers_desired_count(stack, recorder):
    args = service_args(stack)

    checked = run(recorder, args, check=True, diff=True)
    assert checked["changed"] is True, checked
    assert writes(recorder) == []
    assert stack.service() is None
    assert checked["diff"]["before"] == {}
    assert checked["diff"]["after"]["task_definition"] == stack.task_definitions["app:1"]
    assert checked["diff"]["after"]["desired_count"] == 0
    assert checked["service"]["desired_count"] == 0
    assert checked["desired_count_action"] == "created"

    created = create(stack, recorder, args)
    assert writes(recorder) == CREATE_WRITES
    assert created["desired_count_action"] == "created"
    live = stack.service()
    assert live["desiredCount"] == 0
    assert live["taskDefinition"] == stack.task_definitions["app:1"]
    assert live["loadBalancers"] == [
        {"targetGroupArn": stack.target_groups[ECS_TG], "containerName": "app", "containerPort": 8080}
    ]
    network = live["networkConfiguration"]["awsvpcConfiguration"]
    assert sorted(network["subnets"]) == sorted(stack.subnets)
    assert network["securityGroups"] == [stack.security_group]
    assert network["assignPublicIp"] == "DISABLED"
    assert {tag["key"]: tag["value"] for tag in live["tags"]} == {"application": "spill", "team": "web"}
    assert created["service"]["service_arn"] == live["serviceArn"]
    assert created["service"]["tags"] == {"application": "spill", "team": "web"}
    assert created["service"]["load_balancers"][0]["target_group_arn"] == stack.target_groups[ECS_TG]
    assert created["healthy_targets"] == 0

    # With no task to start (standby 0) the first deployment is complete at once, also in moto.
    again = run(recorder, {**args, "wait": "stable", "wait_timeout": 30})
    assert again.get("failed") is not True, again
    assert again["changed"] is False, again
    assert recorder.calls, "the re-run made no AWS call at all"
    assert writes(recorder) == []
    assert again["changes"] == []
    assert again["desired_count_action"] == "kept"

    # The scaler scales out during a burst; a re-run of the site playbook must not undo it.
    stack.scale(4)
    during_burst = run(recorder, {**args, "standby_count": 1, "enforce_standby": True}, diff=True)
    assert during_burst["changed"] is False, during_burst
    assert writes(recorder) == []
    assert during_burst["desired_count_action"] == "kept"
    assert during_burst["service"]["desired_count"] == 4
    assert during_burst["diff"]["before"] == during_burst["diff"]["after"]
    assert stack.service()["desiredCount"] == 4

    # After the burst the scaler went to 0; enforce_standby raises the count to the floor (check mode first).
    stack.scale(0)
    raise_args = {**args, "standby_count": 2, "enforce_standby": True}
    checked = run(recorder, raise_args, check=True, diff=True)
    assert checked["changed"] is True, checked
    assert writes(recorder) == []
    assert checked["diff"]["before"]["desired_count"] == 0
    assert checked["diff"]["after"]["desired_count"] == 2
    assert stack.service()["desiredCount"] == 0

    raised = run(recorder, raise_args)
    assert raised["changed"] is True, raised
    assert writes(recorder) == ["UpdateService"]
    assert raised["desired_count_action"] == "raised"
    assert raised["changes"] == ["desired_count"]
    assert stack.service()["desiredCount"] == 2

    # Without enforce_standby a lower live count is left alone too.
    stack.scale(0)
    kept = run(recorder, {**args, "standby_count": 2})
    assert kept["changed"] is False, kept
    assert writes(recorder) == []
    assert stack.service()["desiredCount"] == 0


def test_new_revision_and_tags_change_in_place_keeping_the_count(stack, recorder):
    args = service_args(stack)
    create(stack, recorder, args)
    stack.scale(3)
    deployment_before = stack.service()["deployments"][0]["id"]

    update = {**args, "task_definition": "app:2", "tags": {"application": "spill", "owner": "ops"}}
    checked = run(recorder, update, check=True, diff=True)
    assert checked["changed"] is True, checked
    assert writes(recorder) == []
    assert checked["changes"] == ["task_definition", "tags"]
    assert checked["diff"]["before"]["task_definition"] == stack.task_definitions["app:1"]
    assert checked["diff"]["after"]["task_definition"] == stack.task_definitions["app:2"]
    assert checked["diff"]["before"]["tags"] == {"application": "spill", "team": "web"}
    assert checked["diff"]["after"]["tags"] == {"application": "spill", "owner": "ops"}
    assert checked["diff"]["before"]["desired_count"] == checked["diff"]["after"]["desired_count"] == 3
    assert stack.service()["taskDefinition"] == stack.task_definitions["app:1"]

    updated = run(recorder, update)
    assert updated["changed"] is True, updated
    assert writes(recorder) == ["UpdateService", "UntagResource", "TagResource"]
    live = stack.service()
    assert live["taskDefinition"] == stack.task_definitions["app:2"]
    assert live["desiredCount"] == 3
    assert {tag["key"]: tag["value"] for tag in live["tags"]} == {"application": "spill", "owner": "ops"}
    assert updated["service"]["task_definition"] == stack.task_definitions["app:2"]
    # A plain revision change needs no forced deployment (moto starts none either; see the module docstring).
    assert live["deployments"][0]["id"] == deployment_before

    # The same revision named by ARN is the same definition; purge_tags=false only adds; a family alone means its
    # latest ACTIVE revision, which the service already runs.
    same, latest = run_each(
        recorder,
        [
            {**update, "task_definition": stack.task_definitions["app:2"], "tags": {}, "purge_tags": False},
            {**update, "task_definition": "app"},
        ],
    )
    assert same["changed"] is False, same
    assert latest["changed"] is False, latest
    assert writes(recorder) == []


def test_in_place_updates_of_capacity_network_and_deployment_settings(stack, recorder):
    args = service_args(stack)
    create(stack, recorder, args)
    # ECS fills in the deployment percentages of a new service; moto does not: store ECS's defaults, so the test
    # can show that the module keeps settings it does not own.
    current = stack.service()["deploymentConfiguration"]
    stack.ecs.update_service(
        cluster=CLUSTER,
        service=SERVICE,
        deploymentConfiguration={**current, "maximumPercent": 200, "minimumHealthyPercent": 100},
    )
    deployment_before = stack.service()["deployments"][0]["id"]

    update = {
        **args,
        "capacity_provider_strategy": [
            {"capacity_provider": "FARGATE", "weight": 1, "base": 1},
            {"capacity_provider": "FARGATE_SPOT", "weight": 3},
        ],
        "target_group": stack.target_groups["spill-ecs-2"],
        "assign_public_ip": True,
        "subnets": stack.subnets[:1],
        "health_check_grace_period": 45,
        "deployment_circuit_breaker": {"enable": True, "rollback": False},
        "enable_execute_command": True,
        "propagate_tags": "SERVICE",
        "platform_version": "1.4.0",
    }
    updated = run(recorder, update, diff=True)
    assert updated["changed"] is True, updated
    assert writes(recorder) == ["UpdateService"]
    assert set(updated["changes"]) == {
        "capacity_provider_strategy",
        "load_balancers",
        "subnets",
        "assign_public_ip",
        "health_check_grace_period",
        "deployment_circuit_breaker",
        "platform_version",
        "enable_execute_command",
        "propagate_tags",
    }
    live = stack.service()
    assert live["capacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
        {"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 0},
    ]
    assert live["loadBalancers"][0]["targetGroupArn"] == stack.target_groups["spill-ecs-2"]
    assert live["networkConfiguration"]["awsvpcConfiguration"] == {
        "subnets": stack.subnets[:1],
        "securityGroups": [stack.security_group],
        "assignPublicIp": "ENABLED",
    }
    assert live["healthCheckGracePeriodSeconds"] == 45
    # The rest of the deployment configuration is kept as it was.
    assert live["deploymentConfiguration"] == {
        "deploymentCircuitBreaker": {"enable": True, "rollback": False},
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
    }
    assert live["enableExecuteCommand"] is True
    assert live["propagateTags"] == "SERVICE"
    assert live["platformVersion"] == "1.4.0"
    # ECS needs a new deployment for a capacity provider change: the module forces one.
    assert live["deployments"][0]["id"] != deployment_before
    assert live["desiredCount"] == 0

    again = run(recorder, update)
    assert again["changed"] is False, again
    assert writes(recorder) == []

    forced = run(recorder, {**update, "force_new_deployment": True})
    assert forced["changed"] is True, forced
    assert writes(recorder) == ["UpdateService"]


def test_a_launch_type_service_switches_to_capacity_providers_in_place(stack, recorder):
    # A service created elsewhere (for example by community.aws.ecs_service) with launch type FARGATE.
    stack.create_service_elsewhere(2)
    deployment_before = stack.service()["deployments"][0]["id"]
    args = service_args(stack, tags=None, deployment_circuit_breaker={"enable": False, "rollback": False})

    switched = run(recorder, args, diff=True)
    assert switched["changed"] is True, switched
    assert writes(recorder) == ["UpdateService"]
    assert set(switched["changes"]) == {"capacity_provider_strategy", "launch_type"}
    assert switched["diff"]["before"]["launch_type"] == "FARGATE"
    assert switched["diff"]["after"]["launch_type"] is None
    live = stack.service()
    assert live["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}]
    assert live["deployments"][0]["id"] != deployment_before
    assert live["desiredCount"] == 2

    again = run(recorder, args)
    assert again["changed"] is False, again
    assert writes(recorder) == []


def test_a_codedeploy_service_is_refused_rather_than_recreated(stack, recorder):
    stack.create_service_elsewhere(1, launch_type=None, deploymentController={"type": "CODE_DEPLOY"})
    before = stack.service()
    refused = run(recorder, service_args(stack, task_definition="app:2"))
    assert refused.get("failed") is True, refused
    assert "CODE_DEPLOY deployment controller" in refused["msg"]
    assert "task_definition" in refused["msg"]
    assert "state=absent" in refused["msg"]
    assert writes(recorder) == []
    assert stack.service()["taskDefinition"] == before["taskDefinition"]


REJECTIONS = [
    ({"target_group": "missing-tg"}, "Target group missing-tg does not exist"),
    ({"target_group": "spill-lambda"}, "has target type 'lambda'"),
    ({"target_group": "unattached"}, "is not used by any load balancer listener"),
    ({"container_name": "web"}, "no container named 'web' (its containers: app)"),
    ({"container_port": 80}, "does not map port 80 (its ports: 8080)"),
    ({"subnets": []}, "subnets is empty"),
    ({"task_definition": "bridge:1"}, "its network mode is 'bridge', Fargate needs 'awsvpc'"),
    ({"task_definition": "no-cpu:1"}, "it has no task-level cpu"),
    ({"task_definition": "app:9"}, "Task definition app:9 does not exist"),
    ({"cluster": "missing-cluster"}, "Cluster missing-cluster does not exist"),
    (
        {"capacity_provider_strategy": [{"capacity_provider": "FARGATE", "weight": 0}]},
        "needs a weight greater than 0",
    ),
    ({"standby_count": 0, "wait": "healthy"}, "wait=healthy needs 1 healthy targets but the service's desired count"),
]


def test_rejections_write_nothing(stack, recorder):
    results = run_each(recorder, [service_args(stack, **overrides) for overrides, _ in REJECTIONS])
    assert len(results) == len(REJECTIONS)
    for (overrides, message), refused in zip(REJECTIONS, results, strict=True):
        assert refused.get("failed") is True, (overrides, refused)
        assert message in refused["msg"], (overrides, refused["msg"])
    assert recorder.calls, "the module made no AWS call at all"
    assert writes(recorder) == [], recorder.summary()
    assert stack.service() is None


def test_wait_healthy_and_stable(stack, recorder):
    args = service_args(stack, standby_count=1)
    # moto starts no task and never registers one: no target shows up, and the wait times out with why.
    timed_out = run(recorder, {**args, "wait": "healthy", "wait_timeout": 2})
    assert timed_out.get("failed") is True, timed_out
    assert writes(recorder) == CREATE_WRITES
    assert "Timed out after 2 s waiting for service spill-app to be healthy (1 healthy targets)" in timed_out["msg"]
    assert "desired 1, running 0, pending 1" in timed_out["msg"]
    assert "Targets: none registered" in timed_out["msg"]
    assert timed_out["targets"] == []

    # Fake what ECS and the ALB would do once the standby task starts: register its IP (moto marks it healthy).
    stack.elbv2.register_targets(TargetGroupArn=stack.target_groups[ECS_TG], Targets=[{"Id": "10.0.1.10"}])
    healthy = run(recorder, {**args, "wait": "healthy", "wait_timeout": 30})
    assert healthy.get("failed") is not True, healthy
    assert healthy["changed"] is False
    assert healthy["healthy_targets"] == 1
    assert writes(recorder) == []

    # Two targets asked, one there: the timeout message lists the target states.
    short = run(
        recorder,
        {
            **args,
            "standby_count": 2,
            "enforce_standby": True,
            "wait": "healthy",
            "wait_min_healthy": 2,
            "wait_timeout": 2,
        },
    )
    assert short.get("failed") is True, short
    assert "Targets: 10.0.1.10:8080 healthy" in short["msg"]
    assert short["targets"] == ["10.0.1.10:8080 healthy"]

    # moto never completes the first deployment of a service created with a standby task (no task starts), even
    # though it reports running = desired after the UpdateService above: the rollout state keeps it unstable.
    unstable = run(recorder, {**args, "wait": "stable", "wait_timeout": 2})
    assert unstable.get("failed") is True, unstable
    assert "to be stable: desired 2, running 2, pending 0; rollout in_progress (ECS deployment" in unstable["msg"]


def test_absent_scales_to_zero_drains_and_deletes_once(stack, recorder):
    args = service_args(stack)
    create(stack, recorder, args)
    stack.scale(2)
    absent = {"cluster": CLUSTER, "name": SERVICE, "state": "absent", "wait_timeout": 10}

    checked = run(recorder, absent, check=True, diff=True)
    assert checked["changed"] is True, checked
    assert writes(recorder) == []
    assert checked["diff"]["before"]["desired_count"] == 2
    assert checked["diff"]["after"] == {}
    assert stack.service()["desiredCount"] == 2

    deleted = run(recorder, absent)
    assert deleted["changed"] is True, deleted
    assert writes(recorder) == ["UpdateService", "DeleteService"]
    assert deleted["service"]["status"] in ("DRAINING", "INACTIVE")
    assert deleted.get("warnings") is None
    assert stack.service() is None

    again, gone_cluster = run_each(recorder, [absent, {**absent, "cluster": "missing-cluster"}])
    assert again["changed"] is False, again
    assert gone_cluster["changed"] is False, gone_cluster
    assert gone_cluster.get("failed") is not True, gone_cluster
    assert writes(recorder) == []

    # A deleted service can be created again with the same name.
    recreated = run(recorder, args)
    assert recreated["changed"] is True, recreated
    assert writes(recorder) == CREATE_WRITES
