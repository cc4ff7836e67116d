"""Run one burst through the lab's data plane, with one of four scalers.

* ``off``: no spillover (nothing answers the rules);
* ``seed``: the seed's provisioning Lambda (:class:`lab.scalers.SeedBaselineScaler`), on the alarms of the AWS
  metrics;
* ``project``: the project's scaler on the alarms of the AWS metrics only, as a deployment with ``alarm_pressure:
  false``, ``scaler_health_gate: false`` and no task-state rule would run it: the lab leaves the pressure alarms and
  the task-state rule out, and sets the scaler's alarm lists and ``SPILLOVER_HEALTH_GATE`` accordingly;
* ``fast``: the project's scaler as deployed: fast detection through the pressure alarms on the app's own EMF
  metrics, and the event-driven health gate (woken by the ECS task state changes, it waits for the targets).
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from lab import report
from lab.alarms import AlarmEvaluator
from lab.aws import Aws
from lab.balancer import LoadBalancer
from lab.builder import ZIP_CACHE
from lab.ecs import EcsFollower
from lab.emf import EmfExtractor
from lab.events import EventBus
from lab.lambda_runtime import BUILD_DIRS, LambdaRuntime, deployed_code
from lab.load import BurstProfile, LoadGenerator
from lab.metrics import MetricsPublisher
from lab.profiles import LAB_CLOCK, Clock
from lab.scalers import DeployedScaler, SeedBaselineScaler
from lab.stack import Alarm, Rule, Stack, discover, read_weights, write_weights
from tests.support.aws_recorder import AwsRecorder

LOG = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
FAULTS = ("never_healthy", "kill_task", "scaler_fails_once", "flapping_alarm")
SCALERS = ("fast", "project", "seed", "off")
# How often the load balancer re-reads the listener's weights: the floor's propagation part.
WEIGHT_REFRESH_SECONDS = 1.0


@dataclass
class RunSettings:
    stack: str
    endpoint: str | None
    region: str = "us-east-1"
    output: Path = ROOT / "lab" / "output"
    build_dirs: tuple[Path, ...] = BUILD_DIRS  # where the roles built the deployed zips (lab.lambda_runtime)
    app_dir: Path | None = None  # ECS runs these sources as ecr_push would build them; None: the deployed image
    zip_cache: Path = ZIP_CACHE  # where pip installs what the app's image installs (lab/ecs.py)
    profile: BurstProfile = field(default_factory=BurstProfile)
    clock: Clock = LAB_CLOCK
    scaler: str = "fast"
    standby: int | None = None  # the scaler's standby tasks instead of the deployed SPILLOVER_STANDBY_TASKS
    faults: tuple[str, ...] = ()
    start_delay: float = 15.0
    schedule_seconds: float | None = None  # default: the lab's clock the step time, AWS's the rule's own
    retry_seconds: float = 2.0
    settle_tail: float = 60.0  # after the load: wait at most this long for the weights and tasks to return
    kill_after: float = 10.0  # kill_task: seconds after the first request ECS served
    progress: bool = True
    name: str = ""


def _scaler_step_seconds(stack: Stack) -> float | None:
    if stack.scaler_function and "SPILLOVER_STEP_SECONDS" in stack.scaler_function.environment:
        return float(stack.scaler_function.environment["SPILLOVER_STEP_SECONDS"])
    return None


def floor_parts(stack: Stack, settings: RunSettings) -> dict[str, float]:
    """What no scaler can beat after the alarm that asks for capacity (its detection is measured per run): the
    task's start, its health checks (the first at registration, then (healthy threshold - 1) x interval) and the
    load balancer taking up the new weights."""
    group = stack.ecs_target_group
    return {
        "task start": settings.start_delay,
        "health": (group.healthy_threshold - 1) * group.health_check_interval,
        "propagation": WEIGHT_REFRESH_SECONDS,
    }


def standby_tasks(stack: Stack, settings: RunSettings) -> int:
    if settings.standby is not None:
        return settings.standby
    if stack.scaler_function:
        return int(stack.scaler_function.environment.get("SPILLOVER_STANDBY_TASKS", "0") or 0)
    return 0


@dataclass(frozen=True)
class Variant:
    """What a run's scaler sees of the stack: the alarms the lab evaluates, the rules it runs, and the scaler's
    settings that differ from the deployed ones."""

    alarms: tuple[Alarm, ...]
    rules: tuple[Rule, ...]
    environment: dict[str, str]


def variant(stack: Stack, settings: RunSettings) -> Variant:
    if settings.scaler == "fast":
        alarms, rules, environment = stack.alarms, stack.rules, {}
    else:  # the alarms of the AWS metrics only, and no task-state wake-up
        alarms = tuple(alarm for alarm in stack.alarms if alarm.on_aws_metrics)
        rules = tuple(rule for rule in stack.rules if not rule.wakes_on_tasks)
        environment = {}
        if settings.scaler == "project" and stack.scaler_function:
            left_out = {alarm.name for alarm in stack.alarms if not alarm.on_aws_metrics}
            deployed = stack.scaler_function.environment
            environment = {"SPILLOVER_HEALTH_GATE": "false"}
            for key in ("SPILLOVER_SPILL_ALARMS", "SPILLOVER_WARM_ALARMS"):
                names = [name for name in deployed.get(key, "").split(",") if name]
                environment[key] = ",".join(name for name in names if name not in left_out)
    if settings.standby is not None:
        environment = {**environment, "SPILLOVER_STANDBY_TASKS": str(settings.standby)}
    return Variant(alarms, rules, environment)


def reset_stack(aws: Aws, stack: Stack, standby: int = 0) -> None:
    """Put the stack back to idle before a run: all weight on Lambda, ``standby`` tasks, alarms OK, no ECS target."""
    elbv2 = aws.client("elbv2")
    weights = read_weights(elbv2, stack.listener_arn)
    if weights.get(stack.ecs_target_group.arn, 0):
        total = max(1, sum(weights.values()))
        write_weights(elbv2, stack.listener_arn, {stack.lambda_target_group.arn: total, stack.ecs_target_group.arn: 0})
    aws.client("ecs").update_service(cluster=stack.service.cluster, service=stack.service.name, desiredCount=standby)
    targets = elbv2.describe_target_health(TargetGroupArn=stack.ecs_target_group.arn)["TargetHealthDescriptions"]
    if targets:
        elbv2.deregister_targets(TargetGroupArn=stack.ecs_target_group.arn, Targets=[t["Target"] for t in targets])
    for alarm in stack.alarms:
        aws.client("cloudwatch").set_alarm_state(AlarmName=alarm.name, StateValue="OK", StateReason="lab: reset")


class _Progress:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stdout.isatty()

    def show(self, line: str, final: bool = False) -> None:
        if not self.enabled:
            return
        if self.tty:
            sys.stdout.write("\r\033[K" + line + ("\n" if final else ""))
        else:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


@dataclass
class Plane:
    """The parts of the lab's data plane running on a stack (:func:`data_plane`)."""

    metrics: MetricsPublisher
    runtime: LambdaRuntime
    extractor: EmfExtractor
    balancer: LoadBalancer
    bus: EventBus
    follower: EcsFollower
    scaler: DeployedScaler | SeedBaselineScaler | None
    evaluator: AlarmEvaluator
    seen: Variant
    standby: int
    step_seconds: float | None
    schedule_seconds: float


@contextmanager
def data_plane(settings: RunSettings, stack: Stack, directory: Path, port: int = 0) -> Iterator[Plane]:
    """The lab's data plane on ``stack``, from idle (:func:`reset_stack`): its load balancer on loopback (``port``,
    0: any free port), the app function's deployed code, the ECS service's tasks (the task definition's image, or
    ``settings.app_dir``'s sources), the alarms, the rules and the scaler of ``settings``. Its logs go to
    ``directory``; every process it starts is stopped on exit, also on Ctrl-C or SIGTERM (raised as
    KeyboardInterrupt in the main thread)."""
    aws = Aws(settings.endpoint, settings.region)
    step_seconds = _scaler_step_seconds(stack)
    schedule_rule = next((rule for rule in stack.rules if rule.schedule_expression), None)
    rule_seconds = schedule_rule.schedule_seconds if schedule_rule else 60
    at_step_time = step_seconds if settings.clock.schedule_at_step_time else None
    schedule_seconds = settings.schedule_seconds or at_step_time or rule_seconds
    standby = standby_tasks(stack, settings)
    seen = variant(stack, settings)
    directory.mkdir(parents=True, exist_ok=True)
    code = directory / "code"
    with ExitStack() as cleanup:
        if threading.current_thread() is threading.main_thread():
            cleanup.callback(signal.signal, signal.SIGTERM, signal.signal(signal.SIGTERM, _raise_interrupt))
        cleanup.callback(shutil.rmtree, code, ignore_errors=True)
        reset_stack(aws, stack, standby)
        metrics = MetricsPublisher(aws, settings.clock.deliveries(), settings.clock.default_delivery())
        cleanup.callback(metrics.flush, True)
        app_code = deployed_code(aws, stack.app_function, code / "app", settings.build_dirs)
        runtime = LambdaRuntime(stack.app_function, app_code, directory / "lambda-app.log", metrics=metrics)
        cleanup.callback(runtime.close)
        extractor = EmfExtractor(directory / "lambda-app.log", metrics).start()
        cleanup.callback(extractor.stop)
        balancer = LoadBalancer(
            aws,
            stack,
            runtime,
            directory / "access.log",
            port=port,
            metrics=metrics,
            refresh_seconds=WEIGHT_REFRESH_SECONDS,
        ).start()
        cleanup.callback(balancer.stop)
        invokers: dict = {}
        bus = EventBus(
            seen.rules,
            invokers,
            retry_seconds=settings.retry_seconds,
            schedule_seconds=schedule_seconds,
            region=aws.region,
        )
        follower = EcsFollower(
            aws,
            stack,
            balancer,
            directory,
            start_delay=settings.start_delay,
            app_dir=settings.app_dir,
            never_healthy="never_healthy" in settings.faults,
            cache_dir=settings.zip_cache,
            on_task_event=bus.put_event,
        ).start()
        cleanup.callback(follower.stop)
        scaler = None
        if settings.scaler in ("fast", "project"):
            if stack.scaler_function is None:
                raise RuntimeError(f"{stack.name}-scaler is not deployed: deploy the stack or use --scaler off")
            scaler_code = deployed_code(aws, stack.scaler_function, code / "scaler", settings.build_dirs)
            # The scaler's AWS calls go through a proxy that answers DescribeServices with the tasks the follower
            # runs (lab.ecs: the local AWS counts every desired task as running at once).
            proxy = AwsRecorder(aws.endpoint).start() if aws.endpoint else None
            if proxy is not None:
                cleanup.callback(proxy.stop)
                proxy.answer("DescribeServices", 200, follower.reported_services, forward=True, times=None)
            scaler = DeployedScaler(
                aws,
                stack.scaler_function,
                scaler_code,
                directory / "lambda-scaler.log",
                fail_first="scaler_fails_once" in settings.faults,
                environment=seen.environment,
                endpoint=proxy.endpoint if proxy is not None else None,
            )
            invokers[stack.scaler_function.arn] = scaler
        elif settings.scaler == "seed":
            scaler = SeedBaselineScaler(aws, stack, follower)
            if stack.scaler_function:
                invokers[stack.scaler_function.arn] = scaler
        if scaler is not None:
            cleanup.callback(scaler.close)
        bus.start()
        cleanup.callback(bus.stop)
        evaluator = AlarmEvaluator(
            aws, seen.alarms, bus.put_event, delivery_delay=lambda alarm: metrics.delivery(alarm.namespace).delay
        ).start()
        cleanup.callback(evaluator.stop)
        yield Plane(
            metrics,
            runtime,
            extractor,
            balancer,
            bus,
            follower,
            scaler,
            evaluator,
            seen,
            standby,
            step_seconds,
            schedule_seconds,
        )


def keep_up(settings: RunSettings, stack: Stack, port: int = 0) -> None:
    """The data plane on ``stack`` (:func:`data_plane`) until Ctrl-C or SIGTERM, for requests of one's own: it
    prints the load balancer's URL, and its logs go to ``<output>/<time>-up``."""
    directory = settings.output / f"{datetime.now():%Y%m%d-%H%M%S}-up"
    with data_plane(settings, stack, directory, port) as plane:
        scaler = f"the {settings.scaler} scaler" if plane.scaler is not None else "no scaler"
        print(
            f"lab: {stack.name} is up at {plane.balancer.url} (Lambda {stack.app_function.name} up to "
            f"{plane.runtime.limit} at once, {plane.standby} standby ECS task(s), {scaler}); Ctrl-C stops it",
            flush=True,
        )
        print(f"lab: logs in {directory}", flush=True)
        while True:
            time.sleep(3600)


def run_burst(settings: RunSettings, stack: Stack | None = None) -> tuple[report.RunData, dict, Path]:
    """One burst; every process it starts is stopped before it returns (also on Ctrl-C or SIGTERM)."""
    aws = Aws(settings.endpoint, settings.region)
    stack = stack or discover(aws, settings.stack)
    name = settings.name or f"{settings.scaler}{'-' + '-'.join(settings.faults) if settings.faults else ''}"
    directory = settings.output / f"{datetime.now():%Y%m%d-%H%M%S}-{name}"
    progress = _Progress(settings.progress)
    samples: list[dict] = []
    stop_sampling = threading.Event()
    with data_plane(settings, stack, directory) as plane, ExitStack() as cleanup:
        runtime, balancer, follower, evaluator = plane.runtime, plane.balancer, plane.follower, plane.evaluator
        bus, metrics, seen, standby = plane.bus, plane.metrics, plane.seen, plane.standby

        def sample_loop() -> None:
            while not stop_sampling.wait(1.0 - (time.time() % 1.0)):
                runtime.sample_concurrency()
                metrics.flush()
                try:
                    states = {
                        item["AlarmName"]: item["StateValue"]
                        for item in aws.client("cloudwatch").describe_alarms(
                            AlarmNames=[alarm.name for alarm in seen.alarms]
                        )["MetricAlarms"]
                    }
                except Exception:
                    states = {}
                weights = dict(balancer.weights)
                samples.append(
                    {
                        "time": time.time(),
                        "weight_lambda": weights.get(stack.lambda_target_group.arn, 0),
                        "weight_ecs": weights.get(stack.ecs_target_group.arn, 0),
                        **follower.counts(),
                        "lambda_in_flight": runtime.in_flight,
                        "alarms": states,
                    }
                )

        sampler = threading.Thread(target=sample_loop, name="lab-sampler", daemon=True)
        sampler.start()
        cleanup.callback(sampler.join, 5)
        cleanup.callback(stop_sampling.set)

        if standby:  # the standby tasks run and are healthy before the burst, as they would be all day
            ready_by = time.time() + settings.start_delay + 60
            while follower.counts()["healthy"] < standby and time.time() < ready_by:
                progress.show(f"[{name}] waiting for {standby} healthy standby tasks ({follower.counts()})")
                time.sleep(1.0)
        load = LoadGenerator(balancer.url, settings.profile, runtime.limit, directory)
        t0 = time.time()
        load.start()
        cleanup.callback(load.stop)
        killed = False
        flaps = 0
        deadline = t0 + settings.profile.duration + 5
        settle_deadline = deadline + settings.settle_tail
        try:
            while True:
                time.sleep(1.0)
                now = time.time()
                elapsed = now - t0
                counts = follower.counts()
                recent = [record for record in balancer.records[-400:] if record.start >= now - 2]
                errors = sum(record.status >= 500 for record in recent)
                last = samples[-1] if samples else {}
                alarms = sum(state == "ALARM" for state in last.get("alarms", {}).values())
                progress.show(
                    f"[{name}] {elapsed:5.0f}/{settings.profile.duration:.0f}s  req/s {len(recent) / 2:5.1f}  "
                    f"5xx/s {errors / 2:5.1f}  weights L{last.get('weight_lambda', '?')}/E{last.get('weight_ecs', '?')}"
                    f"  tasks d{counts['desired']} r{counts['running']} h{counts['healthy']}  alarms {alarms}"
                )
                if "kill_task" in settings.faults and not killed:
                    served = [r.end for r in balancer.records if r.target_group == "ecs" and r.status < 500]
                    if served and now - served[0] >= settings.kill_after:
                        killed = follower.kill_one() is not None
                flapping = "flapping_alarm" in settings.faults and flaps < 12 and stack.spill_alarm_names
                if flapping and (flaps or "ALARM" in evaluator.states.values()):
                    flaps += _flap(aws, stack, evaluator, bus, flaps)
                if now >= deadline:
                    load.stop()
                    back = last.get("weight_ecs", 1) == 0 and counts["desired"] == counts["running"] == standby
                    if back or settings.scaler == "off" or now >= settle_deadline:
                        break
            progress.show(f"[{name}] done after {time.time() - t0:.0f}s", final=True)
        except KeyboardInterrupt:
            progress.show(f"[{name}] interrupted: stopping every process", final=True)
            raise
    scaler = plane.scaler
    alarm_changes = list(evaluator.history)
    decisions = scaler.decisions if scaler is not None else []
    evaluated = {alarm.name for alarm in seen.alarms}
    data = report.RunData(
        name=name,
        t0=t0,
        requests=load.records(),
        balancer=[
            {"start": r.start, "end": r.end, "target_group": r.target_group, "status": r.status, "reason": r.reason}
            for r in balancer.records
        ],
        samples=samples,
        alarm_changes=alarm_changes,
        scaler_actions=[
            (moment, str(decision.get("action")), str(decision.get("reason", ""))[:160])
            for moment, decision in decisions
        ],
        task_events=follower.events,
        floor_parts=floor_parts(stack, settings),
        spill_alarms=[name for name in stack.spill_alarm_names if name in evaluated],
        capacity_alarms=sorted(evaluated),
        weight_moves=list(scaler.weight_moves) if scaler is not None else [],
    )
    (directory / "deliveries.jsonl").write_text(
        "".join(json.dumps({**d.__dict__, "result": d.result}, default=str) + "\n" for d in bus.deliveries)
    )
    summary = report.write_all(data, directory)
    extracted, rejected = plane.extractor.extracted, len(plane.extractor.rejected)
    summary.update(emf_documents=extracted, emf_rejected=rejected, standby=standby)
    checks = fault_checks(settings, data, summary, bus.deliveries, plane.step_seconds or plane.schedule_seconds)
    if checks:
        summary["fault_checks"] = checks
    (directory / "summary.json").write_text(json.dumps({"name": name, **summary}, indent=2))
    if checks:
        with open(directory / "report.md", "a") as markdown:
            markdown.write("\n## Fault checks\n\n")
            markdown.writelines(f"- {'PASS' if ok else 'FAIL'}: {check}\n" for check, ok in checks.items())
    return data, summary, directory


def fault_checks(
    settings: RunSettings, data: report.RunData, summary: dict, deliveries: list, step_seconds: float
) -> dict[str, bool]:
    """What each fault scenario must show (the issue's expectations), as named yes/no checks."""
    checks: dict[str, bool] = {}
    load_end = data.t0 + settings.profile.duration
    if "never_healthy" in settings.faults:
        checks["no weight reached ECS"] = summary["max_weight_ecs"] == 0
        checks["no 503 answered"] = summary["status_503"] == 0
    if "kill_task" in settings.faults:
        kills = [moment for moment, message in data.task_events if "killed" in message]
        checks["a task was killed"] = bool(kills)
        # In-flight requests of the killed task fail; the health checks need up to unhealthy threshold x interval.
        settle = 15.0
        late = [r for r in data.requests if kills and kills[0] + settle <= r["start"] <= load_end]
        checks[f"no errors from {settle:g} s after the kill to the end of the load"] = bool(late) and not any(
            map(report.failed, late)
        )
    if "scaler_fails_once" in settings.faults:
        checks["a failed scaler invocation was retried and succeeded"] = any(not d.ok for d in deliveries) and any(
            d.ok and d.attempt > 1 for d in deliveries
        )
    if "flapping_alarm" in settings.faults:
        gap = summary["min_seconds_between_weight_changes"]
        checks[f"no weight change sooner than the step time ({step_seconds:g} s)"] = gap is None or gap >= (
            step_seconds - 1
        )
    return checks


def _flap(aws: Aws, stack: Stack, evaluator: AlarmEvaluator, bus: EventBus, flaps: int) -> int:
    """Fault: one spill alarm toggles every 2 s (as a metric hovering at its threshold would), 12 times."""
    if flaps and time.time() - getattr(_flap, "last", 0) < 2:
        return 0
    from lab.alarms import alarm_event

    alarm = next(a for a in stack.alarms if a.name == stack.spill_alarm_names[0])
    current = evaluator.read_states().get(alarm.name, "OK")
    state = "OK" if current == "ALARM" else "ALARM"
    aws.client("cloudwatch").set_alarm_state(AlarmName=alarm.name, StateValue=state, StateReason="lab: flapping")
    evaluator.history.append((time.time(), alarm.name, state))
    bus.put_event(alarm_event(alarm, aws.region, state, current, "lab: flapping fault"))
    _flap.last = time.time()
    return 1
