"""The ecs_service role against the local AWS: applied twice (no change on the second run), absent twice."""

from __future__ import annotations

import json

import pytest

from lab import builder
from tests.support.ansible_run import run_playbook
from tests.support.infra_roles import PLAYBOOK, apply_role

pytestmark = pytest.mark.integration

STACK = "ecsstack"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ecsstack-app@sha256:" + "ab" * 32


def listen_on(elbv2, where: builder.Network, target_group_arn: str) -> None:
    """What the alb role does between the two parts: a listener forwarding to the ECS target group."""
    balancer = builder.load_balancer(elbv2, STACK, where, "tasks")
    builder.weighted_listener(elbv2, balancer, {target_group_arn: 1})


def test_ecs_side_converges_then_goes_away_twice(local_aws, aws_client):
    ecs, elbv2, iam, logs = (aws_client(name) for name in ("ecs", "elbv2", "iam", "logs"))
    where = builder.network(aws_client("ec2"), "us-east-1", "10.50.0.0/16")
    vpc, subnets, group = where.vpc_id, where.subnet_ids, where.security_groups["tasks"]
    role_vars = {
        "ecs_service_stack_name": STACK,
        "ecs_service_image_uri": IMAGE,
        "ecs_service_vpc_id": vpc,
        "ecs_service_subnet_ids": subnets,
        "ecs_service_security_group_ids": [group],
        "ecs_service_environment": {"LOG_LEVEL": "info"},
    }

    # A stack deployed before the confused-deputy guard: its role trusts ECS tasks of any account. The run gives it
    # the guarded trust policy once (the second run below changes nothing).
    unguarded = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.create_role(RoleName=f"{STACK}-app-task-exec", AssumeRolePolicyDocument=json.dumps(unguarded))

    # As site.yml runs it: the main entry point before the ALB, the service entry point once a listener uses the
    # target group.
    both = {**role_vars, "infra_entry_points": ["main", "service"]}
    base = apply_role("ecs_service", local_aws.endpoint, role_vars)
    assert base.changed > 0
    assert ecs.list_services(cluster=STACK)["serviceArns"] == []
    listen_on(elbv2, where, base.facts["ecs_service__target_group_arn"])
    first = apply_role("ecs_service", local_aws.endpoint, {**role_vars, "infra_entry_points": ["service"]})
    assert first.changed > 0
    facts = {**base.facts, **first.facts}
    assert facts["ecs_service__cluster_name"] == STACK
    assert facts["ecs_service__service_name"] == f"{STACK}-app"

    [cluster] = ecs.describe_clusters(clusters=[STACK], include=["TAGS"])["clusters"]
    assert cluster["clusterArn"] == facts["ecs_service__cluster_arn"]
    assert sorted(cluster["capacityProviders"]) == ["FARGATE", "FARGATE_SPOT"]

    # ECS's service-linked role, which a fresh account lacks, exists (the account's: teardown leaves it).
    [linked] = iam.list_roles(PathPrefix="/aws-service-role/ecs.amazonaws.com/")["Roles"]
    assert linked["Arn"].startswith("arn:aws:iam::123456789012:role/aws-service-role/ecs.amazonaws.com/")

    definition = ecs.describe_task_definition(taskDefinition=f"{STACK}-app")["taskDefinition"]
    assert definition["taskDefinitionArn"] == facts["ecs_service__task_definition_arn"]
    # The image's platform (linux/amd64 by default, ecr_push's too): Fargate runs the task on it.
    assert definition["runtimePlatform"] == {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"}
    assert (definition["networkMode"], definition["cpu"], definition["memory"]) == ("awsvpc", "256", "512")
    assert definition["requiresCompatibilities"] == ["FARGATE"]
    [container] = definition["containerDefinitions"]
    assert (container["name"], container["image"]) == ("app", IMAGE)
    assert [m["containerPort"] for m in container["portMappings"]] == [8080]
    # The server keeps idle connections 5 s longer than the load balancer (alb_idle_timeout, 900 by default).
    assert {e["name"]: e["value"] for e in container["environment"]} == {
        "PORT": "8080",
        "LOG_LEVEL": "info",
        "SERVER_KEEPALIVE": "905",
    }
    # awslogs in non-blocking mode: a slow delivery drops lines from a 25m buffer instead of stalling the app.
    assert container["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": f"/ecs/{STACK}-app",
            "awslogs-region": "us-east-1",
            "awslogs-stream-prefix": "app",
            "mode": "non-blocking",
            "max-buffer-size": "25m",
        },
    }
    assert container["stopTimeout"] == 30
    # A read-only root file system (ECS.5); /tmp is the task's bind-mount volume without a host path (Fargate's
    # ephemeral storage), the one place the server and the app write.
    assert container["readonlyRootFilesystem"] is True
    assert container["mountPoints"] == [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}]
    assert [volume["name"] for volume in definition["volumes"]] == ["tmp"]
    assert all(not volume.get("host", {}).get("sourcePath") for volume in definition["volumes"])

    role = iam.get_role(RoleName=f"{STACK}-app-task-exec")["Role"]
    assert definition["executionRoleArn"] == role["Arn"]
    trust = role["AssumeRolePolicyDocument"]
    assert [s["Principal"]["Service"] for s in trust["Statement"]] == ["ecs-tasks.amazonaws.com"]
    assert trust["Statement"][0]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
    }
    policy = iam.get_role_policy(RoleName=role["RoleName"], PolicyName=role["RoleName"])["PolicyDocument"]
    policy = json.loads(policy) if isinstance(policy, str) else policy
    pull = next(s for s in policy["Statement"] if s["Sid"] == "PullFromOwnRepository")
    assert pull["Resource"] == f"arn:aws:ecr:us-east-1:123456789012:repository/{STACK}-app"
    [group_found] = logs.describe_log_groups(logGroupNamePrefix=f"/ecs/{STACK}-app")["logGroups"]
    assert group_found["retentionInDays"] == 14

    [target_group] = elbv2.describe_target_groups(Names=[f"{STACK}-ecs"])["TargetGroups"]
    assert target_group["TargetGroupArn"] == facts["ecs_service__target_group_arn"]
    assert (target_group["TargetType"], target_group["Port"], target_group["VpcId"]) == ("ip", 8080, vpc)
    assert target_group["HealthCheckPath"] == "/health"
    assert (target_group["HealthCheckIntervalSeconds"], target_group["HealthyThresholdCount"]) == (5, 2)
    attributes = elbv2.describe_target_group_attributes(TargetGroupArn=target_group["TargetGroupArn"])["Attributes"]
    assert {a["Key"]: a["Value"] for a in attributes}["deregistration_delay.timeout_seconds"] == "30"

    [service] = ecs.describe_services(cluster=STACK, services=[f"{STACK}-app"])["services"]
    assert service["serviceArn"] == facts["ecs_service__service_arn"]
    assert service["desiredCount"] == 0
    assert service["taskDefinition"] == definition["taskDefinitionArn"]
    assert [lb["targetGroupArn"] for lb in service["loadBalancers"]] == [target_group["TargetGroupArn"]]
    awsvpc = service["networkConfiguration"]["awsvpcConfiguration"]
    assert sorted(awsvpc["subnets"]) == sorted(subnets) and awsvpc["securityGroups"] == [group]
    # A new task's failing health checks are ignored for interval x healthy threshold + start time (5 x 2 + 30 s).
    assert service["healthCheckGracePeriodSeconds"] == 40

    # The scaler's move: it owns the desired count, a re-run keeps it. (What moto's CreateService drops, the module
    # itself stores right after the create, so nothing is faked here.)
    ecs.update_service(cluster=STACK, service=f"{STACK}-app", desiredCount=3)
    second = apply_role("ecs_service", local_aws.endpoint, both)
    assert second.changed == 0, second.output[-4000:]
    assert second.facts == facts
    assert apply_role("ecs_service", local_aws.endpoint, both, check=True).changed == 0
    assert ecs.describe_services(cluster=STACK, services=[f"{STACK}-app"])["services"][0]["desiredCount"] == 3

    # teardown.yml removes the ALB first.
    [balancer] = elbv2.describe_load_balancers(Names=[STACK])["LoadBalancers"]
    elbv2.delete_load_balancer(LoadBalancerArn=balancer["LoadBalancerArn"])
    absent = {"ecs_service_stack_name": STACK, "ecs_service_state": "absent"}
    assert apply_role("ecs_service", local_aws.endpoint, absent).changed > 0
    services = ecs.describe_services(cluster=STACK, services=[f"{STACK}-app"])["services"]
    assert all(s["status"] == "INACTIVE" for s in services)
    assert [c["status"] for c in ecs.describe_clusters(clusters=[STACK])["clusters"]] in ([], ["INACTIVE"])
    assert ecs.list_task_definitions(familyPrefix=f"{STACK}-app", status="ACTIVE")["taskDefinitionArns"] == []
    assert elbv2.describe_target_groups()["TargetGroups"] == []
    assert [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(STACK)] == []
    assert logs.describe_log_groups(logGroupNamePrefix=f"/ecs/{STACK}-app")["logGroups"] == []
    assert apply_role("ecs_service", local_aws.endpoint, absent).changed == 0
    assert [r["RoleName"] for r in iam.list_roles(PathPrefix="/aws-service-role/ecs.amazonaws.com/")["Roles"]] == [
        linked["RoleName"]
    ]


def test_blocking_logs_and_a_writable_root_are_a_new_revision_kept_by_a_rerun(local_aws, recorder, aws_client):
    """The opt-outs: blocking mode sends no buffer size, a writable root keeps the /tmp volume; each change registers
    one new revision, and a re-run finds it again (ecs_taskdefinition's comparison) and writes nothing."""
    ecs = aws_client("ecs")
    where = builder.network(aws_client("ec2"), "us-east-1", "10.50.0.0/16")
    role_vars = {"ecs_service_stack_name": STACK, "ecs_service_image_uri": IMAGE, "ecs_service_vpc_id": where.vpc_id}
    apply_role("ecs_service", local_aws.endpoint, role_vars)
    opted_out = {**role_vars, "ecs_service_log_mode": "blocking", "ecs_service_readonly_root_filesystem": False}
    assert apply_role("ecs_service", local_aws.endpoint, opted_out).changed == 1

    definition = ecs.describe_task_definition(taskDefinition=f"{STACK}-app")["taskDefinition"]
    assert definition["revision"] == 2
    [container] = definition["containerDefinitions"]
    options = container["logConfiguration"]["options"]
    assert options["mode"] == "blocking" and "max-buffer-size" not in options
    assert container.get("readonlyRootFilesystem") is False
    assert container["mountPoints"] == [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}]

    recorder.reset()
    assert apply_role("ecs_service", recorder.endpoint, opted_out).changed == 0
    assert apply_role("ecs_service", recorder.endpoint, opted_out, check=True).changed == 0
    assert recorder.writes == [], recorder.writes


def test_the_tasks_log_group_is_created_encrypted_with_the_key_named(local_aws, recorder, aws_client):
    # The local AWS keeps a key given at creation but has no AssociateKmsKey (tests/unit/plugins/modules covers it).
    logs, kms = aws_client("logs"), aws_client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    where = builder.network(aws_client("ec2"), "us-east-1", "10.50.0.0/16")
    role_vars = {
        "ecs_service_stack_name": STACK,
        "ecs_service_image_uri": IMAGE,
        "ecs_service_vpc_id": where.vpc_id,
        "ecs_service_log_kms_key_arn": key,
    }
    apply_role("ecs_service", local_aws.endpoint, role_vars)
    [group] = logs.describe_log_groups(logGroupNamePrefix=f"/ecs/{STACK}-app")["logGroups"]
    assert group["kmsKeyId"] == key
    recorder.reset()
    assert apply_role("ecs_service", recorder.endpoint, role_vars).changed == 0
    assert recorder.writes == [], recorder.writes


def aws_error(code: str, message: str) -> dict:
    """ECS's JSON error body."""
    return {"__type": code, "message": message}


UNASSUMABLE = "Unable to assume the service linked role. Please verify that the ECS service linked role exists."
DRAINING = "The Cluster cannot be deleted while Services are active."
FAST = {"ecs_service__retry_delay": 1}  # the role's retry delay (10 s), shortened for the test


def test_a_new_linked_role_is_waited_for(local_aws, recorder, aws_client):
    """What AWS answers on a fresh account (the local AWS does not): ECS cannot assume its service-linked role for a
    moment after it was created. The role retries the cluster's creation, bounded."""
    vpc = builder.network(aws_client("ec2"), "us-east-1", "10.50.0.0/16").vpc_id
    role_vars = {"ecs_service_stack_name": STACK, "ecs_service_image_uri": IMAGE, "ecs_service_vpc_id": vpc, **FAST}
    recorder.answer("CreateCluster", 400, aws_error("InvalidParameterException", UNASSUMABLE), times=2)
    apply_role("ecs_service", recorder.endpoint, role_vars)
    assert [c.operation for c in recorder.calls].count("CreateCluster") == 3
    assert aws_client("ecs").describe_clusters(clusters=[STACK])["clusters"][0]["status"] == "ACTIVE"


@pytest.mark.parametrize(
    ("operation", "code", "message", "state", "calls", "expected"),
    [
        ("CreateCluster", "InvalidParameterException", UNASSUMABLE, "present", 4, "run the play again in a minute"),
        ("DeleteCluster", "ClusterContainsServicesException", DRAINING, "absent", 1, "run teardown.yml again once"),
    ],
)
def test_a_cause_that_outlasts_the_retries_fails_with_what_to_do(
    local_aws, recorder, aws_client, operation, code, message, state, calls, expected
):
    vpc = builder.network(aws_client("ec2"), "us-east-1", "10.50.0.0/16").vpc_id
    if state == "absent":
        aws_client("ecs").create_cluster(clusterName=STACK)
    recorder.answer(operation, 400, aws_error(code, message), times=100)
    role_vars = {
        "ecs_service_stack_name": STACK,
        "ecs_service_image_uri": IMAGE,
        "ecs_service_vpc_id": vpc,
        "ecs_service_state": state,
        "ecs_service__role_retries": 3,  # four attempts
        **FAST,
    }
    with pytest.raises(AssertionError) as failed:
        apply_role("ecs_service", recorder.endpoint, role_vars)
    assert message in str(failed.value) and expected in str(failed.value)
    assert [c.operation for c in recorder.calls].count(operation) == calls


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"ecs_service_alb_idle_timeout": 120, "ecs_service_environment": {"SERVER_KEEPALIVE": "120"}},
            "SERVER_KEEPALIVE 120 in ecs_service_environment would let the server close idle connections",
        ),
        ({"ecs_service_alb_idle_timeout": 4001}, "1 to 4000 seconds (got 4001)"),
        (
            {
                "ecs_service_platform": "linux/arm64",
                "ecs_service_capacity_provider_strategy": [{"capacity_provider": "FARGATE_SPOT", "weight": 1}],
            },
            "Fargate does not run ARM64 Linux tasks on FARGATE_SPOT",
        ),
        (
            {"ecs_service_log_max_buffer_size": "25 MB"},
            "ecs_service_log_max_buffer_size must be a size in Docker's format, a whole number and k, m or g",
        ),
        ({"ecs_service_log_mode": "async"}, "value of ecs_service_log_mode must be one of: non-blocking, blocking"),
    ],
    ids=["keepalive-not-longer", "idle-timeout-out-of-range", "arm64-on-spot", "buffer-size-format", "log-mode"],
)
def test_settings_aws_or_the_server_would_break_are_refused_before_anything_is_created(
    recorder, aws_client, settings, expected
):
    completed = run_playbook(
        PLAYBOOK,
        inventory="localhost,",
        extra_vars={
            "infra_role": "ecs_service",
            "endpoint": recorder.endpoint,
            "ecs_service_stack_name": STACK,
            "ecs_service_image_uri": IMAGE,
            "ecs_service_vpc_id": "vpc-12345678",
            **settings,
        },
    )
    assert completed.returncode != 0 and expected in completed.stdout, completed.stdout[-3000:]
    assert recorder.writes == [], recorder.writes
