"""Every widget of a stack's dashboard against the stack: a widget that shows a metric the stack does not have is a bug.

``widget_problems(body, stack)`` checks each widget of a dashboard body (CloudWatch's "Dashboard Body Structure and
Syntax") against ``StackFacts``, what the stack really has and publishes:

- a metric widget's metrics: the namespace and metric name are one AWS documents (``AWS_METRICS``) or one the stack's
  code emits (``StackFacts.emitted``, from the EMF documents the app's and the scaler's code write), with one of the
  dimension sets it is published with, and every dimension value is a real resource of the stack (the load balancer
  and target group from their ARNs, a target group of that load balancer, the function, the cluster and its service)
  or, for an emitted metric, the value the emitting function writes; its region is the stack's;
- a metric widget with an alarm annotation, and an alarm widget: every alarm ARN exists;
- a log widget: every ``SOURCE`` log group exists, and every field the query lists is a member of the lines it reads
  (``StackFacts.log_fields``, from a real decision line);
- the layout: every widget on the 24-column grid, none overlapping another.

``read_stack_facts`` reads the facts from an AWS endpoint after a deployment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace

from tests.support.app_support import load_lambda_entry_metrics
from tests.support.scaler_stack import SCHEDULED_EVENT, load_scaler_module

GRID_COLUMNS = 24

_LB = frozenset({"LoadBalancer"})
_LB_AZ = frozenset({"LoadBalancer", "AvailabilityZone"})
_TG = frozenset({"LoadBalancer", "TargetGroup"})
_TG_AZ = frozenset({"LoadBalancer", "TargetGroup", "AvailabilityZone"})
_ELB = (_LB, _LB_AZ)  # a load balancer's own metrics
_ELB_AND_TARGETS = (_LB, _LB_AZ, _TG, _TG_AZ)  # also per target group
_TARGETS = (_TG, _TG_AZ)  # per target group only
_FUNCTION = tuple(
    frozenset(names)
    for names in ({"FunctionName"}, {"FunctionName", "Resource"}, {"FunctionName", "Resource", "ExecutedVersion"}, ())
)
_ECS_CLUSTER, _ECS_SERVICE = frozenset({"ClusterName"}), frozenset({"ClusterName", "ServiceName"})

# The metrics AWS documents for what the stack runs, and the dimension sets each is published with:
# - AWS/ApplicationELB: "CloudWatch metrics for your Application Load Balancer" (Elastic Load Balancing user guide) and
#   the per-metric dimension combinations of "Supported metrics for resource tags for telemetry" (CloudWatch user
#   guide): LambdaUserError and LambdaInternalError per target group (TargetGroup, with or without LoadBalancer).
# - AWS/Lambda: "Types of metrics for Lambda functions" (Lambda developer guide): per function (FunctionName; with
#   Resource; with Resource and ExecutedVersion) and for the whole account (no dimension).
# - AWS/ECS: without Container Insights (which the ecs_service role does not turn on) only CPU and memory, per cluster
#   and per service; ECS/ContainerInsights (task counts) does not exist for the stack.
AWS_METRICS: dict[str, dict[str, tuple[frozenset[str], ...]]] = {
    "AWS/ApplicationELB": {
        **dict.fromkeys(
            (
                "ActiveConnectionCount",
                "ClientTLSNegotiationErrorCount",
                "DesyncMitigationMode_NonCompliant_Request_Count",
                "DroppedInvalidHeaderRequestCount",
                "ELBAuthError",
                "ELBAuthFailure",
                "ELBAuthLatency",
                "ELBAuthRefreshTokenSuccess",
                "ELBAuthSuccess",
                "ELBAuthUserClaimsSizeExceeded",
                "ForwardedInvalidHeaderRequestCount",
                "HTTPCode_ELB_3XX_Count",
                "HTTPCode_ELB_4XX_Count",
                "HTTPCode_ELB_500_Count",
                "HTTPCode_ELB_502_Count",
                "HTTPCode_ELB_503_Count",
                "HTTPCode_ELB_504_Count",
                "HTTPCode_ELB_5XX_Count",
                "HTTP_Fixed_Response_Count",
                "HTTP_Redirect_Count",
                "HTTP_Redirect_Url_Limit_Exceeded_Count",
                "IPv6ProcessedBytes",
                "NewConnectionCount",
                "NonStickyRequestCount",
                "ProcessedBytes",
                "RejectedConnectionCount",
            ),
            _ELB,
        ),
        **dict.fromkeys(("ConsumedLCUs", "LambdaTargetProcessedBytes", "PeakLCUs", "RuleEvaluations"), (_LB,)),
        **dict.fromkeys(
            (
                "GrpcRequestCount",
                "HTTPCode_Target_2XX_Count",
                "HTTPCode_Target_3XX_Count",
                "HTTPCode_Target_4XX_Count",
                "HTTPCode_Target_5XX_Count",
                "IPv6RequestCount",
                "RequestCount",
                "TargetConnectionErrorCount",
                "TargetResponseTime",
                "TargetTLSNegotiationErrorCount",
            ),
            _ELB_AND_TARGETS,
        ),
        **dict.fromkeys(
            ("HealthyHostCount", "UnHealthyHostCount", "RequestCountPerTarget", "AnomalousHostCount"), _TARGETS
        ),
        **dict.fromkeys(("LambdaUserError", "LambdaInternalError"), (_TG, frozenset({"TargetGroup"}))),
    },
    "AWS/Lambda": {
        **dict.fromkeys(
            (
                "Invocations",
                "Errors",
                "DeadLetterErrors",
                "DestinationDeliveryFailures",
                "Throttles",
                "ProvisionedConcurrencyInvocations",
                "ProvisionedConcurrencySpilloverInvocations",
                "Duration",
                "PostRuntimeExtensionsDuration",
                "IteratorAge",
                "ConcurrentExecutions",
                "ProvisionedConcurrentExecutions",
                "ProvisionedConcurrencyUtilization",
            ),
            _FUNCTION,
        ),
        **dict.fromkeys(("UnreservedConcurrentExecutions", "ClaimedAccountConcurrency"), (frozenset(),)),
    },
    "AWS/ECS": {
        **dict.fromkeys(("CPUUtilization", "MemoryUtilization"), (_ECS_CLUSTER, _ECS_SERVICE)),
        **dict.fromkeys(("CPUReservation", "MemoryReservation", "GPUReservation"), (_ECS_CLUSTER,)),
    },
}


@dataclass
class StackFacts:
    """What the stack really has (read from AWS) and publishes (its code's EMF documents)."""

    region: str
    load_balancers: set[str] = field(default_factory=set)  # LoadBalancer dimension values: app/<name>/<id>
    target_groups: dict[str, set[str]] = field(default_factory=dict)  # targetgroup/<name>/<id> -> its load balancers
    functions: set[str] = field(default_factory=set)
    services: dict[str, set[str]] = field(default_factory=dict)  # cluster -> its services
    alarms: set[str] = field(default_factory=set)  # ARNs
    log_groups: set[str] = field(default_factory=set)
    # (namespace, metric) -> the dimensions ({name: value}) its emitters write it with.
    emitted: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=dict)
    log_fields: set[str] = field(default_factory=set)  # the members of the decision lines, nested ones as a.b

    def add_emf(self, document: dict, also_counted: Iterable[str] = ()) -> None:
        """Count the metrics of one EMF document as emitted, and ``also_counted`` too, under the same directive (the
        other metrics the same code writes in the same shape, e.g. one count per action)."""
        for directive in document["_aws"]["CloudWatchMetrics"]:
            names = [metric["Name"] for metric in directive["Metrics"]] + list(also_counted)
            for dimension_set in directive["Dimensions"]:
                dimensions = {name: document[name] for name in dimension_set}
                for name in names:
                    self.emitted.setdefault((directive["Namespace"], name), []).append(dimensions)


def flattened_fields(record: dict, prefix: str = "") -> set[str]:
    """The field names Logs Insights discovers in a JSON log line: nested members as ``a.b``."""
    fields = set()
    for key, value in record.items():
        fields.add(prefix + key)
        if isinstance(value, dict):
            fields |= flattened_fields(value, f"{prefix}{key}.")
    return fields


def _metric_rows(metrics: list) -> list[tuple[str, str, dict[str, str], dict]]:
    """``(namespace, metric, dimensions, options)`` of each single metric of a metrics array ("." repeats the
    previous row's item at that position, per the documented format); expressions are left out."""
    rows, previous = [], []
    for row in metrics:
        options = row[-1] if row and isinstance(row[-1], dict) else {}
        items = row[:-1] if options else list(row)
        if not items and "expression" in options:
            continue
        items = [previous[index] if item == "." and index < len(previous) else item for index, item in enumerate(items)]
        previous = items
        rows.append((items[0], items[1], dict(zip(items[2::2], items[3::2], strict=True)), options))
    return rows


def _dimension_problems(namespace: str, dimensions: dict[str, str], stack: StackFacts) -> list[str]:
    problems = []
    for name, value in dimensions.items():
        if name == "LoadBalancer" and value not in stack.load_balancers:
            problems.append(f"LoadBalancer {value} is not a load balancer of the stack")
        elif name == "TargetGroup":
            if value not in stack.target_groups:
                problems.append(f"TargetGroup {value} is not a target group of the stack")
            elif "LoadBalancer" in dimensions and dimensions["LoadBalancer"] not in stack.target_groups[value]:
                problems.append(f"TargetGroup {value} is not a target group of {dimensions['LoadBalancer']}")
        elif name == "FunctionName" and value not in stack.functions:
            problems.append(f"FunctionName {value} is not a function of the stack")
        elif name == "ClusterName" and value not in stack.services:
            problems.append(f"ClusterName {value} is not a cluster of the stack")
        elif name == "ServiceName" and value not in stack.services.get(dimensions.get("ClusterName", ""), set()):
            problems.append(f"ServiceName {value} is not a service of cluster {dimensions.get('ClusterName')}")
        elif name not in ("LoadBalancer", "TargetGroup", "FunctionName", "ClusterName", "ServiceName"):
            problems.append(f"dimension {name} is not one this check knows how to verify")
    return problems


def _metric_problems(namespace: str, metric: str, dimensions: dict[str, str], stack: StackFacts) -> list[str]:
    documented = AWS_METRICS.get(namespace, {}).get(metric)
    emitted = stack.emitted.get((namespace, metric))
    if documented is None and emitted is None:
        return [f"{namespace} {metric} is neither a metric AWS documents nor one the stack's code emits"]
    if documented is not None and frozenset(dimensions) not in documented:
        sets = ", ".join(sorted("{" + ", ".join(sorted(names)) + "}" for names in documented))
        return [f"{namespace} {metric} is not published with dimensions {sorted(dimensions)} (only {sets})"]
    if emitted is not None and dimensions not in emitted:
        return [f"{namespace} {metric} is emitted with dimensions {emitted}, not {dimensions}"]
    return _dimension_problems(namespace, dimensions, stack)


def _log_problems(query: str, stack: StackFacts) -> list[str]:
    problems = []
    sources = re.findall(r"SOURCE\s+'([^']+)'", query)
    if not sources:
        problems.append("the query names no SOURCE log group")
    problems += [f"log group {name} does not exist" for name in sources if name not in stack.log_groups]
    for fields in re.findall(r"\|\s*fields\s+([^|\n]+)", query):
        for name in (item.strip() for item in fields.split(",")):
            if not name.startswith("@") and name not in stack.log_fields:
                problems.append(f"field {name} is not a member of the lines the query reads")
    return problems


def _layout_problems(widgets: list[dict]) -> list[str]:
    problems, owners = [], {}
    for index, widget in enumerate(widgets):
        x, y, width, height = (widget.get(key) for key in ("x", "y", "width", "height"))
        if not all(isinstance(value, int) for value in (x, y, width, height)):
            problems.append(f"widget {index}: x, y, width and height must all be given (integers)")
            continue
        if x < 0 or y < 0 or width < 1 or height < 1 or x + width > GRID_COLUMNS:
            problems.append(f"widget {index}: x={x} width={width} does not fit the {GRID_COLUMNS}-column grid")
        cells = {(column, row) for column in range(x, x + width) for row in range(y, y + height)}
        problems += [
            f"widget {index} overlaps widget {other}" for other in sorted({owners[c] for c in cells & owners.keys()})
        ]
        owners.update(dict.fromkeys(cells, index))
    return problems


def widget_problems(body: dict, stack: StackFacts) -> list[str]:
    """What is wrong with ``body``'s widgets for ``stack`` (see the module's documentation); empty when nothing is."""
    problems = _layout_problems(body["widgets"])
    for index, widget in enumerate(body["widgets"]):
        properties = widget.get("properties", {})
        where = f"widget {index} ({properties.get('title', widget.get('type'))})"
        found: list[str] = []
        if widget["type"] == "metric":
            alarms = properties.get("annotations", {}).get("alarms", [])
            found += [f"alarm {arn} does not exist" for arn in alarms if arn not in stack.alarms]
            if alarms and "metrics" in properties:
                found.append("an alarm annotation and a metrics array in one widget")
            if not alarms and not properties.get("metrics"):
                found.append("neither metrics nor an alarm annotation")
            for namespace, metric, dimensions, options in _metric_rows(properties.get("metrics", [])):
                if options.get("region", properties.get("region")) != stack.region:
                    found.append(f"{namespace} {metric} is read in region {options.get('region')}, not {stack.region}")
                found += _metric_problems(namespace, metric, dimensions, stack)
        elif widget["type"] == "alarm":
            alarms = properties.get("alarms", [])
            if not 1 <= len(alarms) <= 100:
                found.append(f"{len(alarms)} alarms (an alarm widget takes 1 to 100)")
            found += [f"alarm {arn} does not exist" for arn in alarms if arn not in stack.alarms]
        elif widget["type"] == "log":
            found += _log_problems(properties.get("query", ""), stack)
        elif widget["type"] != "text":
            found.append(f"a {widget['type']} widget, which this check does not know")
        if widget["type"] in ("metric", "log") and properties.get("region") != stack.region:
            found.append(f"region {properties.get('region')}, not the stack's {stack.region}")
        problems += [f"{where}: {problem}" for problem in found]
    return problems


def read_stack_facts(client: Callable[[str], object], region: str) -> StackFacts:
    """The resources of the account and region ``client`` reaches (a private local AWS holds only the stack's)."""
    elbv2, lambda_, ecs, cloudwatch, logs = (client(name) for name in ("elbv2", "lambda", "ecs", "cloudwatch", "logs"))
    stack = StackFacts(region=region)
    for balancer in elbv2.describe_load_balancers()["LoadBalancers"]:
        stack.load_balancers.add(balancer["LoadBalancerArn"].split(":loadbalancer/", 1)[1])
    for group in elbv2.describe_target_groups()["TargetGroups"]:
        balancers = {arn.split(":loadbalancer/", 1)[1] for arn in group.get("LoadBalancerArns", [])}
        stack.target_groups[group["TargetGroupArn"].split(":")[-1]] = balancers
    stack.functions = {function["FunctionName"] for function in lambda_.list_functions()["Functions"]}
    for cluster_arn in ecs.list_clusters()["clusterArns"]:
        services = ecs.list_services(cluster=cluster_arn)["serviceArns"]
        stack.services[cluster_arn.rsplit("/", 1)[1]] = {arn.rsplit("/", 1)[1] for arn in services}
    stack.alarms = {alarm["AlarmArn"] for alarm in cloudwatch.describe_alarms()["MetricAlarms"]}
    stack.log_groups = {group["logGroupName"] for group in logs.describe_log_groups()["logGroups"]}
    return stack


def add_code_metrics(stack: StackFacts, app_function: str, scaler_function: str, scaler_environment: dict) -> dict:
    """Add what the stack's code emits, from the code itself: the app's emitter's line as ``app_function`` writes it,
    and a real decision line of the scaler (its code run once on a schedule event against the stack, configured by
    ``scaler_environment``, as ``scaler_function``) with the count of every other action it can take. Also sets the
    log fields from that line, which it returns."""
    metrics = load_lambda_entry_metrics()
    stack.add_emf(json.loads(metrics.emf_line(app_function, 0.0, 1.0, True)))
    scaler = load_scaler_module()
    decision = scaler.Scaler.from_environment(scaler_environment).handle(
        SCHEDULED_EVENT, SimpleNamespace(function_name=scaler_function)
    )
    stack.add_emf(decision, also_counted=scaler.ACTION_METRICS.values())
    stack.log_fields = flattened_fields(decision)
    return decision


def deployed_body(cloudwatch, name: str) -> dict:
    return json.loads(cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"])
