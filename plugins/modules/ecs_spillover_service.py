#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_spillover_service
version_added: 0.1.0
short_description: A Fargate service behind an ALB target group that stands by and never fights the scaler
description:
  - Creates, updates and deletes one Amazon ECS service that runs a Fargate task definition and registers its tasks
    in one ALB target group of target type C(ip), as the spillover half of a Lambda + ECS application.
  - The module owns the service's definition (task definition, load balancer, network, capacity provider strategy,
    deployment settings, tags) but not its live desired count, which belongs to a scaler. O(standby_count) is the
    desired count of a new service; an existing service's desired count is never lowered or reset, and is raised to
    O(standby_count) only with O(enforce_standby=true). RV(desired_count_action) says what happened to it.
  - Idempotent; a run that changes nothing makes no write call, whatever the live desired count is.
  - A new task definition revision rolls the service (a new deployment) without touching its desired count.
    Every other change is made in place with UpdateService, as ECS documents it; nothing is ever recreated.
  - Refuses, with nothing written, a target group that does not exist, is not of target type C(ip) or is not used by
    a load balancer; a task definition that is not Fargate-compatible (network mode C(awsvpc), task-level cpu and
    memory) or lacks O(container_name) or O(container_port); an empty O(subnets) list.
  - With O(state=absent) it scales the service to 0, waits for its tasks to drain, deletes it, and waits until ECS
    no longer reports it C(DRAINING), as until then ECS refuses to delete its cluster
    (C(ClusterContainsServicesException)) and to create a service of the same name.
author:
  - spillover.lambda_ecs maintainers (@spillover)
options:
  state:
    description:
      - V(present) creates or updates the service; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  cluster:
    description:
      - Name or ARN of the ECS cluster. It must exist, with the C(FARGATE) (and C(FARGATE_SPOT) if used) capacity
        providers associated.
    type: str
    required: true
  name:
    description:
      - Name of the service.
    type: str
    required: true
    aliases: [service]
  task_definition:
    description:
      - The task definition to run, as a family (its latest C(ACTIVE) revision), C(family:revision) or an ARN.
      - With a bare family, every run after a new revision is registered rolls the service onto it.
      - Required with O(state=present).
    type: str
  target_group:
    description:
      - Name or ARN of the ALB target group the tasks register in. Its target type must be C(ip) and a listener of a
        load balancer must use it. Required with O(state=present).
      - The target group should be this service's own; O(wait=healthy) and RV(healthy_targets) count every healthy
        target of it.
    type: str
  container_name:
    description:
      - Name of the container of the task definition that receives the traffic. Required with O(state=present).
    type: str
  container_port:
    description:
      - Port of O(container_name) that receives the traffic; the task definition must map it.
        Required with O(state=present).
    type: int
  subnets:
    description:
      - Subnets of the tasks' network interfaces, in the target group's VPC. Required and not empty with
        O(state=present).
    type: list
    elements: str
  security_groups:
    description:
      - Security groups of the tasks' network interfaces. Required and not empty with O(state=present).
    type: list
    elements: str
  assign_public_ip:
    description:
      - Give each task a public IP address (needed in a public subnet without a NAT gateway to pull the image).
    type: bool
    default: false
  standby_count:
    description:
      - The desired count of a new service, that is the tasks kept running while Lambda serves all the traffic.
      - For an existing service it is only a floor applied with O(enforce_standby=true); a higher live desired count
        (set by the scaler) is always left alone.
    type: int
    default: 0
  enforce_standby:
    description:
      - Raise an existing service's live desired count to O(standby_count) when it is lower. Never lowers it.
    type: bool
    default: false
  capacity_provider_strategy:
    description:
      - How tasks are spread over C(FARGATE) and C(FARGATE_SPOT).
      - Refused, before any write, when it names C(FARGATE_SPOT) and the task definition runs on C(ARM64)
        (C(runtimePlatform.cpuArchitecture)), because Fargate does not run ARM64 Linux tasks on Spot.
      - A change, including the switch of a service created with a launch type to capacity providers, is applied in
        place with a forced new deployment, as ECS requires.
    type: list
    elements: dict
    default: [{capacity_provider: FARGATE, weight: 1, base: 0}]
    suboptions:
      capacity_provider:
        description:
          - The capacity provider.
        type: str
        choices: [FARGATE, FARGATE_SPOT]
        required: true
      weight:
        description:
          - Relative share of the tasks above the bases (0 to 1000); one provider at least needs a weight above 0.
        type: int
        default: 1
      base:
        description:
          - Tasks that run on this provider before the weights apply (0 to 100000); one provider at most has a base.
        type: int
        default: 0
  health_check_grace_period:
    description:
      - Seconds during which ECS ignores failing load balancer health checks of a new task.
      - Left as the service has it when not set (ECS uses 0 for a new service).
    type: int
  deployment_circuit_breaker:
    description:
      - The deployment circuit breaker, which stops a deployment whose tasks keep failing (and rolls it back).
    type: dict
    default: {enable: true, rollback: true}
    suboptions:
      enable:
        description:
          - Turn the circuit breaker on.
        type: bool
        default: true
      rollback:
        description:
          - Roll back to the last completed deployment when the circuit breaker stops a deployment.
        type: bool
        default: true
  platform_version:
    description:
      - Fargate platform version, for example V(LATEST) or V(1.4.0). Left as the service has it when not set.
    type: str
  enable_execute_command:
    description:
      - Allow C(ecs execute-command) into the tasks.
    type: bool
    default: false
  propagate_tags:
    description:
      - Copy the tags of the V(SERVICE) or of the V(TASK_DEFINITION) to the tasks it starts, or V(NONE).
    type: str
    choices: [SERVICE, TASK_DEFINITION, NONE]
    default: NONE
  force_new_deployment:
    description:
      - Start a new deployment even when nothing changed, for example to pull a new image of the same tag.
        The module then reports a change on every run.
    type: bool
    default: false
  wait:
    description:
      - V(none) returns once the change is made.
      - V(stable) waits until the deployment is complete (one deployment, as many tasks running as desired).
      - V(healthy) waits until at least O(wait_min_healthy) targets of O(target_group) are healthy; it fails at once
        when the service's desired count is lower than O(wait_min_healthy).
      - With O(state=absent) the drain of the tasks is always waited for; see O(wait_timeout).
      - A timeout fails with the counts, the rollout state, the service's recent events and the target states.
    type: str
    choices: [none, stable, healthy]
    default: none
  wait_timeout:
    description:
      - Seconds to wait with O(wait), and for the tasks to drain with O(state=absent). A service whose tasks have not
        drained by then is deleted with force (ECS stops the tasks) and the module warns.
      - With O(state=absent), also the seconds to wait for the deleted service to stop C(DRAINING); a service still
        C(DRAINING) by then fails the module, with what to do.
    type: int
    default: 600
  wait_min_healthy:
    description:
      - Healthy targets needed by O(wait=healthy).
    type: int
    default: 1
notes:
  - Check mode and diff mode are supported. The diff shows the managed settings, the desired count and the tags.
  - Tasks of the service keep their target registered until the target group's deregistration delay has passed, so
    a drain takes at least that long on AWS.
  - ECS needs its service-linked role (C(AWSServiceRoleForECS)) to attach a load balancer.
  - Services with a CodeDeploy or external deployment controller are refused for changes UpdateService cannot make
    on them; the module manages rolling (C(ECS)) deployments.
seealso:
  - module: community.aws.ecs_service
  - module: community.aws.ecs_taskdefinition
  - module: spillover.lambda_ecs.alb_weighted_forward
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Stand by with no task, attached to the ECS target group of the ALB
  spillover.lambda_ecs.ecs_spillover_service:
    cluster: my-app
    name: my-app
    task_definition: my-app:7
    target_group: my-app-ecs
    container_name: app
    container_port: 8080
    subnets: "{{ private_subnet_ids }}"
    security_groups: ["{{ task_security_group_id }}"]
    standby_count: 0
    tags:
      application: my-app

- name: Keep one warm task (mostly on Spot) and wait until it is a healthy target
  spillover.lambda_ecs.ecs_spillover_service:
    cluster: my-app
    name: my-app
    task_definition: my-app:8
    target_group: my-app-ecs
    container_name: app
    container_port: 8080
    subnets: "{{ private_subnet_ids }}"
    security_groups: ["{{ task_security_group_id }}"]
    standby_count: 1
    enforce_standby: true
    capacity_provider_strategy:
      - capacity_provider: FARGATE
        weight: 1
        base: 1
      - capacity_provider: FARGATE_SPOT
        weight: 3
    health_check_grace_period: 30
    wait: healthy
    wait_timeout: 300

- name: Delete the service (scales to 0, waits for the tasks to drain)
  spillover.lambda_ecs.ecs_spillover_service:
    cluster: my-app
    name: my-app
    state: absent
"""

RETURN = r"""
service:
  description:
    - The service after the run, in snake_case, as DescribeServices returns it, with its tags as a dict.
    - In check mode, the service as it would be (a new service has no ARN yet).
    - With O(state=absent), the deleted service, or an empty dict when there was none.
  returned: always
  type: dict
  contains:
    service_arn:
      description: ARN of the service.
      type: str
      sample: arn:aws:ecs:us-east-1:123456789012:service/my-app/my-app
    service_name:
      description: Name of the service.
      type: str
      sample: my-app
    status:
      description: C(ACTIVE), C(DRAINING) or C(INACTIVE).
      type: str
      sample: ACTIVE
    desired_count:
      description: Desired count after the run (the scaler's, unless the service was created or raised).
      type: int
      sample: 3
    running_count:
      description: Tasks running.
      type: int
      sample: 3
    pending_count:
      description: Tasks starting.
      type: int
      sample: 0
    task_definition:
      description: ARN of the task definition of the service.
      type: str
      sample: arn:aws:ecs:us-east-1:123456789012:task-definition/my-app:7
    load_balancers:
      description: The target group, container and port the tasks register with.
      type: list
      elements: dict
      sample: [{target_group_arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/my-app-ecs/73e2d6bc",
               container_name: app, container_port: 8080}]
    capacity_provider_strategy:
      description: The capacity provider strategy.
      type: list
      elements: dict
      sample: [{capacity_provider: FARGATE, weight: 1, base: 0}]
    network_configuration:
      description: Subnets, security groups and public IP setting of the tasks.
      type: dict
      sample: {awsvpc_configuration: {subnets: [subnet-0a1b], security_groups: [sg-0c2d], assign_public_ip: DISABLED}}
    deployments:
      description: The deployments of the service and their rollout states.
      type: list
      elements: dict
      sample: [{status: PRIMARY, rollout_state: COMPLETED, desired_count: 1, running_count: 1}]
    events:
      description: The latest service events, newest first.
      type: list
      elements: dict
      sample: [{message: "(service my-app) has reached a steady state."}]
    tags:
      description: Tags of the service.
      type: dict
      sample: {application: my-app}
healthy_targets:
  description: Number of healthy targets in O(target_group) after the run.
  returned: when O(state=present)
  type: int
  sample: 1
desired_count_action:
  description:
    - What the run did to the desired count. V(created) (a new service with O(standby_count)), V(kept) (the live
      desired count left as it was, for example a scaler's higher count), or V(raised) (to O(standby_count) by
      O(enforce_standby)).
  returned: when O(state=present)
  type: str
  sample: kept
changes:
  description:
    - Names of the settings the run changed (or would change in check mode); V(created) for a new service.
  returned: when O(state=present)
  type: list
  elements: str
  sample: [task_definition, tags]
diff:
  description: The managed settings, the desired count and the tags before and after, in diff mode.
  returned: when diff mode is on
  type: dict
  sample:
    before: {task_definition: "arn:aws:ecs:us-east-1:123456789012:task-definition/my-app:7", desired_count: 3}
    after: {task_definition: "arn:aws:ecs:us-east-1:123456789012:task-definition/my-app:8", desired_count: 3}
events:
  description: On a failed wait or deployment, the latest service event messages, newest first.
  returned: on a wait failure
  type: list
  elements: str
  sample: ["(service my-app) has started 1 tasks: (task 0123abcd)."]
targets:
  description: On a failed wait or deployment, the targets of O(target_group) as C(ip:port state (reason)).
  returned: on a wait failure
  type: list
  elements: str
  sample: ["10.0.1.25:8080 unhealthy (Target.FailedHealthChecks)"]
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_client
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.ecs_spillover import ensure_absent
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.ecs_spillover import ensure_present


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        cluster=dict(type="str", required=True),
        name=dict(type="str", required=True, aliases=["service"]),
        task_definition=dict(type="str"),
        target_group=dict(type="str"),
        container_name=dict(type="str"),
        container_port=dict(type="int"),
        subnets=dict(type="list", elements="str"),
        security_groups=dict(type="list", elements="str"),
        assign_public_ip=dict(type="bool", default=False),
        standby_count=dict(type="int", default=0),
        enforce_standby=dict(type="bool", default=False),
        capacity_provider_strategy=dict(
            type="list",
            elements="dict",
            default=[dict(capacity_provider="FARGATE", weight=1, base=0)],
            options=dict(
                capacity_provider=dict(type="str", choices=["FARGATE", "FARGATE_SPOT"], required=True),
                weight=dict(type="int", default=1),
                base=dict(type="int", default=0),
            ),
        ),
        health_check_grace_period=dict(type="int"),
        deployment_circuit_breaker=dict(
            type="dict",
            default=dict(enable=True, rollback=True),
            options=dict(enable=dict(type="bool", default=True), rollback=dict(type="bool", default=True)),
        ),
        platform_version=dict(type="str"),
        enable_execute_command=dict(type="bool", default=False),
        propagate_tags=dict(type="str", choices=["SERVICE", "TASK_DEFINITION", "NONE"], default="NONE"),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        force_new_deployment=dict(type="bool", default=False),
        wait=dict(type="str", choices=["none", "stable", "healthy"], default="none"),
        wait_timeout=dict(type="int", default=600),
        wait_min_healthy=dict(type="int", default=1),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[
            (
                "state",
                "present",
                [
                    "task_definition",
                    "target_group",
                    "container_name",
                    "container_port",
                    "subnets",
                    "security_groups",
                ],
            )
        ],
    )
    ecs = aws_client(module, "ecs")
    if module.params["state"] == "absent":
        run(module, lambda: ensure_absent(ecs, module.params, module.check_mode))
    else:
        run(module, lambda: ensure_present(ecs, aws_client(module, "elbv2"), module.params, module.check_mode))


if __name__ == "__main__":
    main()
