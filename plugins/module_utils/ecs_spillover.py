# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Logic of spillover.lambda_ecs.ecs_spillover_service: pure comparison functions first, then AWS calls.

A service is reduced to its *definition*: the settings the module owns, under the module's option names,
normalised so that what ECS fills in on its own (defaults, list order, ``ENABLED``/``DISABLED``) compares
equal to what the user wrote. The live desired count is deliberately not part of the definition: the
scaler owns it.
"""

import time
from functools import partial

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import is_ansible_aws_error_code
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverErrorHandler
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_call
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import describe_target_groups
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.target_health import count_healthy
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.target_health import describe_targets

# Settings whose change ECS applies in place with UpdateService, mapped to the request key that carries them.
NETWORK_KEYS = ("subnets", "security_groups", "assign_public_ip")
CAPACITY_KEYS = ("capacity_provider_strategy", "launch_type")
# Settings that are managed only when the user sets them (None = leave what the service has).
OPTIONAL_KEYS = ("health_check_grace_period", "platform_version")
# Settings a service with a non-ECS deployment controller (CodeDeploy, external) cannot change with UpdateService.
ROLLING_ONLY_KEYS = ("task_definition", "load_balancers", "platform_version", *NETWORK_KEYS, *CAPACITY_KEYS)


def check_target_group(target_group):
    """Refuse a target group ECS cannot register Fargate tasks in."""
    name = target_group["TargetGroupName"]
    if target_group.get("TargetType") != "ip":
        raise SpilloverError(
            "Target group {} has target type {!r}; Fargate tasks (awsvpc) register by IP address, so the "
            "service needs a target group of target type 'ip'. Create one with target_type=ip.".format(
                name, target_group.get("TargetType")
            )
        )
    if not target_group.get("LoadBalancerArns"):
        raise SpilloverError(
            f"Target group {name} is not used by any load balancer listener; ECS refuses to attach a service to it. "
            "Add it to a listener's forward action first (with weight 0 to keep it without traffic)."
        )


def check_task_definition(task_definition, container_name, container_port):
    """Refuse a task definition Fargate cannot run or that lacks the container and port the target group needs."""
    arn = task_definition["taskDefinitionArn"]
    problems = []
    compatibilities = set(task_definition.get("compatibilities") or []) | set(
        task_definition.get("requiresCompatibilities") or []
    )
    if "FARGATE" not in compatibilities:
        problems.append("it is not compatible with FARGATE (register it with requires_compatibilities: [FARGATE])")
    if task_definition.get("networkMode") != "awsvpc":
        problems.append("its network mode is {!r}, Fargate needs 'awsvpc'".format(task_definition.get("networkMode")))
    for setting in ("cpu", "memory"):
        if not task_definition.get(setting):
            problems.append(f"it has no task-level {setting}, which Fargate requires")
    containers = {container["name"]: container for container in task_definition.get("containerDefinitions") or []}
    if container_name not in containers:
        problems.append(
            "it has no container named {!r} (its containers: {})".format(
                container_name, ", ".join(sorted(containers)) or "none"
            )
        )
    else:
        ports = sorted(
            mapping["containerPort"]
            for mapping in containers[container_name].get("portMappings") or []
            if "containerPort" in mapping
        )
        if container_port not in ports:
            problems.append(
                "its container {!r} does not map port {} (its ports: {})".format(
                    container_name, container_port, ", ".join(str(port) for port in ports) or "none"
                )
            )
    if problems:
        raise SpilloverError(
            "Task definition {} cannot back this service: {}. Fix the task definition or the module's "
            "container_name/container_port options.".format(arn, "; ".join(problems))
        )


def normalise_strategy(strategy):
    """A capacity provider strategy as a list sorted by provider, with AWS's defaults filled in."""
    items = [
        {
            "capacity_provider": item.get("capacity_provider", item.get("capacityProvider")),
            "weight": item.get("weight") or 0,
            "base": item.get("base") or 0,
        }
        for item in strategy or []
    ]
    return sorted(items, key=lambda item: item["capacity_provider"])


def check_strategy(strategy):
    """Refuse a capacity provider strategy ECS would refuse, before any write."""
    providers = [item["capacity_provider"] for item in strategy]
    if not providers:
        raise SpilloverError("capacity_provider_strategy must name FARGATE and/or FARGATE_SPOT.")
    if len(set(providers)) != len(providers):
        raise SpilloverError("capacity_provider_strategy names a capacity provider twice.")
    if not any(item["weight"] > 0 for item in strategy):
        raise SpilloverError("capacity_provider_strategy needs a weight greater than 0 on at least one provider.")
    if sum(1 for item in strategy if item["base"] > 0) > 1:
        raise SpilloverError("capacity_provider_strategy may set a base greater than 0 on one provider only.")


def check_platform_strategy(task_definition, strategy):
    """Refuse ARM64 tasks on FARGATE_SPOT: ECS creates the service, but never starts its Linux ARM64 tasks on Spot."""
    architecture = (task_definition.get("runtimePlatform") or {}).get("cpuArchitecture") or "X86_64"
    if architecture == "ARM64" and any(item["capacity_provider"] == "FARGATE_SPOT" for item in strategy):
        raise SpilloverError(
            "Task definition {} runs on ARM64 (runtimePlatform.cpuArchitecture), and Fargate does not run ARM64 "
            "Linux tasks on FARGATE_SPOT: the service would be created and its Spot tasks would never start. Name "
            "FARGATE only in capacity_provider_strategy, or use an X86_64 task definition.".format(
                task_definition["taskDefinitionArn"]
            )
        )


def desired_definition(params, task_definition_arn, target_group_arn):
    """The definition the user asked for, in the shape of current_definition()."""
    breaker = params["deployment_circuit_breaker"]
    return {
        "task_definition": task_definition_arn,
        "load_balancers": [
            {
                "target_group_arn": target_group_arn,
                "container_name": params["container_name"],
                "container_port": params["container_port"],
            }
        ],
        "subnets": sorted(set(params["subnets"])),
        "security_groups": sorted(set(params["security_groups"])),
        "assign_public_ip": params["assign_public_ip"],
        "capacity_provider_strategy": normalise_strategy(params["capacity_provider_strategy"]),
        "launch_type": None,
        "health_check_grace_period": params["health_check_grace_period"],
        "deployment_circuit_breaker": {"enable": breaker["enable"], "rollback": breaker["rollback"]},
        "platform_version": params["platform_version"],
        "enable_execute_command": params["enable_execute_command"],
        "propagate_tags": params["propagate_tags"],
    }


def current_definition(service):
    """The definition of a service as DescribeServices returns it, with ECS's defaults made explicit."""
    network = (service.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
    breaker = (service.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker") or {}
    strategy = normalise_strategy(service.get("capacityProviderStrategy"))
    return {
        "task_definition": service.get("taskDefinition"),
        "load_balancers": sorted(
            (
                {
                    "target_group_arn": balancer.get("targetGroupArn"),
                    "container_name": balancer.get("containerName"),
                    "container_port": balancer.get("containerPort"),
                }
                for balancer in service.get("loadBalancers") or []
            ),
            key=lambda balancer: (balancer["target_group_arn"] or "", balancer["container_name"] or ""),
        ),
        "subnets": sorted(set(network.get("subnets") or [])),
        "security_groups": sorted(set(network.get("securityGroups") or [])),
        "assign_public_ip": network.get("assignPublicIp") == "ENABLED",
        "capacity_provider_strategy": strategy,
        # A launch type counts only when no strategy is set; ECS may report both after a switch.
        "launch_type": None if strategy else service.get("launchType"),
        "health_check_grace_period": service.get("healthCheckGracePeriodSeconds") or 0,
        "deployment_circuit_breaker": {
            "enable": bool(breaker.get("enable")),
            "rollback": bool(breaker.get("rollback")),
        },
        "platform_version": service.get("platformVersion"),
        "enable_execute_command": bool(service.get("enableExecuteCommand")),
        "propagate_tags": service.get("propagateTags") or "NONE",
    }


def definition_changes(current, desired):
    """Names of the settings that differ, in a stable order; unmanaged optional settings never differ."""
    changes = []
    for key, value in desired.items():
        if key in OPTIONAL_KEYS and value is None:
            continue
        if current.get(key) != value:
            changes.append(key)
    return changes


def resolved_definition(current, desired):
    """What the definition will be after the run: desired values, current ones where unmanaged."""
    return {
        key: current.get(key) if key in OPTIONAL_KEYS and value is None else value for key, value in desired.items()
    }


def plan_desired_count(live_count, standby_count, enforce_standby):
    """The desired count to write (or None to leave it) and a word that says what happened to it.

    The live count belongs to the scaler: it is never lowered, and raised only to the standby floor on request.
    """
    if enforce_standby and live_count < standby_count:
        return standby_count, "raised"
    return None, "kept"


def _network_configuration(definition):
    return {
        "awsvpcConfiguration": {
            "subnets": definition["subnets"],
            "securityGroups": definition["security_groups"],
            "assignPublicIp": "ENABLED" if definition["assign_public_ip"] else "DISABLED",
        }
    }


def _load_balancers(definition):
    return [
        {
            "targetGroupArn": balancer["target_group_arn"],
            "containerName": balancer["container_name"],
            "containerPort": balancer["container_port"],
        }
        for balancer in definition["load_balancers"]
    ]


def _strategy(definition):
    return [
        {"capacityProvider": item["capacity_provider"], "weight": item["weight"], "base": item["base"]}
        for item in definition["capacity_provider_strategy"]
    ]


def create_request(cluster, name, desired, standby_count, tags):
    """Keyword arguments of CreateService for the desired definition."""
    request = {
        "cluster": cluster,
        "serviceName": name,
        "taskDefinition": desired["task_definition"],
        "desiredCount": standby_count,
        "loadBalancers": _load_balancers(desired),
        "networkConfiguration": _network_configuration(desired),
        "capacityProviderStrategy": _strategy(desired),
        "deploymentConfiguration": {"deploymentCircuitBreaker": dict(desired["deployment_circuit_breaker"])},
        "enableExecuteCommand": desired["enable_execute_command"],
        "propagateTags": desired["propagate_tags"],
        "schedulingStrategy": "REPLICA",
        "deploymentController": {"type": "ECS"},
    }
    if desired["health_check_grace_period"] is not None:
        request["healthCheckGracePeriodSeconds"] = desired["health_check_grace_period"]
    if desired["platform_version"] is not None:
        request["platformVersion"] = desired["platform_version"]
    if tags:
        request["tags"] = [{"key": key, "value": value} for key, value in sorted(tags.items())]
    return request


def update_request(service, desired, changes, desired_count=None, force_new_deployment=False):
    """Keyword arguments of UpdateService that apply ``changes`` (and nothing else), or None when nothing is to do.

    A change of capacity provider strategy (including a switch from a launch type) needs a new deployment in ECS.
    """
    request = {}
    if "task_definition" in changes:
        request["taskDefinition"] = desired["task_definition"]
    if "load_balancers" in changes:
        request["loadBalancers"] = _load_balancers(desired)
    if any(key in changes for key in NETWORK_KEYS):
        request["networkConfiguration"] = _network_configuration(desired)
    if any(key in changes for key in CAPACITY_KEYS):
        request["capacityProviderStrategy"] = _strategy(desired)
        force_new_deployment = True
    if "health_check_grace_period" in changes:
        request["healthCheckGracePeriodSeconds"] = desired["health_check_grace_period"]
    if "deployment_circuit_breaker" in changes:
        # Keep the rest of the deployment configuration (percentages, alarms) as the service has it.
        configuration = dict(service.get("deploymentConfiguration") or {})
        configuration["deploymentCircuitBreaker"] = dict(desired["deployment_circuit_breaker"])
        request["deploymentConfiguration"] = configuration
    if "platform_version" in changes:
        request["platformVersion"] = desired["platform_version"]
    if "enable_execute_command" in changes:
        request["enableExecuteCommand"] = desired["enable_execute_command"]
    if "propagate_tags" in changes:
        request["propagateTags"] = desired["propagate_tags"]
    if desired_count is not None:
        request["desiredCount"] = desired_count
    if force_new_deployment:
        request["forceNewDeployment"] = True
    if not request:
        return None
    request["cluster"] = service["clusterArn"]
    request["service"] = service["serviceName"]
    return request


def check_deployment_controller(service, changes):
    """Refuse changes that UpdateService cannot make on a CodeDeploy or external deployment controller."""
    controller = (service.get("deploymentController") or {}).get("type", "ECS")
    blocked = [key for key in changes if key in ROLLING_ONLY_KEYS]
    if controller != "ECS" and blocked:
        raise SpilloverError(
            "Service {0} uses the {1} deployment controller, which cannot change {2} with UpdateService; this module "
            "manages rolling (ECS) deployments only. Change them through {1}, or delete the service (state=absent) "
            "and let this module create it again.".format(service["serviceName"], controller, ", ".join(blocked))
        )


def deployment_status(service):
    """``(state, reason)`` of the service's rollout: state is ``stable``, ``in_progress`` or ``failed``."""
    deployments = service.get("deployments") or []
    primary = next((item for item in deployments if item.get("status") == "PRIMARY"), None)
    if primary and primary.get("rolloutState") == "FAILED":
        return "failed", primary.get("rolloutStateReason") or "the deployment failed"
    if len(deployments) > 1:
        return "in_progress", f"{len(deployments)} deployments are active"
    if primary and primary.get("rolloutState") not in (None, "COMPLETED"):
        return "in_progress", primary.get("rolloutStateReason") or "the deployment is {}".format(
            primary.get("rolloutState")
        )
    if service.get("runningCount") != service.get("desiredCount") or service.get("pendingCount"):
        return "in_progress", "{} of {} tasks running, {} pending".format(
            service.get("runningCount"), service.get("desiredCount"), service.get("pendingCount")
        )
    return "stable", "deployment complete"


def recent_events(service, limit=5):
    """The service's latest event messages, newest first."""
    return [event.get("message", "") for event in (service.get("events") or [])[:limit]]


def wait_failure_message(what, timeout, service, target_health_descriptions):
    """A timeout message that shows why: counts, rollout, the service's events and the target states."""
    state, reason = deployment_status(service)
    events = recent_events(service)
    targets = describe_targets(target_health_descriptions)
    return (
        "Timed out after {} s waiting for service {} to be {}: desired {}, running {}, pending {}; rollout "
        "{} ({}). Recent events: {}. Targets: {}.".format(
            timeout,
            service.get("serviceName"),
            what,
            service.get("desiredCount"),
            service.get("runningCount"),
            service.get("pendingCount"),
            state,
            reason,
            " | ".join(events) if events else "none",
            ", ".join(targets) if targets else "none registered",
        )
    )


def planned_service(after, current=None):
    """The service as it will be after the run, for check mode (snake_case, like the ``service`` result).

    ``after`` is the ``after`` of plan_changes(); ``current`` the current ``service`` result, if any.
    """
    planned = dict(current or {})
    planned.update(
        {
            "desired_count": after["desired_count"],
            "task_definition": after["task_definition"],
            "load_balancers": after["load_balancers"],
            "network_configuration": {
                "awsvpc_configuration": {
                    "subnets": after["subnets"],
                    "security_groups": after["security_groups"],
                    "assign_public_ip": "ENABLED" if after["assign_public_ip"] else "DISABLED",
                }
            },
            "capacity_provider_strategy": after["capacity_provider_strategy"],
            "propagate_tags": after["propagate_tags"],
            "enable_execute_command": after["enable_execute_command"],
            "tags": after["tags"],
        }
    )
    planned.setdefault("running_count", 0)
    planned.setdefault("pending_count", 0)
    return planned


def plan_changes(service, desired, params):
    """Everything a run will write, decided before the first write.

    Returns a dict: ``changes`` (setting names, ``created`` for a new service), ``desired_count_action``,
    ``count_after``, the ``create`` or ``update`` request (or None), ``tags_to_set``, ``tags_to_remove``, and the
    ``before``/``after`` of the diff.
    """
    plan = {"create": None, "update": None, "tags_to_set": {}, "tags_to_remove": []}
    if service is None:
        tags_after = params["tags"] or {}
        plan.update(
            changes=["created"],
            desired_count_action="created",
            count_after=params["standby_count"],
            create=create_request(params["cluster"], params["name"], desired, params["standby_count"], tags_after),
            before={},
            after=dict(resolved_definition({}, desired), desired_count=params["standby_count"], tags=tags_after),
        )
        return plan

    current = current_definition(service)
    changes = definition_changes(current, desired)
    check_deployment_controller(service, changes)
    new_count, action = plan_desired_count(service["desiredCount"], params["standby_count"], params["enforce_standby"])
    if new_count is not None:
        changes.append("desired_count")
    plan["update"] = update_request(service, desired, changes, new_count, params["force_new_deployment"])
    if params["force_new_deployment"]:
        changes.append("force_new_deployment")
    tags_before = boto3_tag_list_to_ansible_dict(service.get("tags") or [], "key", "value")
    tags_after = tags_before
    if params["tags"] is not None:
        plan["tags_to_set"], plan["tags_to_remove"] = compare_aws_tags(
            tags_before, params["tags"], params["purge_tags"]
        )
        tags_after = {key: value for key, value in tags_before.items() if key not in plan["tags_to_remove"]}
        tags_after.update(plan["tags_to_set"])
        if plan["tags_to_set"] or plan["tags_to_remove"]:
            changes.append("tags")
    count_after = service["desiredCount"] if new_count is None else new_count
    plan.update(
        changes=changes,
        desired_count_action=action,
        count_after=count_after,
        before=dict(current, desired_count=service["desiredCount"], tags=tags_before),
        after=dict(resolved_definition(current, desired), desired_count=count_after, tags=tags_after),
    )
    return plan


def service_result(service):
    """The ``service`` result: snake_case, tags as a dict."""
    result = camel_dict_to_snake_dict({key: value for key, value in service.items() if key != "tags"})
    result["tags"] = boto3_tag_list_to_ansible_dict(service.get("tags") or [], "key", "value")
    return result


# ---------------------------------------------------------------------------------------------
# AWS calls: clients come wrapped with AWSRetry.jittered_backoff, every call passes aws_retry=True
# ---------------------------------------------------------------------------------------------


@SpilloverErrorHandler.common_error_handler("describe service {name} in cluster {cluster}")
def get_service(ecs, cluster, name):
    """The service as DescribeServices returns it (with tags), or None when it does not exist or is INACTIVE.

    A missing cluster is a SpilloverError carrying ClusterNotFoundException; callers decide what it means.
    """
    try:
        response = ecs.describe_services(cluster=cluster, services=[name], include=["TAGS"], aws_retry=True)
    except is_boto3_error_code("ClusterNotFoundException") as e:
        raise SpilloverError(
            f"Cluster {cluster} does not exist; create it first (for example with community.aws.ecs_cluster).",
            exception=e,
        ) from e
    services = [service for service in response.get("services") or [] if service.get("status") != "INACTIVE"]
    return services[0] if services else None


def resolve_target_group(elbv2, target_group):
    """The target group named by name or ARN; refused when it does not exist."""
    return describe_target_groups(
        elbv2, [target_group], "Target group {missing} does not exist; create it (target type ip) before the service."
    )[0]


@SpilloverErrorHandler.common_error_handler("describe task definition {task_definition}")
def resolve_task_definition(ecs, task_definition):
    """The task definition named by family, family:revision or ARN; refused when it does not exist."""
    try:
        return ecs.describe_task_definition(taskDefinition=task_definition, aws_retry=True)["taskDefinition"]
    except is_boto3_error_code("ClientException") as e:
        # ECS answers ClientException for a missing task definition; its message is kept for the other causes.
        raise SpilloverError(
            f"Task definition {task_definition} does not exist or is not ACTIVE; register it first.", exception=e
        ) from e


def target_health(elbv2, target_group_arn):
    return aws_call(
        f"read the target health of {target_group_arn}",
        partial(elbv2.describe_target_health, aws_retry=True, TargetGroupArn=target_group_arn),
    )["TargetHealthDescriptions"]


def poll_delay(timeout):
    """Seconds between two polls: 5, shorter for short timeouts."""
    return min(5, max(1, timeout // 10))


def wait_for_service(ecs, elbv2, params, target_group_arn):
    """Wait until the service is stable or has enough healthy targets (``params['wait']``); fail with why not."""
    timeout = params["wait_timeout"]
    deadline = time.monotonic() + timeout
    what = "stable" if params["wait"] == "stable" else "healthy ({} healthy targets)".format(params["wait_min_healthy"])
    while True:
        service = get_service(ecs, params["cluster"], params["name"])
        if service is None:
            raise SpilloverError("Service {} disappeared while waiting for it.".format(params["name"]))
        targets = target_health(elbv2, target_group_arn)
        state, reason = deployment_status(service)
        if state == "failed":
            raise SpilloverError(
                "The deployment of service {} failed: {}. Recent events: {}.".format(
                    params["name"], reason, " | ".join(recent_events(service)) or "none"
                ),
                events=recent_events(service),
                targets=describe_targets(targets),
            )
        if params["wait"] == "stable" and state == "stable":
            return service, targets
        if params["wait"] == "healthy" and count_healthy(targets) >= params["wait_min_healthy"]:
            return service, targets
        if time.monotonic() >= deadline:
            raise SpilloverError(
                wait_failure_message(what, timeout, service, targets),
                events=recent_events(service),
                targets=describe_targets(targets),
            )
        time.sleep(poll_delay(timeout))


def _check_request(params):
    if not params["subnets"]:
        raise SpilloverError("subnets is empty; Fargate tasks need at least one subnet of the target group's VPC.")
    if not params["security_groups"]:
        raise SpilloverError("security_groups is empty; give the tasks at least one security group.")
    check_strategy(normalise_strategy(params["capacity_provider_strategy"]))


def apply_plan(ecs, service, plan, name):
    """Make the writes of plan_changes(): one CreateService, or one UpdateService and the tag calls."""
    if plan["create"]:
        aws_call(f"create service {name}", partial(ecs.create_service, aws_retry=True, **plan["create"]))
        return
    if plan["update"]:
        aws_call(f"update service {name}", partial(ecs.update_service, aws_retry=True, **plan["update"]))
    arn = service["serviceArn"]
    if plan["tags_to_remove"]:
        untag = partial(ecs.untag_resource, aws_retry=True, resourceArn=arn, tagKeys=plan["tags_to_remove"])
        aws_call(f"remove tags of service {name}", untag)
    if plan["tags_to_set"]:
        tags = [{"key": key, "value": value} for key, value in sorted(plan["tags_to_set"].items())]
        aws_call(f"tag service {name}", partial(ecs.tag_resource, aws_retry=True, resourceArn=arn, tags=tags))


def converge_after_create(ecs, desired, params):
    """Bring a just-created service to the asked definition when the API dropped settings of CreateService.

    Some ECS-compatible APIs (moto among them) store a new service without its capacity provider strategy or
    deployment settings; without this step the next run would report a change. Real ECS stores them, and the
    re-read then plans nothing, so this costs one read there.
    """
    created = get_service(ecs, params["cluster"], params["name"])
    if created is None:
        return
    follow_up = plan_changes(created, desired, dict(params, force_new_deployment=False))
    if follow_up["update"]:
        apply_plan(ecs, created, follow_up, params["name"])


def ensure_present(ecs, elbv2, params, check_mode):
    """Create or update the service; returns ``(changed, result, diff)``. Refusals write nothing."""
    _check_request(params)
    target_group = resolve_target_group(elbv2, params["target_group"])
    check_target_group(target_group)
    task_definition = resolve_task_definition(ecs, params["task_definition"])
    check_task_definition(task_definition, params["container_name"], params["container_port"])
    check_platform_strategy(task_definition, normalise_strategy(params["capacity_provider_strategy"]))
    desired = desired_definition(params, task_definition["taskDefinitionArn"], target_group["TargetGroupArn"])

    service = get_service(ecs, params["cluster"], params["name"])
    if service is not None and service.get("status") == "DRAINING":
        raise SpilloverError(
            "Service {} is being deleted (DRAINING); wait until it is INACTIVE and run again.".format(params["name"])
        )

    plan = plan_changes(service, desired, params)
    if params["wait"] == "healthy" and plan["count_after"] < params["wait_min_healthy"]:
        raise SpilloverError(
            "wait=healthy needs {} healthy targets but the service's desired count would be {}, so it would never "
            "have them. Raise standby_count (with enforce_standby=true for an existing service) or lower "
            "wait_min_healthy.".format(params["wait_min_healthy"], plan["count_after"])
        )
    result = {"changes": plan["changes"], "desired_count_action": plan["desired_count_action"]}
    diff = {"before": plan["before"], "after": plan["after"]}
    changed = bool(plan["changes"])
    if check_mode:
        result["service"] = planned_service(plan["after"], service_result(service) if service else None)
        result["healthy_targets"] = count_healthy(target_health(elbv2, target_group["TargetGroupArn"]))
        return changed, result, diff

    apply_plan(ecs, service, plan, params["name"])
    if plan["create"]:
        converge_after_create(ecs, desired, params)
    if params["wait"] != "none":
        service, targets = wait_for_service(ecs, elbv2, params, target_group["TargetGroupArn"])
    else:
        service = get_service(ecs, params["cluster"], params["name"])
        targets = target_health(elbv2, target_group["TargetGroupArn"])
    result["service"] = service_result(service)
    result["healthy_targets"] = count_healthy(targets)
    return changed, result, diff


def wait_until_gone(ecs, params):
    """Wait (bounded by wait_timeout) until a deleted service has stopped DRAINING.

    ECS keeps a deleted service DRAINING until its tasks have stopped, and refuses meanwhile to delete its cluster
    (ClusterContainsServicesException) or to create a service of the same name: whoever deletes the cluster next
    must find the service gone.
    """
    timeout = params["wait_timeout"]
    deadline = time.monotonic() + timeout
    while True:
        try:
            service = get_service(ecs, params["cluster"], params["name"])
        except is_ansible_aws_error_code("ClusterNotFoundException"):
            return
        if service is None:
            return
        if time.monotonic() >= deadline:
            raise SpilloverError(
                "Service {} was deleted but is still DRAINING after {} s (its tasks are stopping); ECS refuses to "
                "delete its cluster until it is gone (ClusterContainsServicesException). Run again once aws ecs "
                "describe-services --cluster {} --services {} shows it INACTIVE.".format(
                    params["name"], timeout, params["cluster"], params["name"]
                ),
                events=recent_events(service),
            )
        time.sleep(poll_delay(timeout))


def ensure_absent(ecs, params, check_mode):
    """Scale the service to 0, let its tasks drain (bounded by wait_timeout), delete it and wait until it has
    stopped DRAINING (bounded by wait_timeout again); returns ``(changed, result, diff, warnings)``. A service that
    is gone (or a cluster that is gone) is a no-op; one that is still DRAINING is waited for."""
    try:
        service = get_service(ecs, params["cluster"], params["name"])
    except is_ansible_aws_error_code("ClusterNotFoundException"):
        service = None
    if service is None or service.get("status") == "DRAINING":
        if service is not None and not check_mode:
            wait_until_gone(ecs, params)
        return False, {"service": service_result(service) if service else {}}, {"before": {}, "after": {}}, []
    diff = {"before": dict(current_definition(service), desired_count=service["desiredCount"]), "after": {}}
    if check_mode:
        return True, {"service": service_result(service)}, diff, []

    warnings = []
    name = params["name"]
    if service["desiredCount"] > 0:
        aws_call(
            f"scale service {name} to 0",
            partial(ecs.update_service, aws_retry=True, cluster=params["cluster"], service=name, desiredCount=0),
        )
    timeout = params["wait_timeout"]
    deadline = time.monotonic() + timeout
    while True:
        service = get_service(ecs, params["cluster"], name)
        if service is None:  # deleted by someone else meanwhile
            return True, {"service": {}}, diff, warnings
        if not (service["runningCount"] or service["pendingCount"]):
            break
        if time.monotonic() >= deadline:
            warnings.append(
                "Service {} still had {} running and {} pending tasks after {} s; deleted it with force, ECS "
                "stops them.".format(name, service["runningCount"], service["pendingCount"], timeout)
            )
            break
        time.sleep(poll_delay(timeout))
    deleted = aws_call(
        f"delete service {name}",
        partial(ecs.delete_service, aws_retry=True, cluster=params["cluster"], service=name, force=bool(warnings)),
    )["service"]
    wait_until_gone(ecs, params)
    return True, {"service": service_result(deleted)}, diff, warnings
