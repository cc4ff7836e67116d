"""Build a stack, or the part of one a test needs, with plain boto3, from composable pieces.

The playbooks are the real way to deploy; these pieces stand in for the roles where the lab or a test needs the
resources without running them. :mod:`lab.stack_fixture` composes a whole contract stack from them, and
``tests/support`` composes the smaller stacks of the module, role and scaler tests:

* :func:`network`: a VPC, two subnets in two zones and named security groups;
* :func:`load_balancer`, :func:`lambda_target_group`, :func:`ip_target_group`, :func:`weighted_listener`,
  :func:`rule`: the ALB side; forward actions come from the collection's one codec (``forward_action``);
* :func:`cluster`, :func:`task_definition`, :func:`service`: the ECS side;
* :func:`lambda_role`, :func:`function` and the zips :func:`app_zip`, :func:`scaler_zip`, :func:`stub_zip`,
  built with the collection's ``lambda_zip`` from what the roles give it (the trust policy is the
  lambda_function role's too); the app is an :class:`App` (:func:`describe_app`: the spillover_app role's
  description), whose function runs the collection's entry as :func:`app_function` says;
* :func:`alarm_requests`, :func:`alarms`: the alarm role's alarms, rendered from the role's own files.

``tags`` are ``{key: value}``; each piece writes them in its service's shape. The pieces are made for the local
AWS the lab and the tests run against, and say where AWS would ask for more.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.collection import (
    ROOT,
    RoleRenderError,
    app_lock,
    forward_action,
    lambda_zip,
    referenced_names,
    render,
    render_role,
    role_task_arguments,
    role_task_inputs,
    role_variables,
)

APP_DIR = ROOT / "files" / "app"
SCALER_DIR = ROOT / "files" / "scaler"
CONTAINER_NAME = "app"
CONTAINER_PORT = 8080
RUNTIME = "python3.12"
# What the lambda_zip module vendors with unless told otherwise (its cache_dir and python_version defaults).
ZIP_CACHE = Path("~/.cache/spillover.lambda_ecs/lambda_zip").expanduser()
ZIP_PYTHON_VERSION = RUNTIME.removeprefix("python")
# The app_lock module's cache_dir default (the spillover_app role's spillover_app_lock_cache_dir).
LOCK_CACHE = Path("~/.cache/spillover.lambda_ecs/app_lock").expanduser()
STUB_HANDLER = "app.lambda_handler"
# The code of a function that a test only needs to exist (the local AWS never runs it).
STUB_CODE = {"app.py": b"def lambda_handler(event, context):\n    return {}\n"}


def _tag_list(tags: Mapping[str, str] | None, key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: name, value: text} for name, text in (tags or {}).items()]


def _tagged(tags: Mapping[str, str] | None, **kwargs) -> dict:
    """``kwargs`` plus ``Tags`` (elbv2 shape) when there are tags: an empty ``TagList`` is invalid (min 1)."""
    return {**kwargs, "Tags": _tag_list(tags)} if tags else kwargs


# -- network ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Network:
    vpc_id: str
    subnet_ids: list[str]
    security_groups: dict[str, str]  # name: id


def network(ec2, region: str, cidr: str = "10.0.0.0/16", security_groups: tuple[str, ...] = ("tasks",)) -> Network:
    """A VPC of ``cidr``, its 2nd and 3rd /24 as subnets in zones a and b, and the named security groups."""
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    blocks = list(ipaddress.ip_network(cidr).subnets(new_prefix=24))[1:3]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=str(block), AvailabilityZone=f"{region}{zone}")["Subnet"]["SubnetId"]
        for block, zone in zip(blocks, "ab", strict=True)
    ]
    groups = {
        name: ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
        for name in security_groups
    }
    return Network(vpc, subnets, groups)


# -- load balancer, target groups, listener, rules ---------------------------------------------------------
def load_balancer(elbv2, name: str, where: Network, security_group: str, tags: Mapping[str, str] | None = None) -> str:
    """An application load balancer in ``where``'s subnets with its security group ``security_group``; its ARN."""
    created = elbv2.create_load_balancer(
        **_tagged(tags, Name=name, Subnets=where.subnet_ids, SecurityGroups=[where.security_groups[security_group]])
    )
    return created["LoadBalancers"][0]["LoadBalancerArn"]


def _target_group(elbv2, name: str, tags, attributes: Mapping[str, str] | None, **settings) -> str:
    arn = elbv2.create_target_group(**_tagged(tags, Name=name, **settings))["TargetGroups"][0]["TargetGroupArn"]
    if attributes:
        elbv2.modify_target_group_attributes(
            TargetGroupArn=arn, Attributes=[{"Key": key, "Value": value} for key, value in attributes.items()]
        )
    return arn


def lambda_target_group(
    elbv2,
    name: str,
    function_arn: str | None = None,
    attributes: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """A ``lambda`` target group, with ``function_arn`` registered when given; its ARN.

    AWS registers a function only once it lets elasticloadbalancing.amazonaws.com invoke it (the lambda_function
    role adds that permission first); the local AWS does not check.
    """
    arn = _target_group(elbv2, name, tags, attributes, TargetType="lambda")
    if function_arn:
        elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": function_arn}])
    return arn


def ip_target_group(
    elbv2,
    name: str,
    vpc_id: str,
    attributes: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    **health_check,
) -> str:
    """An HTTP ``ip`` target group on the container port in ``vpc_id``; ``health_check``: CreateTargetGroup's
    ``HealthCheck*``/``*ThresholdCount``/``Matcher`` parameters. Its ARN."""
    return _target_group(
        elbv2,
        name,
        tags,
        attributes,
        Protocol="HTTP",
        Port=CONTAINER_PORT,
        VpcId=vpc_id,
        TargetType="ip",
        **health_check,
    )


def register_ip_targets(elbv2, target_group_arn: str, addresses: list[str]) -> None:
    """Register ``addresses`` on the container port (the local AWS marks registered ip targets healthy at once)."""
    targets = [{"Id": address, "Port": CONTAINER_PORT} for address in addresses]
    elbv2.register_targets(TargetGroupArn=target_group_arn, Targets=targets)


def weighted_forward(weights: Mapping[str, int], stickiness_duration: int = 0) -> dict:
    """The weighted forward action of ``{target_group_arn: weight}``, as the codec writes it."""
    return forward_action.forward_action(forward_action.forward_state(weights, stickiness_duration))


def weighted_listener(
    elbv2,
    load_balancer_arn: str,
    weights: Mapping[str, int],
    stickiness_duration: int = 0,
    port: int = 80,
    tags: Mapping[str, str] | None = None,
) -> str:
    """An HTTP listener whose default action forwards to ``{target_group_arn: weight}``; its ARN."""
    created = elbv2.create_listener(
        **_tagged(
            tags,
            LoadBalancerArn=load_balancer_arn,
            Protocol="HTTP",
            Port=port,
            DefaultActions=[weighted_forward(weights, stickiness_duration)],
        )
    )
    return created["Listeners"][0]["ListenerArn"]


def rule(elbv2, listener_arn: str, priority: int, path_pattern: str, actions: list[dict]) -> str:
    """A listener rule taking ``actions`` for requests whose path matches ``path_pattern``; its ARN."""
    created = elbv2.create_rule(
        ListenerArn=listener_arn,
        Priority=priority,
        Conditions=[{"Field": "path-pattern", "Values": [path_pattern]}],
        Actions=actions,
    )
    return created["Rules"][0]["RuleArn"]


# -- ECS ---------------------------------------------------------------------------------------------------
def cluster(ecs, name: str, capacity_providers: list[str] | None = None, tags: Mapping[str, str] | None = None) -> str:
    """An ECS cluster; its ARN."""
    settings = {"clusterName": name}
    if capacity_providers:
        settings["capacityProviders"] = capacity_providers
    if tags:
        settings["tags"] = _tag_list(tags, "key", "value")
    return ecs.create_cluster(**settings)["cluster"]["clusterArn"]


def task_definition(
    ecs,
    family: str,
    image: str,
    environment: Mapping[str, str] | None = None,
    command: list[str] | None = None,
    **overrides,
) -> str:
    """A Fargate task definition (0.25 vCPU, 512 MiB) with one container ``app`` on the container port.

    ``overrides`` replace RegisterTaskDefinition parameters; an override of None leaves the parameter out.
    Returns the revision's ARN.
    """
    container: dict = {"name": CONTAINER_NAME, "image": image, "portMappings": [{"containerPort": CONTAINER_PORT}]}
    if environment:
        container["environment"] = [{"name": key, "value": value} for key, value in environment.items()]
    if command:
        container["command"] = command
    definition = {
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [container],
        **overrides,
    }
    registered = ecs.register_task_definition(**{key: value for key, value in definition.items() if value is not None})
    return registered["taskDefinition"]["taskDefinitionArn"]


def service(
    ecs,
    cluster_name: str,
    name: str,
    task_definition_arn: str,
    where: Network,
    security_group: str,
    target_group_arn: str,
    desired_count: int = 0,
    launch_type: str | None = "FARGATE",
    **settings,
) -> str:
    """A service in ``where``'s subnets behind ``target_group_arn`` (``settings``: more CreateService parameters);
    its ARN.

    AWS needs a listener that uses the target group first (the local AWS does not check), and accepts an awsvpc
    configuration without security groups (the local AWS answers HTTP 500).
    """
    if launch_type:
        settings["launchType"] = launch_type
    created = ecs.create_service(
        cluster=cluster_name,
        serviceName=name,
        taskDefinition=task_definition_arn,
        desiredCount=desired_count,
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": where.subnet_ids,
                "securityGroups": [where.security_groups[security_group]],
            }
        },
        loadBalancers=[
            {"targetGroupArn": target_group_arn, "containerName": CONTAINER_NAME, "containerPort": CONTAINER_PORT}
        ],
        **settings,
    )
    return created["service"]["serviceArn"]


# -- Lambda ------------------------------------------------------------------------------------------------
def lambda_role(iam, name: str) -> str:
    """An IAM role that Lambda may assume, with the lambda_function role's trust policy; its ARN."""
    trust = role_variables("lambda_function")["lambda_function__trust_policy"]
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def function(
    lam,
    name: str,
    role_arn: str,
    code: bytes,
    handler: str = STUB_HANDLER,
    reserved_concurrency: int | None = None,
    environment: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    **settings,
) -> str:
    """A Python function (``settings``: more CreateFunction parameters, e.g. ``Timeout``); its ARN."""
    if environment:
        settings["Environment"] = {"Variables": dict(environment)}
    if tags:
        settings["Tags"] = dict(tags)
    arn = lam.create_function(
        FunctionName=name, Runtime=RUNTIME, Role=role_arn, Handler=handler, Code={"ZipFile": code}, **settings
    )["FunctionArn"]
    if reserved_concurrency is not None:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved_concurrency)
    return arn


def run_command(argv: list[str], environ_update: dict[str, str]) -> tuple[int, str, str]:
    completed = subprocess.run(argv, env={**os.environ, **environ_update}, capture_output=True, text=True, check=False)
    return completed.returncode, completed.stdout, completed.stderr


@dataclass(frozen=True)
class App:
    """The app a stack deploys, as the spillover_app role describes it to both runtimes (site.yml passes it on)."""

    src: Path
    callable: str
    interface: str
    requirements: Path | None  # the app's pip requirements file; None: it has none
    health_path: str
    port: int

    def lambda_function_variables(self, lock: dict[str, Any] | None = None) -> dict[str, str]:
        """The lambda_function role's variables for this app, as site.yml sets them (``lock``: its
        :func:`lock_app`)."""
        return {
            "lambda_function_src": str(self.src),
            "lambda_function_requirements_file": str(self.requirements or ""),
            "lambda_function_requirements_lock": lock["targets"]["lambda"]["requirements"] if lock else "",
            "lambda_function_app_callable": self.callable,
            "lambda_function_app_interface": self.interface,
        }


def describe_app(
    src: Path | str | None = None,
    callable: str | None = None,
    interface: str | None = None,
    requirements: Path | str | None = None,
    health_path: str | None = None,
    port: int | None = None,
) -> App:
    """The app of these ``spillover_app_*`` values, the spillover_app role's defaults (the demo app) for the others.

    Paths are relative to the working directory, as for ansible-playbook. Without ``requirements`` the app's
    ``requirements.txt`` is used when it has one, as the role does (``spillover_app__requirements``).
    """
    names = ("src", "callable", "interface", "requirements", "health_path", "port")
    defaults = render_role("spillover_app", [f"spillover_app_{name}" for name in names])
    source = Path(src or defaults["spillover_app_src"]).resolve()
    found = requirements or defaults["spillover_app_requirements"]
    if found:
        found = Path(found).resolve()
    elif (source / "requirements.txt").is_file():
        found = source / "requirements.txt"
    return App(
        src=source,
        callable=callable or defaults["spillover_app_callable"],
        interface=interface or defaults["spillover_app_interface"],
        requirements=found or None,
        health_path=health_path or defaults["spillover_app_health_path"],
        port=int(port or defaults["spillover_app_port"]),
    )


def lock_app(app: App, cache_dir: Path = LOCK_CACHE) -> dict[str, Any]:
    """The app's lock as the spillover_app role makes it (its app_lock task's arguments, for the role's default
    platforms, site.yml's defaults): app_lock's ``ensure_lock`` result, ``targets`` by runtime name."""
    inputs = role_task_inputs(
        "spillover_app",
        "main.yml",
        "spillover.lambda_ecs.app_lock",
        ("src", "requirements_file", "lambda", "image", "pip_args"),
        {
            "spillover_app__src": str(app.src),
            "spillover_app__requirements": str(app.requirements or ""),
            "spillover_app_interface": app.interface,
        },
    )
    image = dict(inputs["image"])
    image["architecture"] = app_lock.PLATFORM_ARCHITECTURES[image.pop("platform")]
    targets = [dict(inputs["lambda"], name="lambda"), dict(image, name="image")]
    _, result = app_lock.ensure_lock(
        inputs["requirements_file"],
        targets,
        str(cache_dir),
        inputs["pip_args"],
        run_command,
        sys.executable,
        src=inputs["src"],
    )
    return result


def app_zip(app: App | None = None, cache_dir: Path = ZIP_CACHE, lock: dict[str, Any] | None = None) -> bytes:
    """The app's zip as the lambda_function role builds it for ``app`` (the default app when None), as site.yml
    has it: the ``src``, ``requirements_lock`` (the Lambda share of the app's ``lock``, :func:`lock_app`),
    ``extra_files`` (the collection's entry), Python version and architecture of its lambda_zip task, the lock
    vendored by pip once into ``cache_dir``."""
    app = app or describe_app()
    inputs = role_task_inputs(
        "lambda_function",
        "function.yml",
        "spillover.lambda_ecs.lambda_zip",
        ("src", "requirements_lock", "extra_files", "python_version", "architecture"),
        app.lambda_function_variables(lock or lock_app(app)),
    )
    data, _, _ = lambda_zip.build_package(
        inputs["src"],
        lambda_zip.LockFile(inputs["requirements_lock"]),
        lambda_zip.DEFAULT_EXCLUDE,
        str(cache_dir),
        inputs["python_version"],
        [],
        run_command,
        sys.executable,
        extra_files=inputs["extra_files"] or [],
        architecture=inputs["architecture"],
    )
    return data


def zip_extra_files(role: str) -> list[Path]:
    """What the role's zip packs at its root beside its sources (its lambda_zip task's ``extra_files``)."""
    inputs = role_task_inputs(role, "function.yml", "spillover.lambda_ecs.lambda_zip", ("extra_files",))
    return [Path(path).resolve() for path in inputs["extra_files"] or []]


def app_function(app: App | None = None) -> dict[str, Any]:
    """The handler and environment the lambda_function role gives the function of ``app`` (the collection's entry,
    ``spillover_entry.handler``, told the app's callable and interface): :func:`function`'s ``handler`` and
    ``environment``."""
    inputs = role_task_inputs(
        "lambda_function",
        "function.yml",
        "amazon.aws.lambda",
        ("handler", "environment_variables"),
        (app or describe_app()).lambda_function_variables(),
    )
    return {"handler": inputs["handler"], "environment": inputs["environment_variables"]}


def scaler_zip() -> bytes:
    """The scaler's zip as the scaler role builds it: the ``src`` and ``extra_files`` of its lambda_zip task."""
    inputs = role_task_inputs("scaler", "function.yml", "spillover.lambda_ecs.lambda_zip", ("src", "extra_files"))
    data, _, _ = lambda_zip.build_package(
        inputs["src"],
        [],
        lambda_zip.DEFAULT_EXCLUDE,
        str(ZIP_CACHE),  # not used: the scaler has no requirements
        ZIP_PYTHON_VERSION,
        [],
        run_command,
        sys.executable,
        extra_files=inputs["extra_files"],
    )
    return data


def stub_zip() -> bytes:
    return lambda_zip.zip_bytes(STUB_CODE)


# -- alarms ------------------------------------------------------------------------------------------------
# How amazon.aws.cloudwatch_metric_alarm names its options in PutMetricAlarm, and their types.
ALARM_OPTIONS = {
    "name": ("AlarmName", str),
    "description": ("AlarmDescription", str),
    "namespace": ("Namespace", str),
    "metric_name": ("MetricName", str),
    "statistic": ("Statistic", str),
    "dimensions": ("Dimensions", lambda value: [{"Name": key, "Value": text} for key, text in value.items()]),
    "comparison": ("ComparisonOperator", str),
    "threshold": ("Threshold", float),
    "period": ("Period", int),
    "evaluation_periods": ("EvaluationPeriods", int),
    "datapoints_to_alarm": ("DatapointsToAlarm", int),
    "treat_missing_data": ("TreatMissingData", str),
}
# What the module sends when these options are not set.
ALARM_DEFAULTS = {"AlarmActions": [], "InsufficientDataActions": [], "OKActions": [], "TreatMissingData": "missing"}


def alarm_requests(**alarm_variables) -> list[tuple[dict, dict]]:
    """``(definition, PutMetricAlarm request)`` of each alarm the alarm role creates with these variables.

    ``alarm_variables`` are the role's own (``alarm_stack_name``, ``alarm_period``...). The definitions come from
    its vars (``alarm__definitions``), the requests from its task that calls amazon.aws.cloudwatch_metric_alarm,
    rendered per definition as its loop would, and named as that module names them.
    """
    task = role_task_arguments("alarm", "present.yml", "amazon.aws.cloudwatch_metric_alarm")
    needed = (referenced_names(task["arguments"]) | referenced_names(task["loop"])) - {"item"}
    context = render_role("alarm", sorted(needed), alarm_variables)
    requests = []
    for item in render(task["loop"], context):
        arguments = render(task["arguments"], {**context, "item": item})
        if arguments.pop("state") != "present":
            raise RoleRenderError("roles/alarm/tasks/present.yml no longer creates the alarms with state=present")
        unknown = sorted(set(arguments) - set(ALARM_OPTIONS))
        if unknown:
            raise RoleRenderError(f"the alarm role sets {', '.join(unknown)}: teach lab/builder.py's ALARM_OPTIONS")
        request = dict(ALARM_DEFAULTS)
        for option, value in arguments.items():
            key, convert = ALARM_OPTIONS[option]
            request[key] = convert(value)
        requests.append((item, request))
    return requests


def alarms(cloudwatch, **alarm_variables) -> list[dict]:
    """Create the alarm role's alarms (see :func:`alarm_requests`); their definitions, each with its ``arn``."""
    created = []
    for definition, request in alarm_requests(**alarm_variables):
        cloudwatch.put_metric_alarm(**request)
        [alarm] = cloudwatch.describe_alarms(AlarmNames=[request["AlarmName"]])["MetricAlarms"]
        created.append({**definition, "arn": alarm["AlarmArn"]})
    return created
