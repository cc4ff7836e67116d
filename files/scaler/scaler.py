"""Spillover scaler: moves ALB forward weights from Lambda to ECS Fargate in health-gated steps, and back.

Runs as a Lambda function (boto3/botocore and the standard library only). EventBridge invokes it on the
"CloudWatch Alarm State Change" events of its own alarms (the fast path), on the "ECS Task State Change" events of
its own service (a task is running: its target is about to pass the health check) and on a schedule (every minute)
that carries steps, cooldown and drain forward. Each invocation is level-triggered: it reads the real
state (alarm states, forward weights, service counts, ECS target health, the last-move tag), asks the
pure function ``decide`` for one step toward where the system should be, writes only what differs and
returns (and prints as one JSON line) a decision record.

Several listeners (HTTP and HTTPS, each with the stack's weighted forward: ``SPILLOVER_LISTENER_ARNS``) move as one:
one Describe call reads them all, the decision is made on the first one's weights, where the ``spillover:last-move``
tag lives, and every listener whose share differs from the decided one is written (the first first), so a listener
left behind (a write cut short, a hand edit) converges within the same invocation. A disagreement is logged
(``disagreement``, level ``WARNING``) with every listener's weights in ``inputs.listeners``.

The health gate: when the step that is due waits only for healthy ECS targets and some task is being
health-checked, the invocation polls DescribeTargetHealth (a sleep between polls), for at most the target group's
health check (interval x healthy threshold) plus a margin and never past its own remaining time less a margin, and
takes the step the moment enough targets are healthy. A timeout loses nothing: the record says so and the next
event or the schedule carries on. With nothing being health-checked it does not sleep at all. ``SPILLOVER_HEALTH_GATE``
``false`` turns the gate off: such a step then waits for the next event or the schedule.

What it did, as metrics: the decision line also carries embedded-metric-format members (the app's emitter,
``emf_members``), namespace ``Spillover``, dimension ``FunctionName`` (this function, ``<stack>-scaler``), at
1-second resolution: the gauges ``EcsShare`` (percent of traffic the forward action sends to ECS after the
invocation), ``DesiredCount`` (the service's desired count after it), ``RunningCount`` and ``HealthyTargets`` (as
read), and a count of 1 under the action's own metric (``ACTION_METRICS``: ``StepUp``, ``Noop``...). An ignored event
or an error counts its action only. So the weights, the tasks and the decisions plot over time (the dashboard role's
widgets), and Logs Insights still reads the decision from the same line.

Configuration comes from ``SPILLOVER_*`` environment variables and is validated when the module is
imported. Importing never raises: an invalid configuration is kept and raised as ``ConfigError`` (listing
every problem) by each ``handler`` call, so the invocation fails visibly while tests and tools can still
import the module.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import boto3
from botocore.config import Config

# The collection's standard-library modules, packed beside this file into the zip (roles/scaler, lambda_zip's
# extra_files): the one forward-action codec, the one count of healthy targets, and the app's EMF emitter.
from forward_action import read_forward, reweighted, write_forward
from spillover_metrics import DIMENSION, current_function_name, emf_members
from target_health import count_healthy

LAST_MOVE_TAG = "spillover:last-move"
# Standard retry mode retries throttling and transient errors with backoff; max_attempts counts the retries only.
BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=15)
# A last-move tag further in the future than this is not trusted (clock skew between hosts is far smaller).
MAX_CLOCK_SKEW_SECONDS = 60
# DescribeAlarms accepts at most 100 alarm names per call.
MAX_ALARMS = 100
# The step-down guard reads this many complete metric periods back from the end of its window (metric_window_end).
METRIC_WINDOW_PERIODS = 3
# CloudWatch accepts these periods below a minute (high-resolution metrics), else multiples of 60.
SUB_MINUTE_PERIODS = (1, 5, 10, 30)
# The health gate: seconds between two DescribeTargetHealth polls; seconds of wait beyond the target group's
# interval x healthy threshold; seconds of the invocation's remaining time kept for the reads and writes after it.
HEALTH_POLL_SECONDS = 1.0
HEALTH_WAIT_MARGIN_SECONDS = 5
REMAINING_TIME_MARGIN_SECONDS = 10
# When DescribeTargetGroups leaves them out: the defaults of an ip target group.
DEFAULT_HEALTH_CHECK_INTERVAL, DEFAULT_HEALTHY_THRESHOLD = 30, 5
FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}$")

ALARM, OK = "ALARM", "OK"
# Every action of a decision record (Decision.action, and the record's own "ignored" and "error"), and the EMF metric
# that counts it.
ACTION_METRICS = {
    "noop": "Noop",
    "warm": "Warm",
    "scale_out": "ScaleOut",
    "step_up": "StepUp",
    "step_down": "StepDown",
    "scale_in": "ScaleIn",
    "fail_back": "FailBack",
    "ignored": "Ignored",
    "error": "Error",
}
_ARN = r"arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:"
LISTENER_ARN = re.compile(_ARN + r"listener/app/([^/]+/[0-9a-f]+)/[0-9a-f]+$")  # group 1: the load balancer
ARN_PATTERNS = {
    "SPILLOVER_RULE_ARN": re.compile(_ARN + r"listener-rule/app/[^/]+/[0-9a-f]+/[0-9a-f]+/[0-9a-f]+$"),
    "SPILLOVER_LAMBDA_TARGET_GROUP_ARN": re.compile(_ARN + r"targetgroup/[^/]+/[0-9a-f]+$"),
    "SPILLOVER_ECS_TARGET_GROUP_ARN": re.compile(_ARN + r"targetgroup/[^/]+/[0-9a-f]+$"),
}


class ConfigError(ValueError):
    """The environment does not describe a valid scaler; ``problems`` lists every problem found."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid scaler configuration: " + "; ".join(problems))


class ScalerError(RuntimeError):
    """The managed resources are not in a shape the scaler can work with (e.g. no forward action)."""


@dataclass(frozen=True)
class ScalerConfig:
    cluster: str
    service: str
    # Every listener whose default action is the stack's weighted forward (HTTP and HTTPS), all of one load balancer.
    # They move as one: the same weights, one decision, one last-move record on the first (see state_arn).
    listener_arns: tuple[str, ...]
    rule_arn: str | None  # a rule of the one listener, moved instead of its default action
    lambda_target_group_arn: str
    ecs_target_group_arn: str
    spill_alarms: tuple[str, ...]
    warm_alarms: tuple[str, ...]
    spill_tasks: int
    standby_tasks: int
    steps: tuple[int, ...]
    step_seconds: int
    cooldown_seconds: int
    drain_seconds: int | None  # None: the ECS target group's deregistration delay, read once per cold start
    # The step-down guard: off (the old behaviour) when the app function is not named.
    function_name: str | None = None
    step_down_max_share: float = 0.6  # of the app function's reserved concurrency
    metric_period_seconds: int = 60
    # AWS/Lambda and AWS/ApplicationELB datapoints reach CloudWatch minutes after their period: the guard's window
    # ends this long before now, at a period boundary, so it holds only delivered, complete periods.
    metric_lag_seconds: int = 180
    health_gate: bool = True  # wait in the invocation for the targets a due step needs (SPILLOVER_HEALTH_GATE)

    @property
    def listener_arn(self) -> str:
        """The first listener: the one whose load balancer the step-down guard's metrics name."""
        return self.listener_arns[0]

    @property
    def forward_arns(self) -> tuple[str, ...]:
        """The resources whose forward actions the scaler moves, the first one first: the rule, or every listener."""
        return (self.rule_arn,) if self.rule_arn else self.listener_arns

    @property
    def state_arn(self) -> str:
        """The resource whose weights the decision is made on and whose tag remembers the last move: the rule, or the
        first listener. One record, in one place that does not move: a scaler of one listener keeps its record when
        listeners are added after it. This one is written first, so a write cut short leaves only listeners after
        it behind, and they converge on the next decision."""
        return self.forward_arns[0]

    @property
    def alarm_names(self) -> tuple[str, ...]:
        return self.spill_alarms + self.warm_alarms


def _names(raw: str) -> list[str]:
    return [name.strip() for name in raw.split(",")] if raw.strip() else []


def _integer(
    environ: Mapping[str, str], key: str, default: int | None, minimum: int, problems: list[str]
) -> int | None:
    raw = environ.get(key, "").strip()
    if not raw:
        if default is None:
            problems.append(f"{key} is required (an integer >= {minimum})")
        return default
    try:
        value = int(raw)
    except ValueError:
        problems.append(f"{key} must be an integer >= {minimum}, got {raw!r}")
        return default
    if value < minimum:
        problems.append(f"{key} must be >= {minimum}, got {value}")
        return default
    return value


def _listener_arns(environ: Mapping[str, str], problems: list[str]) -> tuple[list[str], str]:
    """The listeners to move, from ``SPILLOVER_LISTENER_ARNS`` (comma-separated) or, for one listener,
    ``SPILLOVER_LISTENER_ARN``; and the variable they came from, for messages."""
    many, one = environ.get("SPILLOVER_LISTENER_ARNS", "").strip(), environ.get("SPILLOVER_LISTENER_ARN", "").strip()
    if many and one:
        problems.append("set SPILLOVER_LISTENER_ARNS, or SPILLOVER_LISTENER_ARN for one listener, not both")
    key = "SPILLOVER_LISTENER_ARN" if one and not many else "SPILLOVER_LISTENER_ARNS"
    arns = _names(many) if many else [one] if one else []
    if not arns:
        problems.append("SPILLOVER_LISTENER_ARNS is required (comma-separated listener ARNs)")
    if len(arns) == 1 and not LISTENER_ARN.match(arns[0]):
        problems.append(f"{key} is not an application load balancer listener ARN")
        return arns, key
    bad = [arn for arn in arns if not LISTENER_ARN.match(arn)]
    if bad:
        problems.append(f"{key} has what is not an application load balancer listener ARN: {', '.join(map(repr, bad))}")
    elif len(set(arns)) != len(arns):
        problems.append(f"{key} names a listener twice")
    elif len({LISTENER_ARN.match(arn).group(1) for arn in arns}) > 1:
        problems.append(f"{key} must name listeners of one load balancer (the step-down guard reads its metrics)")
    return arns, key


def load_config(environ: Mapping[str, str]) -> ScalerConfig:
    """Read and validate the ``SPILLOVER_*`` variables; raise one ``ConfigError`` listing every problem."""
    problems: list[str] = []
    listener_arns, listeners_key = _listener_arns(environ, problems)
    text: dict[str, str] = {}
    for key in ("SPILLOVER_CLUSTER", "SPILLOVER_SERVICE", *ARN_PATTERNS):
        value = environ.get(key, "").strip()
        text[key] = value
        if not value:
            if key != "SPILLOVER_RULE_ARN":
                problems.append(f"{key} is required")
        elif key in ARN_PATTERNS and not ARN_PATTERNS[key].match(value):
            problems.append(f"{key} is not an application load balancer {key[11:-4].lower().replace('_', ' ')} ARN")
    if text["SPILLOVER_LAMBDA_TARGET_GROUP_ARN"] and (
        text["SPILLOVER_LAMBDA_TARGET_GROUP_ARN"] == text["SPILLOVER_ECS_TARGET_GROUP_ARN"]
    ):
        problems.append("SPILLOVER_LAMBDA_TARGET_GROUP_ARN and SPILLOVER_ECS_TARGET_GROUP_ARN must differ")
    rule_arn = text["SPILLOVER_RULE_ARN"]
    if rule_arn and len(listener_arns) > 1:
        problems.append(f"SPILLOVER_RULE_ARN moves a rule of one listener: give {listeners_key} one listener with it")
    elif (
        rule_arn
        and listener_arns
        and not rule_arn.startswith(listener_arns[0].replace(":listener/", ":listener-rule/"))
    ):
        problems.append(f"SPILLOVER_RULE_ARN must be a rule of {listeners_key}")

    alarms: dict[str, list[str]] = {}
    for key, required in (("SPILLOVER_SPILL_ALARMS", True), ("SPILLOVER_WARM_ALARMS", False)):
        names = _names(environ.get(key, ""))
        alarms[key] = names
        if not names and required:
            problems.append(f"{key} is required (comma-separated alarm names)")
        if "" in names:
            problems.append(f"{key} has an empty alarm name")
        if len(set(names)) != len(names):
            problems.append(f"{key} names an alarm twice")
    spill_alarms, warm_alarms = alarms["SPILLOVER_SPILL_ALARMS"], alarms["SPILLOVER_WARM_ALARMS"]
    both = sorted(set(spill_alarms) & set(warm_alarms) - {""})
    if both:
        problems.append(f"alarms cannot be both spill and warm alarms: {', '.join(both)}")
    if len(spill_alarms) + len(warm_alarms) > MAX_ALARMS:
        problems.append(f"at most {MAX_ALARMS} spill and warm alarms in all")

    spill_tasks = _integer(environ, "SPILLOVER_SPILL_TASKS", None, 1, problems)
    standby_tasks = _integer(environ, "SPILLOVER_STANDBY_TASKS", 0, 0, problems)
    if spill_tasks is not None and standby_tasks is not None and standby_tasks > spill_tasks:
        problems.append(
            f"SPILLOVER_STANDBY_TASKS ({standby_tasks}) must not exceed SPILLOVER_SPILL_TASKS ({spill_tasks})"
        )
    steps: list[int] = []
    raw_steps = environ.get("SPILLOVER_STEPS", "").strip() or "25,50,100"
    try:
        steps = [int(step) for step in _names(raw_steps)]
    except ValueError:
        problems.append(f"SPILLOVER_STEPS must be comma-separated integers (percent), got {raw_steps!r}")
    if steps and (any(not 1 <= step <= 100 for step in steps) or steps != sorted(set(steps))):
        problems.append(f"SPILLOVER_STEPS must be strictly ascending percentages in 1..100, got {raw_steps!r}")
    step_seconds = _integer(environ, "SPILLOVER_STEP_SECONDS", 60, 0, problems)
    cooldown_seconds = _integer(environ, "SPILLOVER_COOLDOWN_SECONDS", 300, 0, problems)
    drain_seconds = None
    if environ.get("SPILLOVER_DRAIN_SECONDS", "").strip():
        drain_seconds = _integer(environ, "SPILLOVER_DRAIN_SECONDS", None, 0, problems)
    function_name = environ.get("SPILLOVER_FUNCTION_NAME", "").strip() or None
    if function_name and not FUNCTION_NAME.match(function_name):
        problems.append(f"SPILLOVER_FUNCTION_NAME must be a Lambda function name (not an ARN), got {function_name!r}")
    step_down_max_share = 0.6
    raw_share = environ.get("SPILLOVER_STEP_DOWN_MAX_SHARE", "").strip()
    if raw_share:
        try:
            step_down_max_share = float(raw_share)
        except ValueError:
            step_down_max_share = math.nan
        if not 0 < step_down_max_share <= 1:
            problems.append(f"SPILLOVER_STEP_DOWN_MAX_SHARE must be a number in (0, 1], got {raw_share!r}")
    metric_period = _integer(environ, "SPILLOVER_METRIC_PERIOD_SECONDS", 60, 1, problems)
    if metric_period is not None and metric_period not in SUB_MINUTE_PERIODS and metric_period % 60:
        problems.append(
            f"SPILLOVER_METRIC_PERIOD_SECONDS must be 1, 5, 10, 30 or a multiple of 60, got {metric_period}"
        )
    metric_lag = _integer(environ, "SPILLOVER_METRIC_LAG_SECONDS", 180, 0, problems)
    raw_gate = environ.get("SPILLOVER_HEALTH_GATE", "").strip().lower() or "true"
    if raw_gate not in ("true", "false"):
        problems.append(f"SPILLOVER_HEALTH_GATE must be true or false, got {environ['SPILLOVER_HEALTH_GATE']!r}")
    if not (environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")):
        problems.append("AWS_REGION is not set")
    if problems:
        raise ConfigError(problems)
    return ScalerConfig(
        cluster=text["SPILLOVER_CLUSTER"],
        service=text["SPILLOVER_SERVICE"],
        listener_arns=tuple(listener_arns),
        rule_arn=rule_arn or None,
        lambda_target_group_arn=text["SPILLOVER_LAMBDA_TARGET_GROUP_ARN"],
        ecs_target_group_arn=text["SPILLOVER_ECS_TARGET_GROUP_ARN"],
        spill_alarms=tuple(spill_alarms),
        warm_alarms=tuple(warm_alarms),
        spill_tasks=spill_tasks,
        standby_tasks=standby_tasks,
        steps=tuple(steps),
        step_seconds=step_seconds,
        cooldown_seconds=cooldown_seconds,
        drain_seconds=drain_seconds,
        function_name=function_name,
        step_down_max_share=step_down_max_share,
        metric_period_seconds=metric_period,
        metric_lag_seconds=metric_lag,
        health_gate=raw_gate == "true",
    )


# ---------------------------------------------------------------------------------------------------------
# The pure part: events and decisions, no AWS.


@dataclass(frozen=True)
class AlarmState:
    value: str  # OK, ALARM or INSUFFICIENT_DATA
    since: datetime | None  # when the alarm last changed state (state_changed_at); None: not known


def state_changed_at(alarm: Mapping) -> datetime | None:
    """When a DescribeAlarms alarm last changed state: its StateTransitionedTimestamp.

    StateUpdatedTimestamp also moves when only the alarm's evaluation state changes, so it is the fallback only, for
    an API that does not return the transition time (the local AWS, moto): it is never earlier than the transition,
    so a cooldown counted from it is never shorter. Neither (no AWS answer lacks both): None, which counts as long
    settled, as an alarm whose state never changed.
    """
    return alarm.get("StateTransitionedTimestamp") or alarm.get("StateUpdatedTimestamp")


@dataclass(frozen=True)
class ScalerState:
    alarms: Mapping[str, AlarmState]  # an owned alarm that does not exist is absent
    lambda_weight: int
    ecs_weight: int
    desired_count: int
    running_count: int
    pending_count: int
    healthy_targets: int
    last_move: datetime | None  # when the scaler last moved the weights (the tag on the listener or rule)
    checking_targets: int = 0  # ECS targets still in their first health checks (state "initial")

    @property
    def ecs_share(self) -> int:
        return ecs_share(self.lambda_weight, self.ecs_weight)

    @property
    def health_checks_running(self) -> bool:
        """Some ECS target may pass its health check soon: a target in its first checks, or a running task whose
        target is not healthy yet (ECS registers a task's target once it runs)."""
        return self.checking_targets > 0 or self.running_count > self.healthy_targets


@dataclass(frozen=True)
class Decision:
    action: str  # noop, warm, scale_out, step_up, step_down, scale_in, fail_back
    reason: str
    ecs_share: int  # percent of traffic to ECS after the decision
    desired_count: int  # the service's desired count after the decision
    # The healthy ECS targets the due step needs, when they are all it waits for (the health gate may wait).
    healthy_needed: int | None = None


def ecs_share(lambda_weight: int, ecs_weight: int) -> int:
    total = lambda_weight + ecs_weight
    return round(100 * ecs_weight / total) if total else 0


def _share(weights: Mapping[str, int]) -> int:
    """The ECS share of ``{"lambda": weight, "ecs": weight}``."""
    return ecs_share(weights["lambda"], weights["ecs"])


def healthy_targets_needed(step: int, spill_tasks: int) -> int:
    """Healthy ECS targets a step needs: its share of the spill tasks, at least one; 100% needs all of them."""
    return max(1, math.ceil(spill_tasks * step / 100))


def step_above(share: int, steps: tuple[int, ...]) -> int | None:
    return next((step for step in steps if step > share), None)


def step_below(share: int, steps: tuple[int, ...]) -> int:
    return max((step for step in steps if step < share), default=0)


def _seconds_since(moment: datetime | None, now: datetime) -> float:
    """Seconds from ``moment`` to ``now``; never moved (or an untrustworthy future tag) counts as forever."""
    if moment is None:
        return math.inf
    elapsed = (now - moment).total_seconds()
    return math.inf if elapsed < -MAX_CLOCK_SKEW_SECONDS else max(0.0, elapsed)


def _not_ok(names: tuple[str, ...], alarms: Mapping[str, AlarmState]) -> list[str]:
    problems = []
    for name in names:
        if name not in alarms:
            problems.append(f"{name} does not exist")
        elif alarms[name].value != OK:
            problems.append(f"{name} is {alarms[name].value}")
    return problems


def _settling(
    names: tuple[str, ...], alarms: Mapping[str, AlarmState], cooldown: int, now: datetime
) -> tuple[list[str], int]:
    """What keeps the alarms ``names`` from counting as settled: those not OK, else the whole seconds of cooldown
    left since the last of them changed state (0 when they are settled)."""
    unsettled = _not_ok(names, alarms)
    if unsettled:
        return unsettled, 0
    left = max((cooldown - _seconds_since(alarms[name].since, now) for name in names), default=0.0)
    return [], math.ceil(left) if left > 0 else 0


def decide(state: ScalerState, config: ScalerConfig, now: datetime) -> Decision:
    """One step toward where the system should be, from the real state; pure (no AWS, no clock of its own)."""
    share, desired, healthy = state.ecs_share, state.desired_count, state.healthy_targets
    spilling = [name for name in config.spill_alarms if name in state.alarms and state.alarms[name].value == ALARM]
    since_move = _seconds_since(state.last_move, now)
    step_wait = config.step_seconds - since_move

    def hold(reason: str, new_desired: int = desired) -> Decision:
        return Decision("noop" if new_desired == desired else "scale_out", reason, share, new_desired)

    if share > 0 and healthy == 0:
        new_desired = max(desired, config.spill_tasks) if spilling else desired
        return Decision(
            "fail_back", f"no healthy ECS target at {share}% ECS: all traffic back to Lambda", 0, new_desired
        )

    if spilling:
        new_desired = max(desired, config.spill_tasks)
        alarm_text = f"{', '.join(spilling)} in ALARM"
        target = step_above(share, config.steps)
        if target is None:
            return hold(f"{alarm_text}; at the top step ({share}% ECS)", new_desired)
        if step_wait > 0:
            return hold(f"{alarm_text}; next step {target}% in {math.ceil(step_wait)}s (step time)", new_desired)
        needed = healthy_targets_needed(target, config.spill_tasks)
        if healthy < needed:
            reason = f"{alarm_text}; {target}% needs {needed} healthy ECS targets, {healthy} healthy"
            return replace(hold(reason, new_desired), healthy_needed=needed)
        return Decision(
            "step_up", f"{alarm_text}; {healthy} healthy ECS targets: {share}% -> {target}%", target, new_desired
        )

    if share > 0:
        unsettled, cooling = _settling(config.spill_alarms, state.alarms, config.cooldown_seconds, now)
        if unsettled:
            return hold(f"holding at {share}% ECS: {', '.join(unsettled)}")
        if cooling:
            return hold(f"spill alarms OK; cooldown {cooling}s left at {share}% ECS")
        target = step_below(share, config.steps)
        if step_wait > 0:
            return hold(f"cooldown over; next step down to {target}% in {math.ceil(step_wait)}s (step time)")
        return Decision("step_down", f"spill alarms OK for the cooldown: {share}% -> {target}%", target, desired)

    warming = [name for name in config.warm_alarms if name in state.alarms and state.alarms[name].value == ALARM]
    if warming:
        new_desired = max(desired, config.spill_tasks)
        reason = f"{', '.join(warming)} in ALARM: capacity up, weights unchanged"
        return Decision("warm" if new_desired != desired else "noop", reason, share, new_desired)
    if desired < config.standby_tasks:
        return hold(f"desired count {desired} below standby {config.standby_tasks}", config.standby_tasks)
    if desired > config.standby_tasks:
        unsettled, cooling = _settling(config.alarm_names, state.alarms, config.cooldown_seconds, now)
        if unsettled:
            return hold(f"{desired} tasks kept: {', '.join(unsettled)}")
        if cooling:
            return hold(f"alarms OK; cooldown {cooling}s left before scaling in")
        drain_left = (config.drain_seconds or 0) - since_move
        if drain_left > 0:
            return hold(f"at 0% ECS; draining {math.ceil(drain_left)}s more before scaling in")
        reason = f"alarms OK and drained at 0% ECS: {desired} -> {config.standby_tasks} tasks"
        return Decision("scale_in", reason, share, config.standby_tasks)
    return hold("idle: alarms quiet, all traffic on Lambda" if share == 0 else f"steady at {share}% ECS")


@dataclass(frozen=True)
class LoadEstimate:
    """What the step-down guard knows of the recent load (the complete metric periods of its window)."""

    request_rate: float | None  # requests per second over both target groups in the busiest period; None: no data
    duration: float | None  # seconds per request; None: neither source had a datapoint
    duration_source: str  # "AWS/Lambda Duration", "ECS TargetResponseTime" or "none"
    capacity: int | None  # the app function's reserved concurrency; None: none reserved
    window_end: datetime | None = None  # the end of the metric window read (metric_window_end)


def metric_window_end(now: datetime, period: int, lag_seconds: int) -> datetime:
    """The end of the step-down guard's metric window: the last period boundary at least ``lag_seconds`` before
    ``now`` (periods aligned as CloudWatch aligns them). The periods after it are still filling, or filled but not
    delivered yet (AWS/Lambda and AWS/ApplicationELB metrics arrive minutes late); counting them would
    underestimate the rate and step down too early."""
    return datetime.fromtimestamp(math.floor((now.timestamp() - lag_seconds) / period) * period, UTC)


# GetMetricData query ids (lower-case letters first, as CloudWatch requires).
LAMBDA_REQUESTS, ECS_REQUESTS, LAMBDA_DURATION, ECS_RESPONSE_TIME = "lambdarequests", "ecsrequests", "duration", "ecsrt"


def load_from_metrics(results: list[dict], period: int, capacity: int | None) -> LoadEstimate:
    """The load estimate from GetMetricData's ``MetricDataResults``; pure.

    The request rate is the busiest period's (both target groups' RequestCount summed per period; the ALB
    publishes nothing for a period without requests). The duration is the mean of the per-period averages of
    the app function's Duration or, when Lambda got no traffic (all of it on ECS), of the ECS target group's
    TargetResponseTime: the same app.
    """
    series = {
        result["Id"]: list(zip(result.get("Timestamps", []), result.get("Values", []), strict=True))
        for result in results
    }
    requests: dict[datetime, float] = {}
    for query_id in (LAMBDA_REQUESTS, ECS_REQUESTS):
        for moment, value in series.get(query_id, []):
            requests[moment] = requests.get(moment, 0.0) + value
    rate = max(requests.values()) / period if requests else None
    duration, source = None, "none"
    for query_id, scale, name in (
        (LAMBDA_DURATION, 1000.0, "AWS/Lambda Duration"),
        (ECS_RESPONSE_TIME, 1.0, "ECS TargetResponseTime"),
    ):
        values = [value for _timestamp, value in series.get(query_id, [])]
        if values:
            duration, source = sum(values) / len(values) / scale, name
            break
    return LoadEstimate(rate, duration, source, capacity)


def guard_step_down(
    decision: Decision, state: ScalerState, load: LoadEstimate, config: ScalerConfig
) -> tuple[Decision, dict]:
    """Hold a ``step_down`` when Lambda would not fit the traffic at the next step (Little's law); pure.

    Lambda would need ``rate x next Lambda share x duration`` concurrent executions; the step is taken only
    when that stays below ``step_down_max_share`` of the app function's reserved concurrency. With no
    reserved concurrency, or no recent rate or duration, the guard cannot judge and the step is taken as
    before (the level-triggered loop spills again if Lambda throttles). Returns the decision and its inputs.
    """
    lambda_share = (100 - decision.ecs_share) / 100
    inputs: dict = {
        "request_rate": None if load.request_rate is None else round(load.request_rate, 3),
        "duration_seconds": None if load.duration is None else round(load.duration, 4),
        "duration_source": load.duration_source,
        "next_lambda_share": lambda_share,
        "required_concurrency": None,
        "capacity": load.capacity,
        "max_concurrency": None if load.capacity is None else round(config.step_down_max_share * load.capacity, 3),
        "period_seconds": config.metric_period_seconds,
        "window_end": _iso(load.window_end),
    }
    if load.capacity is None:
        inputs["verdict"] = "skipped: the app function has no reserved concurrency"
        return replace(decision, reason=f"{decision.reason} (step-down guard skipped: no reserved concurrency)"), inputs
    if load.request_rate is None or load.duration is None:
        missing = "request rate" if load.request_rate is None else "duration"
        inputs["verdict"] = f"unknown: no recent {missing}"
        return replace(decision, reason=f"{decision.reason} (step-down guard: no recent {missing})"), inputs
    required = load.request_rate * lambda_share * load.duration
    limit = config.step_down_max_share * load.capacity
    inputs["required_concurrency"] = round(required, 3)
    estimate = (
        f"{decision.ecs_share}% ECS leaves Lambda ~{required:.1f} concurrent executions "
        f"({load.request_rate:.1f} req/s x {lambda_share:.0%} x {load.duration:.3f}s, {load.duration_source}); "
        f"limit {limit:.1f} ({config.step_down_max_share:.0%} of {load.capacity} reserved)"
    )
    if required < limit:
        inputs["verdict"] = "fits"
        return replace(decision, reason=f"{decision.reason}; {estimate}"), inputs
    inputs["verdict"] = "hold"
    held = Decision("noop", f"holding at {state.ecs_share}% ECS: {estimate}", state.ecs_share, decision.desired_count)
    return held, inputs


SCHEDULE = ("aws.events", "Scheduled Event")
ALARM_CHANGE = ("aws.cloudwatch", "CloudWatch Alarm State Change")
TASK_CHANGE = ("aws.ecs", "ECS Task State Change")


def _resource_name(name_or_arn: str) -> str:
    """The name of an ECS cluster or service given by name or by ARN (``...:service/<cluster>/<name>``)."""
    return name_or_arn.rsplit("/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn


def _classify_task_event(detail: object, config: ScalerConfig) -> str | None:
    """An "ECS Task State Change" wakes the scaler only for a task of its own service: ``detail.clusterArn`` is its
    cluster and ``detail.group`` is ``service:<its service>`` (what ECS sets on the tasks a service starts)."""
    if not isinstance(detail, dict):
        return "malformed event: detail is not an object"
    cluster, group = detail.get("clusterArn"), detail.get("group")
    if not isinstance(cluster, str) or ":cluster/" not in cluster:
        return "malformed event: detail.clusterArn is not an ECS cluster ARN"
    if not isinstance(group, str):
        return "malformed event: detail.group is not a string"
    own_cluster = (
        cluster == config.cluster
        if config.cluster.startswith("arn:")
        else cluster.endswith(f":cluster/{config.cluster}")
    )
    if not own_cluster or group != f"service:{_resource_name(config.service)}":
        return f"a task of {group!r} in {cluster}: not this scaler's service"
    return None


def _trigger(event: dict) -> str:
    """What woke the scaler, for its decision record."""
    if event.get("source") == ALARM_CHANGE[0]:
        return event["detail"]["alarmName"]
    if event.get("source") == TASK_CHANGE[0]:
        detail = event["detail"]
        task = str(detail.get("taskArn") or "?").rsplit("/", 1)[-1]
        return f"task {task} {detail.get('lastStatus', '?')}"
    return "schedule"


def classify_event(event: object, config: ScalerConfig) -> str | None:
    """``None`` when the event should wake the scaler up, else why it is ignored."""
    if not isinstance(event, dict):
        return f"malformed event: a {type(event).__name__}, not an object"
    kind = (event.get("source"), event.get("detail-type"))
    if kind == SCHEDULE:
        return None
    if kind == TASK_CHANGE:
        return _classify_task_event(event.get("detail"), config)
    if kind != ALARM_CHANGE:
        return (
            f"malformed event: not an alarm state change, a task state change or a scheduled event (source={kind[0]!r})"
        )
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return "malformed event: detail is not an object"
    name, state = detail.get("alarmName"), detail.get("state")
    if not isinstance(name, str) or not name:
        return "malformed event: detail.alarmName is not a non-empty string"
    if not isinstance(state, dict) or not isinstance(state.get("value"), str):
        return "malformed event: detail.state.value is not a string"
    if name not in config.alarm_names:
        return f"alarm {name!r} is not one of this scaler's alarms"
    return None


# ---------------------------------------------------------------------------------------------------------
# The AWS part: read the state, apply a decision.


def utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z") if moment else None


def _parse_iso(value: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
    return moment if moment is None or moment.tzinfo else None


def decision_metrics(record: dict, function_name: str, now: datetime) -> dict:
    """The EMF members of a decision record (see the module's documentation): its action's count, and the gauges
    when it decided something."""
    values = {ACTION_METRICS[record["action"]]: (1, "Count")}
    if record["action"] not in ("ignored", "error"):
        weights = record["weights"]
        values.update(
            EcsShare=(ecs_share(weights["lambda"], weights["ecs"]), "Percent"),
            DesiredCount=(record["desired_count"], "Count"),
            RunningCount=(record["inputs"]["running_count"], "Count"),
            HealthyTargets=(record["healthy_targets"], "Count"),
        )
    return emf_members(now.timestamp(), {DIMENSION: function_name}, values)


def emit(record: dict, function_name: str, now: datetime) -> None:
    """Add the record's EMF members (``decision_metrics``, stamped ``now``) to it and log it as one JSON line
    (CloudWatch Logs keeps each print of the Lambda runtime as one event): what is returned is what is logged."""
    record.update(decision_metrics(record, function_name, now))
    sys.stdout.write(json.dumps(record, default=str, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class Scaler:
    """Reads the managed resources, asks ``decide`` and applies its answer. ``clock`` (the time of day), ``sleep``
    and ``monotonic`` (the health gate's wait) are injectable for tests."""

    def __init__(
        self,
        config: ScalerConfig,
        elbv2,
        ecs,
        cloudwatch,
        clock: Callable[[], datetime] = utc_now,
        lambda_client=None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.config = config
        self.elbv2, self.ecs, self.cloudwatch, self.lambda_client = elbv2, ecs, cloudwatch, lambda_client
        self.clock, self.sleep, self.monotonic = clock, sleep, monotonic
        self._config_with_drain: ScalerConfig | None = None
        self._health_check_seconds: int | None = None

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = utc_now,
        boto_config: Config = BOTO_CONFIG,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> Scaler:
        """A scaler configured by ``environ`` (default: the process environment), with its boto3 clients."""
        environ = os.environ if environ is None else environ
        config = load_config(environ)
        region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
        endpoint = environ.get("AWS_ENDPOINT_URL") or None

        def client(service: str):
            return boto3.client(service, region_name=region, endpoint_url=endpoint, config=boto_config)

        lambda_client = client("lambda") if config.function_name else None  # only the step-down guard reads Lambda
        return cls(
            config,
            client("elbv2"),
            client("ecs"),
            client("cloudwatch"),
            clock=clock,
            lambda_client=lambda_client,
            sleep=sleep,
            monotonic=monotonic,
        )

    def resolved_config(self) -> ScalerConfig:
        """The configuration with the drain time: SPILLOVER_DRAIN_SECONDS or the ECS target group's delay."""
        if self._config_with_drain is None:
            drain = self.config.drain_seconds
            if drain is None:
                attributes = self.elbv2.describe_target_group_attributes(
                    TargetGroupArn=self.config.ecs_target_group_arn
                )["Attributes"]
                delay = {item["Key"]: item["Value"] for item in attributes}.get("deregistration_delay.timeout_seconds")
                drain = int(delay) if delay else 300
            self._config_with_drain = replace(self.config, drain_seconds=drain)
        return self._config_with_drain

    # -- reads
    def read_actions(self) -> dict[str, list[dict]]:
        """The actions of every moved resource (``config.forward_arns``, in its order), in one Describe call."""
        if self.config.rule_arn:
            rules = self.elbv2.describe_rules(RuleArns=[self.config.rule_arn])["Rules"]
            return {self.config.rule_arn: rules[0]["Actions"]}
        listeners = self.elbv2.describe_listeners(ListenerArns=list(self.config.listener_arns))["Listeners"]
        described = {listener["ListenerArn"]: listener["DefaultActions"] for listener in listeners}
        return {arn: described[arn] for arn in self.config.listener_arns}

    def forward_weights(self, actions: list[dict], arn: str) -> tuple[int, int]:
        """The Lambda and ECS weights of the forward action among ``actions`` (those of ``arn``)."""
        forward = read_forward(actions)
        if forward is None:
            raise ScalerError(f"{arn} must have a forward action, it has none")
        weights = forward["weights"]
        ours = (self.config.lambda_target_group_arn, self.config.ecs_target_group_arn)
        missing = [group for group in ours if group not in weights]
        if missing:
            raise ScalerError(f"the forward action of {arn} does not include {', '.join(missing)}")
        return weights[self.config.lambda_target_group_arn], weights[self.config.ecs_target_group_arn]

    def all_weights(self, actions: Mapping[str, list[dict]]) -> dict[str, dict[str, int]]:
        """``{arn: {"lambda": weight, "ecs": weight}}`` of every moved resource."""
        weights = {}
        for arn, resource_actions in actions.items():
            lambda_weight, ecs_weight = self.forward_weights(resource_actions, arn)
            weights[arn] = {"lambda": lambda_weight, "ecs": ecs_weight}
        return weights

    def read_alarms(self) -> dict[str, AlarmState]:
        """The states of the scaler's own alarms, metric alarms only.

        The stack's alarms are all metric alarms (roles/alarm). Asking for composite alarms too would need
        cloudwatch:DescribeAlarms on "*" (CloudWatch authorizes composite alarm information only there), while the
        scaler's policy (scaler_policy) grants it on its own alarms' ARNs: on AWS every invocation would be denied.
        """
        alarms: dict[str, AlarmState] = {}
        pages = self.cloudwatch.get_paginator("describe_alarms").paginate(
            AlarmNames=list(self.config.alarm_names),
            AlarmTypes=["MetricAlarm"],
            PaginationConfig={"PageSize": MAX_ALARMS},
        )
        for page in pages:
            for alarm in page.get("MetricAlarms", []):
                alarms[alarm["AlarmName"]] = AlarmState(alarm["StateValue"], state_changed_at(alarm))
        return alarms

    def read_service(self) -> dict:
        answer = self.ecs.describe_services(cluster=self.config.cluster, services=[self.config.service])
        services = [service for service in answer["services"] if service.get("status") != "INACTIVE"]
        if not services:
            raise ScalerError(f"ECS service {self.config.service} not found in cluster {self.config.cluster}")
        return services[0]

    def read_target_health(self) -> tuple[int, int]:
        """The ECS target group's healthy targets, and its targets still in their first health checks."""
        targets = self.elbv2.describe_target_health(TargetGroupArn=self.config.ecs_target_group_arn)
        descriptions = targets["TargetHealthDescriptions"]
        checking = sum(item.get("TargetHealth", {}).get("State") == "initial" for item in descriptions)
        return count_healthy(descriptions), checking

    def health_check_seconds(self) -> int:
        """How long a registered target takes to turn healthy at most: the ECS target group's health check interval
        x healthy threshold (read once per execution environment)."""
        if self._health_check_seconds is None:
            group = self.elbv2.describe_target_groups(TargetGroupArns=[self.config.ecs_target_group_arn])[
                "TargetGroups"
            ][0]
            interval = group.get("HealthCheckIntervalSeconds") or DEFAULT_HEALTH_CHECK_INTERVAL
            threshold = group.get("HealthyThresholdCount") or DEFAULT_HEALTHY_THRESHOLD
            self._health_check_seconds = int(interval) * int(threshold)
        return self._health_check_seconds

    def read_last_move(self) -> datetime | None:
        descriptions = self.elbv2.describe_tags(ResourceArns=[self.config.state_arn])["TagDescriptions"]
        tags = {tag["Key"]: tag["Value"] for description in descriptions for tag in description["Tags"]}
        return _parse_iso(tags.get(LAST_MOVE_TAG))

    def read_load(self, now: datetime) -> LoadEstimate:
        """The step-down guard's inputs: reserved concurrency, then every metric in one GetMetricData call."""
        config = self.config
        answer = self.lambda_client.get_function_concurrency(FunctionName=config.function_name)
        capacity = answer.get("ReservedConcurrentExecutions")
        period = config.metric_period_seconds
        end = metric_window_end(now, period, config.metric_lag_seconds)
        load_balancer = config.listener_arn.split(":listener/", 1)[1].rsplit("/", 1)[0]  # app/<name>/<id>

        def query(query_id: str, namespace: str, metric: str, stat: str, dimensions: dict[str, str]) -> dict:
            return {
                "Id": query_id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": metric,
                        "Dimensions": [{"Name": name, "Value": value} for name, value in dimensions.items()],
                    },
                    "Period": period,
                    "Stat": stat,
                },
                "ReturnData": True,
            }

        def group(arn: str) -> dict[str, str]:
            return {"LoadBalancer": load_balancer, "TargetGroup": arn.split(":", 5)[5]}  # targetgroup/<name>/<id>

        elb = "AWS/ApplicationELB"
        answer = self.cloudwatch.get_metric_data(
            MetricDataQueries=[
                query(LAMBDA_REQUESTS, elb, "RequestCount", "Sum", group(config.lambda_target_group_arn)),
                query(ECS_REQUESTS, elb, "RequestCount", "Sum", group(config.ecs_target_group_arn)),
                query(LAMBDA_DURATION, "AWS/Lambda", "Duration", "Average", {"FunctionName": config.function_name}),
                query(ECS_RESPONSE_TIME, elb, "TargetResponseTime", "Average", group(config.ecs_target_group_arn)),
            ],
            StartTime=end - timedelta(seconds=period * METRIC_WINDOW_PERIODS),
            EndTime=end,
        )
        return replace(load_from_metrics(answer["MetricDataResults"], period, capacity), window_end=end)

    def read_state(self) -> tuple[ScalerState, dict[str, list[dict]]]:
        """The state the decision is made on (the weights of ``config.state_arn``), and every moved resource's
        actions."""
        actions = self.read_actions()
        lambda_weight, ecs_weight = self.forward_weights(actions[self.config.state_arn], self.config.state_arn)
        service = self.read_service()
        healthy, checking = self.read_target_health()
        state = ScalerState(
            alarms=self.read_alarms(),
            lambda_weight=lambda_weight,
            ecs_weight=ecs_weight,
            desired_count=service["desiredCount"],
            running_count=service.get("runningCount", 0),
            pending_count=service.get("pendingCount", 0),
            healthy_targets=healthy,
            last_move=self.read_last_move(),
            checking_targets=checking,
        )
        return state, actions

    def wait_for_health(self, state: ScalerState, needed: int, context: object = None) -> dict:
        """The health gate: poll the ECS targets until ``needed`` are healthy, within its bounds (see the module's
        documentation); returns what happened, for the decision record. No sleep when no target is being
        health-checked or no time is left."""
        wait: dict = {"needed": needed, "healthy": state.healthy_targets, "waited_seconds": 0.0, "polls": 0}
        if not state.health_checks_running:
            wait["outcome"] = "not waited: no ECS target is being health-checked"
            return wait
        bound, bound_by = float(self.health_check_seconds() + HEALTH_WAIT_MARGIN_SECONDS), "health check"
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if remaining is not None:
            left = remaining() / 1000 - REMAINING_TIME_MARGIN_SECONDS
            if left < bound:
                bound, bound_by = max(0.0, left), "invocation time"
        wait.update(bound_seconds=round(bound, 3), bound_by=bound_by)
        started = self.monotonic()
        deadline = started + bound
        while (left := deadline - self.monotonic()) > 0:
            self.sleep(min(HEALTH_POLL_SECONDS, left))
            wait["healthy"], _checking = self.read_target_health()
            wait["polls"] += 1
            if wait["healthy"] >= needed:
                break
        wait["waited_seconds"] = round(self.monotonic() - started, 3)
        wait["outcome"] = "healthy" if wait["healthy"] >= needed else "timeout"
        return wait

    # -- writes
    def write_weights(self, arn: str, actions: list[dict], share: int) -> None:
        """Write ``share`` percent to ECS, the rest to Lambda, into the forward action of ``arn`` (``actions``, as
        read); every other group, stickiness and action kept (an authenticate-oidc action with
        ``UseExistingClientSecret``, as AWS never returns its secret)."""
        weights = {self.config.lambda_target_group_arn: 100 - share, self.config.ecs_target_group_arn: share}
        new_actions = write_forward(actions, reweighted(read_forward(actions), weights))
        if self.config.rule_arn:
            self.elbv2.modify_rule(RuleArn=arn, Actions=new_actions)
        else:
            self.elbv2.modify_listener(ListenerArn=arn, DefaultActions=new_actions)

    def apply(self, decision: Decision, state: ScalerState, actions: Mapping[str, list[dict]], now: datetime) -> dict:
        """Write what ``decision`` changes: the desired count, and the decided share into every moved resource whose
        share differs (``config.state_arn`` first), so listeners that disagree converge on the same decision. The
        last-move tag is written only when the decision moves the share of ``config.state_arn``."""
        writes: list[str] = []
        result: dict = {}
        if decision.desired_count != state.desired_count:
            self.ecs.update_service(
                cluster=self.config.cluster, service=self.config.service, desiredCount=decision.desired_count
            )
            writes.append("ecs:UpdateService")
        behind = [arn for arn, weights in self.all_weights(actions).items() if _share(weights) != decision.ecs_share]
        if behind:
            if decision.ecs_share != state.ecs_share:
                # The tag first: a concurrent invocation that sees it waits a step time instead of stepping twice.
                self.elbv2.add_tags(
                    ResourceArns=[self.config.state_arn], Tags=[{"Key": LAST_MOVE_TAG, "Value": _iso(now)}]
                )
                writes.append("elbv2:AddTags")
            for arn in behind:
                self.write_weights(arn, actions[arn], decision.ecs_share)
                writes.append("elbv2:ModifyRule" if self.config.rule_arn else "elbv2:ModifyListener")
            written = self.all_weights(self.read_actions())
            result["weights"] = written[self.config.state_arn]
            wrong = {arn: weights for arn, weights in written.items() if _share(weights) != decision.ecs_share}
            result["verified"] = not wrong
            if wrong:
                result["level"] = "WARNING"
                reported = ", ".join(f"{arn}: {weights}" for arn, weights in wrong.items())
                result["mismatch"] = f"wrote {decision.ecs_share}% ECS, the ALB reports {reported}"
        result["writes"] = writes
        return result

    def decide_once(self, config: ScalerConfig, now: datetime) -> tuple[Decision, ScalerState, list[dict], dict]:
        """Read the state and decide (the step-down guard included); returns the decision, the state it was made on,
        the forward actions read and the decision's fields of the record."""
        state, actions = self.read_state()
        decision = decide(state, config, now)
        guard = None
        if decision.action == "step_down" and config.function_name:
            decision, guard = guard_step_down(decision, state, self.read_load(now), config)
        fields = {
            "action": decision.action,
            "reason": decision.reason,
            "weights": {"lambda": state.lambda_weight, "ecs": state.ecs_weight},
            "desired_count": decision.desired_count,
            "healthy_targets": state.healthy_targets,
            "inputs": _inputs(state, guard),
        }
        if len(actions) > 1:
            listeners = self.all_weights(actions)
            fields["inputs"]["listeners"] = listeners
            apart = sorted({_share(weights) for weights in listeners.values()})
            if len(apart) > 1:
                fields["level"] = "WARNING"
                fields["disagreement"] = (
                    f"the listeners' ECS shares disagree ({', '.join(f'{share}%' for share in apart)}): the decision,"
                    f" made on {config.state_arn} (the last-move record's), is written to every listener"
                )
        return decision, state, actions, fields

    def handle(self, event: object, context: object = None) -> dict:
        """One decision for ``event``; ``context`` (the Lambda context) bounds the health gate's wait."""
        now = self.clock()
        function_name = current_function_name(context)
        record: dict = {"level": "INFO", "time": _iso(now)}
        ignored = classify_event(event, self.config)
        if ignored:
            record.update(action="ignored", reason=ignored, weights=None, desired_count=None, healthy_targets=None)
            if ignored.startswith("malformed"):
                record.update(level="WARNING", event=repr(event)[:500])
            emit(record, function_name, now)
            return record
        record["trigger"] = _trigger(event)
        try:
            config = self.resolved_config()
            decision, state, actions, fields = self.decide_once(config, now)
            record.update(fields)
            record.update(self.apply(decision, state, actions, now))
            if decision.healthy_needed is not None and not config.health_gate:
                record["health_wait"] = {"needed": decision.healthy_needed, "outcome": "not waited: the gate is off"}
            elif decision.healthy_needed is not None:
                wait = self.wait_for_health(state, decision.healthy_needed, context)
                record["health_wait"] = wait
                if wait["outcome"] == "healthy":
                    # Level-triggered again: what is true now, read after the wait, decides the step.
                    now = self.clock()
                    writes = record["writes"]
                    decision, state, actions, fields = self.decide_once(config, now)
                    record.update(
                        fields, reason=f"{fields['reason']} (after {wait['waited_seconds']:g}s of health gate)"
                    )
                    record.update(self.apply(decision, state, actions, now))
                    record["writes"] = writes + record["writes"]
                elif wait["outcome"] == "timeout":
                    record["reason"] += (
                        f"; waited {wait['waited_seconds']:g}s ({wait['bound_by']} bound) for {wait['needed']} healthy"
                        f" ECS targets, {wait['healthy']} healthy: the next event or the schedule carries on"
                    )
        except Exception as error:
            record.update(level="ERROR", action="error", reason=f"{type(error).__name__}: {error}")
            emit(record, function_name, now)
            raise
        emit(record, function_name, now)
        return record


def _inputs(state: ScalerState, guard: dict | None = None) -> dict:
    inputs = {
        "alarms": {name: {"state": alarm.value, "since": _iso(alarm.since)} for name, alarm in state.alarms.items()},
        "weights": {"lambda": state.lambda_weight, "ecs": state.ecs_weight},
        "ecs_share": state.ecs_share,
        "desired_count": state.desired_count,
        "running_count": state.running_count,
        "pending_count": state.pending_count,
        "healthy_targets": state.healthy_targets,
        "last_move": _iso(state.last_move),
    }
    if guard is not None:
        inputs["step_down_guard"] = guard
    return inputs


try:
    SCALER: Scaler | None = Scaler.from_environment()
    STARTUP_ERROR: ConfigError | None = None
except ConfigError as error:
    SCALER, STARTUP_ERROR = None, error


def handler(event: object, context: object) -> dict:
    """Lambda entry point: one level-triggered decision per invocation; returns the decision record."""
    if STARTUP_ERROR is not None:
        now = utc_now()
        record = {"level": "ERROR", "time": _iso(now), "action": "error", "reason": str(STARTUP_ERROR)}
        emit(record, current_function_name(context), now)
        raise STARTUP_ERROR
    return SCALER.handle(event, context)
