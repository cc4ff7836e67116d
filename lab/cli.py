"""``python -m lab run|compare|sweep|up``: deploy (or find) the lab stack, run the burst, report.

``run`` runs one burst with one scaler; ``compare`` the same burst with the four (off, seed, project, fast; see
:mod:`lab.runner`); ``sweep --standby 0,1,2`` the same burst with the project's scaler at each count of standby
tasks, failed requests against Fargate task-hours. ``--profile`` chooses the burst and the clock (:mod:`lab.profiles`),
``--path`` the burst's request (default: read from the app's routes). ``up`` keeps the data plane of the stack
running, for requests of one's own to the URL it prints, until Ctrl-C or SIGTERM. ``--stack`` with ``--deploy never``
takes any stack site.yml deployed (``spillover-local`` of ``inventories/local`` too): the function's code, the image
and the rest are read from the AWS and the registry.

``python -m lab parity``: the app's answers through the lab's Lambda path and its container path, compared
(:mod:`lab.parity`); nothing is deployed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

from lab import parity, registry, report
from lab.aws import Aws, local_endpoint
from lab.builder import App, describe_app
from lab.lambda_runtime import BUILD_DIRS, CodeNotFound, deployed_code
from lab.load import BurstProfile, LoadGenerator, NoBurstPath, burst_path, check_path
from lab.profiles import PROFILES, Clock
from lab.runner import FAULTS, ROOT, SCALERS, RunSettings, keep_up, run_burst
from lab.stack import Stack, StackNotFound, discover

LOG = logging.getLogger("lab")
INVENTORY = ROOT / "inventories" / "lab"
SITE = ROOT / "playbooks" / "site.yml"
COMPARED = ("off", "seed", "project", "fast")


def _answers(endpoint: str) -> bool:
    try:
        urllib.request.urlopen(endpoint + "/moto-api/data.json", timeout=2).read()
        return True
    except OSError:
        return False


def inventory_hosts(inventory: Path) -> dict[str, dict]:
    """The variables of each host of ``inventory``, as written there (empty when it cannot be read)."""
    if not inventory.exists():
        return {}
    command = [str(Path(sys.executable).with_name("ansible-inventory")), "-i", str(inventory), "--list"]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
    if completed.returncode != 0:
        return {}
    return json.loads(completed.stdout).get("_meta", {}).get("hostvars", {})


def inventory_host(host: str) -> dict:
    """The variables of the lab inventory's ``host`` (``lab``, ``lab-aws``: a profile's clock), as written there."""
    return inventory_hosts(INVENTORY).get(host, {})


def inventory_stack_name(host: str) -> str | None:
    """``spillover_stack_name`` of the lab inventory's ``host``, when the inventory exists."""
    return inventory_host(host).get("spillover_stack_name")


def lab_app(args: argparse.Namespace, inventory: str) -> App:
    """The app of the ``--app-*`` options (with ``--app-dir`` the inventory is not read), else of the lab
    inventory host's ``spillover_app_*`` (paths relative to the repository, where the lab runs ansible-playbook),
    else the spillover_app role's defaults (the demo app)."""
    host = {} if args.app_dir else inventory_host(inventory)
    given = {}
    for name in ("src", "callable", "interface", "requirements", "health_path"):
        value = getattr(args, "app_dir" if name == "src" else f"app_{name}")
        if value is None and host.get(f"spillover_app_{name}"):
            value = host[f"spillover_app_{name}"]
            if "{{" in str(value):
                raise SystemExit(f"lab: spillover_app_{name} of {INVENTORY} is a template: give it with --app-*")
            value = str(ROOT / value) if name in ("src", "requirements") else value
        given[name] = value
    app = describe_app(**given)
    if not app.src.is_dir():
        raise SystemExit(f"lab: the app's directory {app.src} is not a directory (--app-dir, spillover_app_src)")
    return app


def how_to_deploy(stack: str) -> str:
    """The command that deploys ``stack``: site.yml with the repository's inventory whose host names it, else with
    the user's own."""
    for inventory in (ROOT / "inventories" / "local", INVENTORY):
        for host, variables in inventory_hosts(inventory).items():
            if variables.get("spillover_stack_name") == stack:
                where = inventory.relative_to(ROOT)
                return f"ansible-playbook -i {where} --limit {host} {SITE.relative_to(ROOT)}"
    return f"ansible-playbook -i <your inventory> {SITE.relative_to(ROOT)} (a host with spillover_stack_name: {stack})"


def not_deployed(aws: Aws, stack: str, error: StackNotFound) -> SystemExit:
    """One line: the stack is not there, what is missing, and the command that deploys it."""
    return SystemExit(f"lab: the stack {stack} is not deployed at {aws.endpoint}: {error}, with {how_to_deploy(stack)}")


def ensure_stack(aws: Aws, stack: str, deploy: str, app: App, clock: Clock) -> bool:
    """Deploy with playbooks/site.yml -i inventories/lab --limit <the clock's host>, or (until they exist, or when
    asked) the fixture; True when the fixture created the stack (its image is in no registry). A stack that is
    not there and that the lab does not deploy (``never``, or not the clock's host's) ends the lab with one line."""
    if deploy == "never":
        try:
            discover(aws, stack)
        except StackNotFound as error:
            raise not_deployed(aws, stack, error) from error
        return False
    if deploy == "auto":
        try:
            discover(aws, stack)
            print(f"lab: using the stack {stack} already deployed at {aws.endpoint}")
            return False
        except StackNotFound as error:
            if inventory_stack_name(clock.host) not in (None, stack):
                raise not_deployed(aws, stack, error) from error
    if deploy in ("auto", "site") and SITE.exists() and INVENTORY.exists():
        # inventories/lab pushes the app's image to the local registry, built FROM the local base image.
        subprocess.run([str(ROOT / "scripts" / "local-registry.sh"), "up"], cwd=ROOT, check=True)
        where = f"-i {INVENTORY.relative_to(ROOT)} --limit {clock.host}"
        print(f"lab: deploying {stack} with {SITE.relative_to(ROOT)} {where} ...")
        env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections")}
        playbook = str(Path(sys.executable).with_name("ansible-playbook"))
        command = [playbook, "-i", str(INVENTORY), "--limit", clock.host, str(SITE)]
        completed = subprocess.run(command, cwd=ROOT, env=env)
        if completed.returncode != 0:
            raise SystemExit(f"lab: deploying the stack failed (exit {completed.returncode})")
        return False
    from lab.stack_fixture import FixtureSettings, create_stack

    reason = "as asked" if deploy == "fixture" else "playbooks/site.yml or inventories/lab missing"
    print(f"lab: creating {stack} with lab/stack_fixture.py ({reason})")
    settings = FixtureSettings(stack=stack, app=app, alarm_period=clock.alarm_period)
    create_stack(aws, settings, ROOT / "build" / "lambda")
    return True


def check_clock(stack: Stack, clock: Clock) -> None:
    """On AWS's clock the AWS metrics come per minute: the stack's alarms on them, and the step-down guard's reads,
    must use whole minutes."""
    if clock.aws_metric_period < 60:
        return
    short = [f"{alarm.name} ({alarm.period} s)" for alarm in stack.alarms if alarm.on_aws_metrics and alarm.period % 60]
    guard = (stack.scaler_function.environment if stack.scaler_function else {}).get("SPILLOVER_METRIC_PERIOD_SECONDS")
    if guard and int(guard) % 60:
        short.append(f"{stack.name}-scaler's SPILLOVER_METRIC_PERIOD_SECONDS ({guard} s)")
    if short:
        raise SystemExit(
            f"lab: the {clock.name} profile publishes AWS/Lambda and AWS/ApplicationELB metrics per minute, but "
            f"{', '.join(short)} use shorter periods: use the stack of inventories/lab's host {clock.host} "
            f"(spillover-lab-aws), or deploy this one with alarm_period: 60 and scaler_metric_period_seconds: 60"
        )


def default_path(aws: Aws, stack: Stack, build_dirs: tuple[Path, ...] = BUILD_DIRS) -> str:
    """The burst's request for the app deployed to ``stack``, from the routes its deployed code declares
    (:func:`lab.load.burst_path`)."""
    with tempfile.TemporaryDirectory(prefix="lab-routes-") as scratch:
        code = deployed_code(aws, stack.app_function, Path(scratch), build_dirs)
        try:
            routes, _ = parity.app_routes(code, stack.app_function.environment)
        except parity.ParityError as error:
            raise NoBurstPath(str(error)) from error
    return burst_path(routes, stack.ecs_target_group.health_check_path)


def _print_summary(summaries: dict[str, dict]) -> None:
    print()
    print("\n".join(report.table(summaries)))


def _external(args, profile: BurstProfile) -> int:
    """Only the load and the client-side report, against a real ALB (``--target``/``TARGET``)."""
    directory = Path(args.output) / f"{time.strftime('%Y%m%d-%H%M%S')}-target"
    directory.mkdir(parents=True, exist_ok=True)
    load = LoadGenerator(args.target, profile, args.reserved_concurrency, directory).start()
    t0 = time.time()
    try:
        while load.running() and time.time() - t0 < profile.duration + 10:
            time.sleep(1)
    finally:
        load.stop()
    data = report.RunData("target", t0, load.records(), [], [], [], [], [])
    summary = report.write_all(data, directory)
    _print_summary({"target": summary})
    print(f"\nreport: {directory / 'report.md'}  plot: {directory / 'timeline.png'}")
    return 0


def standby_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 0:
        raise SystemExit(f"lab: --standby takes comma-separated task counts >= 0 (e.g. 0,1,2), got {text!r}")
    return sorted(set(counts))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    parser.add_argument("command", choices=["run", "compare", "sweep", "up", "parity"])
    parser.add_argument("--stack", help="stack name (default: spillover_stack_name of the profile's inventory host)")
    parser.add_argument("--endpoint", default=os.environ.get("LAB_AWS_ENDPOINT") or local_endpoint())
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--deploy", choices=["auto", "site", "fixture", "never"], default="auto")
    parser.add_argument("--profile", choices=sorted(PROFILES), help="burst and clock (default: burst; sweep: aws)")
    parser.add_argument("--scaler", choices=SCALERS, default="fast")
    parser.add_argument("--fault", action="append", choices=FAULTS, default=[])
    parser.add_argument(
        "--start-delay", type=float, help="seconds a Fargate task takes to start (default: LAB_START_DELAY, or 15/45)"
    )
    parser.add_argument("--metric-delay", type=float, help="aws profile: seconds AWS metrics arrive late (60)")
    parser.add_argument("--emf-delay", type=float, help="aws profile: seconds EMF metrics arrive late (5)")
    parser.add_argument("--standby", default="0,1,2", help="sweep: standby task counts (default 0,1,2)")
    parser.add_argument(
        "--schedule-seconds", type=float, help="run the schedule rule this often (default: the clock's)"
    )
    parser.add_argument("--output", default=str(ROOT / "lab" / "output"))
    parser.add_argument(
        "--path", help="the burst's request, e.g. /api/items ({seconds}: the profile's; default: from the app's routes)"
    )
    parser.add_argument("--port", type=int, default=0, help="up: the load balancer's port on 127.0.0.1 (default: any)")
    parser.add_argument(
        "--app-dir",
        help="ECS runs these sources instead of the deployed image; parity's and the fixture's app "
        "(default: spillover_app_src of inventories/lab)",
    )
    parser.add_argument("--app-callable", help="the app's module:attribute (default: spillover_app_callable)")
    parser.add_argument("--app-interface", choices=["wsgi", "asgi"], help="default: spillover_app_interface")
    parser.add_argument("--app-requirements", help="the app's requirements file (default: spillover_app_requirements)")
    parser.add_argument("--app-health-path", help="default: spillover_app_health_path")
    parser.add_argument("--requests", type=Path, help="parity: a JSON file of requests (default: the app's routes)")
    parser.add_argument(
        "--volatile-header",
        action="append",
        default=[],
        metavar="NAME",
        help="parity: a response header not compared, as it changes from one answer to the next (repeatable)",
    )
    parser.add_argument("--target", default=os.environ.get("TARGET"), help="a real ALB URL: run only the load")
    parser.add_argument("--reserved-concurrency", type=int, default=10, help="with --target: the function's limit")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    profile = PROFILES[args.profile or ("aws" if args.command == "sweep" else "burst")]
    if args.target:
        if args.command == "up":
            raise SystemExit("lab: up runs the data plane of a stack on the local AWS; --target is a real ALB already")
        try:
            path = check_path(args.path) if args.path else profile.burst.path
        except NoBurstPath as error:
            raise SystemExit(f"lab: {error}") from error
        return _external(args, replace(profile.burst, path=path))
    if args.command == "parity":
        return parity.main(
            lab_app(args, profile.clock.host), args.requests, Path(args.output), tuple(args.volatile_header)
        )
    clock = profile.clock
    if args.metric_delay is not None or args.emf_delay is not None:
        clock = replace(
            clock,
            metric_delay=clock.metric_delay if args.metric_delay is None else args.metric_delay,
            emf_delay=clock.emf_delay if args.emf_delay is None else args.emf_delay,
        )
    start_delay = args.start_delay
    if start_delay is None:
        start_delay = float(os.environ.get("LAB_START_DELAY") or clock.start_delay)
    standbys = standby_counts(args.standby) if args.command == "sweep" else []

    started_local_aws = False
    local_aws = str(ROOT / "scripts" / "local-aws.sh")
    # A busy moto server can be slow to answer: ask its pid file too, and stop at the end only what we started.
    if (
        args.endpoint == local_endpoint()
        and not _answers(args.endpoint)
        and subprocess.run([local_aws, "status"], cwd=ROOT, check=False, capture_output=True).returncode != 0
    ):
        if args.deploy == "never":
            raise SystemExit(
                f"lab: the local AWS at {args.endpoint} does not answer, so no stack is deployed there: start it "
                "(make local-aws-up), deploy the stack to it (playbooks/site.yml), then run the lab again"
            )
        subprocess.run([local_aws, "up"], cwd=ROOT, check=True)
        started_local_aws = True
    try:
        aws = Aws(args.endpoint, args.region)
        stack_name = args.stack or inventory_stack_name(clock.host) or f"spillover-{clock.host}"
        app = lab_app(args, clock.host)
        by_fixture = ensure_stack(aws, stack_name, args.deploy, app, clock)
        try:
            stack = discover(aws, stack_name)
        except StackNotFound as error:
            raise not_deployed(aws, stack_name, error) from error
        check_clock(stack, clock)
        burst = profile.burst
        if args.command != "up":
            path = check_path(args.path) if args.path else default_path(aws, stack)
            burst = replace(burst, path=path)
            print(f"lab: the burst sends GET {path.format(seconds=burst.sleep_seconds)}")
        settings = RunSettings(
            stack=stack_name,
            endpoint=args.endpoint,
            region=args.region,
            output=Path(args.output),
            profile=burst,
            clock=clock,
            scaler=args.scaler,
            faults=tuple(args.fault),
            start_delay=start_delay,
            schedule_seconds=args.schedule_seconds,
            settle_tail=profile.settle_seconds,
            progress=not args.quiet,
            app_dir=app.src if args.app_dir or by_fixture else None,
        )
        if args.command == "up":
            try:
                keep_up(settings, stack, args.port)
            except KeyboardInterrupt:
                print("lab: stopped; every process the lab started has been stopped", flush=True)
            return 0
        if args.command == "run":
            _, summary, directory = run_burst(settings, stack)
            _print_summary({settings.scaler: summary})
            for check, ok in summary.get("fault_checks", {}).items():
                print(f"{'PASS' if ok else 'FAIL'}: {check}")
            print(f"\nreport: {directory / 'report.md'}\nplot:   {directory / 'timeline.png'}")
            return 0
        if args.command == "sweep":
            return sweep(settings, stack, standbys)
        return compare(settings, stack)
    except NoBurstPath as error:
        raise SystemExit(f"lab: no request for the burst: {error}: give one with --path, e.g. --path /items") from error
    except CodeNotFound as error:
        raise SystemExit(f"lab: {error}") from error
    except registry.ImageNotReadable as error:
        raise SystemExit(
            f"lab: the task definition's image cannot be read: {error}: start the registry it names (the local "
            "one: make local-registry-up), or run the app's sources on ECS instead with --app-dir"
        ) from error
    except KeyboardInterrupt:
        print("lab: interrupted; every process the lab started has been stopped")
        return 130
    finally:
        if started_local_aws:
            subprocess.run([local_aws, "down"], cwd=ROOT, check=False)


def ratio(a: int, b: int) -> str:
    return f"{a / b:.3f}" if b else ("0 of 0" if not a else "inf")


def comparison_lines(summaries: dict[str, dict]) -> list[str]:
    """What ``compare`` prints below the table: failed requests, the ratios of the runs (each run over every run
    before it, in the order off, seed, project, fast), and per run the health-to-weight time and the first throttle
    to the first ECS-served request beside the floor and its parts."""
    names = [name for name in COMPARED if name in summaries]
    lines = ["", "failed requests: " + ", ".join(f"{name} {summaries[name]['failed']}" for name in names)]
    for index, name in enumerate(names):
        for other in reversed(names[:index]):
            lines.append(f"ratio {name} / {other}: {ratio(summaries[name]['failed'], summaries[other]['failed'])}")
    for name in names:
        summary = summaries[name]
        lines.append(f"[{name}] healthy -> first weight (s): {report.fmt(summary['healthy_to_weight_s'])}")
        lines.append(
            f"[{name}] first throttle -> first ECS-served (s): {report.fmt(summary['throttle_to_ecs_s'])}; floor "
            f"{report.floor_text(summary)}; above the floor {report.fmt(summary['over_floor_s'])} s"
        )
    return lines


def compare(settings: RunSettings, stack: Stack) -> int:
    runs, summaries, directories = {}, {}, {}
    for scaler in COMPARED:
        data, summary, directory = run_burst(replace(settings, scaler=scaler, faults=(), name=scaler), stack)
        runs[scaler], summaries[scaler], directories[scaler] = data, summary, directory
    _print_summary(summaries)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    plot = settings.output / f"compare-{stamp}.png"
    report.compare_plot(runs, plot)
    lines = comparison_lines(summaries)
    lines += [f"report ({name}): {directory / 'report.md'}" for name, directory in directories.items()]
    print("\n".join(lines))
    comparison = settings.output / f"compare-{stamp}.md"
    heading = f"# Spillover lab comparison ({settings.clock.name} clock)\n\n![5xx/s and ECS share]({plot.name})\n\n"
    comparison.write_text(heading + "\n".join(report.table(summaries) + lines) + "\n")
    print(f"comparison: {comparison}\nplot:       {plot}")
    return 0


def sweep(settings: RunSettings, stack: Stack, standbys: list[int]) -> int:
    """The project's scaler (fast) at each standby count: failed requests against Fargate task-hours."""
    spill = int((stack.scaler_function.environment if stack.scaler_function else {}).get("SPILLOVER_SPILL_TASKS", 0))
    if stack.scaler_function is None or max(standbys) > spill:
        raise SystemExit(f"lab: --standby counts must not exceed the scaler's spill tasks ({spill}) of {stack.name}")
    summaries, directories = {}, {}
    for count in standbys:
        name = f"standby-{count}"
        _, summary, directory = run_burst(replace(settings, scaler="fast", faults=(), standby=count, name=name), stack)
        summaries[name], directories[name] = summary, directory
    lines = ["", "| standby tasks | failed requests | error rate | Fargate task-hours |", "|---:|---:|---:|---:|"]
    for count, summary in zip(standbys, summaries.values(), strict=True):
        lines.append(
            f"| {count} | {summary['failed']} | {report.fmt(summary['error_rate'], 'rate')} | {summary['task_hours']} |"
        )
    lines += [f"report ({name}): {directory / 'report.md'}" for name, directory in directories.items()]
    print("\n".join(lines))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    plot = settings.output / f"sweep-{stamp}.png"
    report.sweep_plot([(name, summary["task_hours"], summary["failed"]) for name, summary in summaries.items()], plot)
    document = settings.output / f"sweep-{stamp}.md"
    heading = (
        f"# Spillover lab: standby sweep ({settings.clock.name} clock)\n\n![failed against task-hours]({plot.name})\n"
    )
    document.write_text(heading + "\n".join(lines) + "\n")
    print(f"sweep: {document}\nplot:  {plot}")
    return 0
