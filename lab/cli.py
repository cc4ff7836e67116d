"""``python -m lab run|compare``: deploy (or find) the lab stack, run the burst, report.

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
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

from lab import parity, report
from lab.aws import Aws, local_endpoint
from lab.builder import App, describe_app
from lab.load import BurstProfile, LoadGenerator
from lab.runner import FAULTS, ROOT, SCALERS, RunSettings, run_burst
from lab.stack import StackNotFound, discover

LOG = logging.getLogger("lab")
INVENTORY = ROOT / "inventories" / "lab"
SITE = ROOT / "playbooks" / "site.yml"
PROFILES = {
    "burst": BurstProfile(),
    "short": BurstProfile(baseline=5, ramp=5, hold=40, ramp_down=5, tail=15),
}


def _answers(endpoint: str) -> bool:
    try:
        urllib.request.urlopen(endpoint + "/moto-api/data.json", timeout=2).read()
        return True
    except OSError:
        return False


def inventory_host() -> dict:
    """The variables of the lab inventory's stack host (the first with ``spillover_stack_name``), as written there."""
    if not INVENTORY.exists():
        return {}
    command = [str(Path(sys.executable).with_name("ansible-inventory")), "-i", str(INVENTORY), "--list"]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
    if completed.returncode != 0:
        return {}
    hostvars = json.loads(completed.stdout).get("_meta", {}).get("hostvars", {})
    return next((variables for variables in hostvars.values() if "spillover_stack_name" in variables), {})


def inventory_stack_name() -> str | None:
    """``spillover_stack_name`` of the lab inventory's host, when the inventory exists."""
    return inventory_host().get("spillover_stack_name")


def lab_app(args: argparse.Namespace) -> App:
    """The app of the ``--app-*`` options (with ``--app-dir`` the inventory is not read), else of the lab
    inventory's ``spillover_app_*`` (paths relative to the repository, where the lab runs ansible-playbook), else the
    spillover_app role's defaults (the demo app)."""
    host = {} if args.app_dir else inventory_host()
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


def ensure_stack(aws: Aws, stack: str, deploy: str, app: App) -> None:
    """Deploy with playbooks/site.yml -i inventories/lab, or (until they exist, or when asked) the fixture."""
    if deploy == "never":
        discover(aws, stack)
        return
    if deploy == "auto":
        try:
            discover(aws, stack)
            print(f"lab: using the stack {stack} already deployed at {aws.endpoint}")
            return
        except StackNotFound:
            pass
    if deploy in ("auto", "site") and SITE.exists() and INVENTORY.exists():
        print(f"lab: deploying {stack} with {SITE.relative_to(ROOT)} -i {INVENTORY.relative_to(ROOT)} ...")
        env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections")}
        command = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(INVENTORY), str(SITE)]
        completed = subprocess.run(command, cwd=ROOT, env=env)
        if completed.returncode != 0:
            raise SystemExit(f"lab: deploying the stack failed (exit {completed.returncode})")
        return
    from lab.stack_fixture import FixtureSettings, create_stack

    reason = "as asked" if deploy == "fixture" else "playbooks/site.yml or inventories/lab missing"
    print(f"lab: creating {stack} with lab/stack_fixture.py ({reason})")
    create_stack(aws, FixtureSettings(stack=stack, app=app), ROOT / "build" / "lambda")


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    parser.add_argument("command", choices=["run", "compare", "parity"])
    parser.add_argument("--stack", help="stack name (default: spillover_stack_name of inventories/lab)")
    parser.add_argument("--endpoint", default=os.environ.get("LAB_AWS_ENDPOINT") or local_endpoint())
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--deploy", choices=["auto", "site", "fixture", "never"], default="auto")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="burst")
    parser.add_argument("--scaler", choices=SCALERS, default="project")
    parser.add_argument("--fault", action="append", choices=FAULTS, default=[])
    parser.add_argument("--start-delay", type=float, default=float(os.environ.get("LAB_START_DELAY", "15")))
    parser.add_argument("--schedule-seconds", type=float, help="run the schedule rule this often (default: step time)")
    parser.add_argument("--output", default=str(ROOT / "lab" / "output"))
    parser.add_argument("--app-dir", help="the app's directory (default: spillover_app_src of inventories/lab)")
    parser.add_argument("--app-callable", help="the app's module:attribute (default: spillover_app_callable)")
    parser.add_argument("--app-interface", choices=["wsgi", "asgi"], help="default: spillover_app_interface")
    parser.add_argument("--app-requirements", help="the app's requirements file (default: spillover_app_requirements)")
    parser.add_argument("--app-health-path", help="default: spillover_app_health_path")
    parser.add_argument("--requests", type=Path, help="parity: a JSON file of requests (default: the app's routes)")
    parser.add_argument("--target", default=os.environ.get("TARGET"), help="a real ALB URL: run only the load")
    parser.add_argument("--reserved-concurrency", type=int, default=10, help="with --target: the function's limit")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    profile = PROFILES[args.profile]
    if args.target:
        return _external(args, profile)
    if args.command == "parity":
        return parity.main(lab_app(args), args.requests, Path(args.output))

    started_local_aws = False
    local_aws = str(ROOT / "scripts" / "local-aws.sh")
    # A busy moto server can be slow to answer: ask its pid file too, and stop at the end only what we started.
    if (
        args.endpoint == local_endpoint()
        and not _answers(args.endpoint)
        and subprocess.run([local_aws, "status"], cwd=ROOT, check=False, capture_output=True).returncode != 0
    ):
        subprocess.run([local_aws, "up"], cwd=ROOT, check=True)
        started_local_aws = True
    try:
        aws = Aws(args.endpoint, args.region)
        stack_name = args.stack or inventory_stack_name() or "spillover-lab"
        app = lab_app(args)
        ensure_stack(aws, stack_name, args.deploy, app)
        stack = discover(aws, stack_name)
        settings = RunSettings(
            stack=stack_name,
            endpoint=args.endpoint,
            region=args.region,
            output=Path(args.output),
            profile=profile,
            scaler=args.scaler,
            faults=tuple(args.fault),
            start_delay=args.start_delay,
            schedule_seconds=args.schedule_seconds,
            progress=not args.quiet,
            app_dir=app.src,
        )
        if args.command == "run":
            _, summary, directory = run_burst(settings, stack)
            _print_summary({settings.scaler: summary})
            for check, ok in summary.get("fault_checks", {}).items():
                print(f"{'PASS' if ok else 'FAIL'}: {check}")
            print(f"\nreport: {directory / 'report.md'}\nplot:   {directory / 'timeline.png'}")
            return 0
        return compare(settings, stack)
    except KeyboardInterrupt:
        print("lab: interrupted; every process the lab started has been stopped")
        return 130
    finally:
        if started_local_aws:
            subprocess.run([local_aws, "down"], cwd=ROOT, check=False)


def compare(settings: RunSettings, stack) -> int:
    summaries, directories = {}, {}
    labels = {"off": "no spillover", "seed": "seed baseline", "project": "project scaler"}
    for scaler in ("off", "seed", "project"):
        _, summary, directory = run_burst(replace(settings, scaler=scaler, faults=(), name=scaler), stack)
        summaries[labels[scaler]], directories[labels[scaler]] = summary, directory
    _print_summary(summaries)
    project, seed, none = (summaries[labels[key]] for key in ("project", "seed", "off"))

    def ratio(a: int, b: int) -> str:
        return f"{a / b:.3f}" if b else ("0 of 0" if not a else "inf")

    lines = [
        "",
        f"failed requests: no spillover {none['failed']}, seed baseline {seed['failed']}, project {project['failed']}",
        f"project / seed baseline failed: {ratio(project['failed'], seed['failed'])} (target <= 0.2)",
        f"project / no spillover failed:  {ratio(project['failed'], none['failed'])} (target <= 0.1)",
        "project error rate after healthy + first step: "
        f"{report.fmt(project['error_rate_after_step'], 'rate')} (target < 1%)",
        f"project first throttle -> first ECS-served: {project['throttle_to_ecs_s']} s,"
        f" lab floor {project['floor_s']} s, above the floor {project['over_floor_s']} s (target <= 5 s)",
    ]
    lines += [f"report ({name}): {directory / 'report.md'}" for name, directory in directories.items()]
    print("\n".join(lines))
    comparison = settings.output / f"compare-{time.strftime('%Y%m%d-%H%M%S')}.md"
    comparison.write_text("# Spillover lab comparison\n\n" + "\n".join(report.table(summaries) + lines) + "\n")
    print(f"comparison: {comparison}")
    return 0
