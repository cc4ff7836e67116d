"""``make aws-quirks``: the collection's first run on a "real" AWS account, all through the behaviour layer.

On a private local AWS, in a fresh account reached by sts:AssumeRole of a deployer role (as a real multi-account
deployment does), it runs: ``site.yml`` (and again until it converges, as a user re-running after a failure
would), a second ``site.yml`` (must report no change), the deployed scaler's code over a spill and a return and a
second spill that ends in a load Lambda cannot take, ``status.yml``, the scenarios (``SCENARIOS``, scenarios.py:
``site.yml`` again after the app's code changed, after function and scaler settings changed and a tag was given,
after the tag was dropped, and with a certificate, followed by a spill and a return), ``teardown.yml`` (again until
it succeeds, then once more: harmless twice), and ``site.yml`` once in a second fresh account whose Lambda
concurrency quota is 10 (it must refuse before writing anything). It prints one line per behaviour (``quirk <name>:
injected <n>, survived`` or ``... FAILED: <why>``), one per scenario (``scenario <name>: checked <n> calls,
survived``, with what it changed and the calls it expected the IAM engine to check below it), one per service the
strict layer checked (``strict <service>: <n> requests checked, <k> refused``; any refusal fails
``strict_validation``), then ``aws quirks: <k>/<n> survived``, writes every detail to
``build/aws-quirks/<time>/report.json`` and exits non-zero when anything failed.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import math
import os
import subprocess
import sys
import time
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3

from tests.support.ansible_run import ROOT, ansible_env
from tests.support.aws_quirks.layer import QuirksLayer, Rule
from tests.support.aws_quirks.rules import IamScoping, LambdaQuota, LogsPagination, StrictValidation, standard_rules
from tests.support.aws_quirks.scenarios import (
    LAST_MOVE_TAG,
    SCENARIO_TAG,
    TAG_VARIABLES,
    TAGGING,
    UNTAGGING,
    Scenario,
    changed_app,
    denials,
    describe,
    listener_weights,
    missing,
    redirect_of,
    self_signed_certificate,
    strict_delta,
    summarize,
    weight_problems,
)
from tests.support.aws_recorder import READ_PREFIXES
from tests.support.local_aws import MotoServer
from tests.support.local_registry import BASE_IMAGE, ensure_base_image, local_registry
from tests.support.scaler_stack import SCHEDULED_EVENT, alarm_event
from tests.support.stack_leftovers import stack_leftovers

REGION = "us-east-1"
ADMIN_ROLE = "OrganizationAccountAccessRole"  # what AWS Organizations creates in a new member account
DEPLOYER_ROLE = "spillover-deployer"
# The busy load of the second return, (requests/s, seconds/request): at 50% ECS it needs ~50 concurrent Lambda
# executions, far above 60% of the app function's reserved 10.
BUSY = (100.0, 1.0)
# The rules of the two enforced roles: the deployer's (every play) and the scaler's (its invocations).
DEPLOYER, SCALER = "iam_deployer_policy", "iam_scaler_policy"
# The re-runs of site.yml after the scaler phase, in order (tests/support/aws_quirks/scenarios.py).
SCENARIOS = ("code_change", "settings_change", "tag_removed", "certificate")


@dataclass
class Settings:
    stack: str = "quirks"
    account: str = "111122223333"  # the fresh account of the stack
    small_account: str = "444455556666"  # a fresh account with a new account's Lambda quota
    small_quota: int = 10
    throttle_share: float = 0.1
    propagation_seconds: float = 10.0
    drain_seconds: float = 15.0
    logs_page_size: int = 3
    metric_lag_periods: int = 2
    max_attempts: int = 4  # converges (and teardowns) until one succeeds
    old_decisions: int = 40  # scaler decisions logged a day before the run, as a deployed scaler would have
    skip: tuple[str, ...] = ()  # rules left out (to see what a later phase does without an earlier defect)
    skip_scenarios: tuple[str, ...] = ()  # scenarios left out (SCENARIOS)
    work: Path = field(default_factory=lambda: ROOT / "build" / "aws-quirks" / time.strftime("%Y%m%d-%H%M%S"))


@dataclass
class PlayRun:
    """One ansible-playbook run: its recap and, when it failed, the failed task and its message."""

    name: str
    ok: bool
    changed: int
    seconds: float
    failed_task: str = ""
    message: str = ""
    started: float = 0.0  # time.monotonic() at its start and end (the layer's clock)
    ended: float = 0.0

    def line(self) -> str:
        if self.ok:
            return f"{self.name}: ok, changed={self.changed} ({self.seconds:.0f} s)"
        return f"{self.name}: FAILED at {self.failed_task}: {_short(self.message)} ({self.seconds:.0f} s)"


@dataclass
class Verdict:
    name: str
    injected: int
    failures: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    @property
    def survived(self) -> bool:
        return not self.failures

    def line(self) -> str:
        state = "survived" if self.survived else "FAILED: " + "; ".join(self.failures)
        return f"quirk {self.name}: injected {self.injected}, {state}"


def _result_message(result: dict) -> str:
    parts = [str(result.get("msg", ""))]
    error = result.get("error") if isinstance(result.get("error"), dict) else {}
    if error.get("code") and error["code"] not in parts[0]:
        parts.append(f"({error['code']}: {error.get('message', '')})")
    if result.get("stderr"):
        parts.append(str(result["stderr"]).strip().splitlines()[-1])
    return " ".join(part for part in parts if part)


def parse_play(name: str, stdout: str, seconds: float) -> PlayRun:
    """A PlayRun from ansible-playbook's stdout with the ansible.posix.json callback: one JSON document, parsed as
    it is. Everything else ansible-playbook and its Python print (warnings, deprecations, Python's own warnings at
    start, such as cryptography's) is on stderr, which is the run's log and never parsed."""
    try:
        data = json.loads(stdout)
    except ValueError:
        return PlayRun(name, False, 0, seconds, "(no output)", stdout[-2000:])
    stats = next(iter(data.get("stats", {}).values()), {})
    failed_task, message = "", ""
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            for result in task.get("hosts", {}).values():
                failures = [result] + [item for item in result.get("results", []) if isinstance(item, dict)]
                if any(item.get("failed") for item in failures) and not result.get("_ansible_ignore_errors"):
                    failed_task = task["task"]["name"].replace("spillover.lambda_ecs.", "")
                    failing = next(item for item in reversed(failures) if item.get("failed"))
                    message = _result_message(failing)
    ok = stats.get("failures", 1) == 0 and stats.get("unreachable", 0) == 0
    return PlayRun(
        name, ok, int(stats.get("changed", 0)), seconds, failed_task if not ok else "", message if not ok else ""
    )


def status_decisions(stdout: str) -> list[dict] | None:
    """The scaler decisions status.yml showed, from its ansible.posix.json stdout (None: no ``scaler_decisions``)."""
    data = json.loads(stdout)
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            for result in task.get("hosts", {}).values():
                message = result.get("msg")
                if isinstance(message, dict) and "scaler_decisions" in message:
                    return message["scaler_decisions"] or []
    return None


def write_streams(path: Path, completed: subprocess.CompletedProcess) -> None:
    """A run's stdout in ``path`` as it was written, its stderr apart beside it, in ``<path>.stderr``."""
    path.write_text(completed.stdout)
    path.with_name(path.name + ".stderr").write_text(completed.stderr)


def _streams(completed: subprocess.CompletedProcess, limit: int = 2000) -> str:
    """The tail of each stream of a failed command, apart, for a message."""
    return f"{completed.stdout[-limit:]}\n--- stderr ---\n{completed.stderr[-limit:]}"


def bootstrap_deployer(iam, parts: list[dict], boundary: dict | None = None, name: str = DEPLOYER_ROLE) -> str:
    """A deployer role the controller's account may assume, made with an administrator's ``iam`` client, with each
    part of its policy (playbooks/deployer_policy.yml's) as a managed policy, as the README says to attach them, and
    the stack's ``boundary`` (``{"stack": ..., "document": ...}``), which the deployer may only read, created as
    playbooks/deployer_bootstrap.yml creates it; returns the role's ARN."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    for number, part in enumerate(parts, 1):
        policy = iam.create_policy(PolicyName=f"{name}-{number}", PolicyDocument=json.dumps(part))
        iam.attach_role_policy(RoleName=name, PolicyArn=policy["Policy"]["Arn"])
    if boundary:
        iam.create_policy(
            PolicyName=f"{boundary['stack']}-boundary",
            PolicyDocument=json.dumps(boundary["document"]),
            Description=f"Permissions boundary of the roles of spillover stack {boundary['stack']}",
            Tags=[{"Key": "spillover:stack", "Value": boundary["stack"]}],
        )
    return arn


class Run:
    """One ``make aws-quirks`` run; ``execute()`` returns the exit status."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.work = settings.work
        self.plays: list[PlayRun] = []
        self.invocations: list[dict] = []
        self.logged: list[dict] = []  # the decision records the scaler logged, in order
        self.checks: dict[str, list[str]] = {}  # rule name -> failures found by the run's own checks
        self.scenarios: list[Scenario] = []
        self.scenario_vars: dict = {}  # what the scenarios changed so far: each re-run keeps the earlier changes
        self.deployer_policy_source = ""
        self.started = time.monotonic()

    # -- accounts
    def admin_session(self, account: str) -> boto3.session.Session:
        """Credentials of ``account``'s administrator (the Organizations role), straight from the local AWS."""
        sts = boto3.client("sts", region_name=REGION, endpoint_url=self.moto.endpoint, **_base_credentials())
        credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{ADMIN_ROLE}", RoleSessionName="admin")[
            "Credentials"
        ]
        return _session(credentials)

    def bootstrap(self, account: str, policy: tuple[list[dict], dict]) -> str:
        """A deployer role in ``account`` that the controller's account may assume, and the stack's boundary, made by
        the account's administrator (the deployer may only read the boundary); returns the role's ARN."""
        parts, boundary = policy
        iam = self.admin_session(account).client("iam", endpoint_url=self.moto.endpoint)
        return bootstrap_deployer(iam, parts, {"stack": self.settings.stack, "document": boundary})

    def deployer_policy(self, account: str) -> tuple[list[dict], dict]:
        """The policy of the deployer role every deploy call is made with, enforced by the layer: the collection's
        own, in the parts ``playbooks/deployer_policy.yml`` writes for the run's stack and inventory in ``account``;
        and the boundary of the stack's roles it writes too.

        ``QUIRKS_DEPLOYER_POLICY`` (a JSON file, one document) overrides the policy, to try one out. report.json's
        ``iam_checked`` lists every action and resource the deploy asked for.
        """
        out = self.work / "deployer-policy" / account
        out.mkdir(parents=True, exist_ok=True)
        extra = {
            **self.stack_vars,
            "spillover_aws_account_id": account,
            "spillover_aws_assume_role_arn": f"arn:aws:iam::{account}:role/{DEPLOYER_ROLE}",
            "deployer_policy_dir": str(out),
        }
        completed = subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible-playbook"),
                "-i",
                str(ROOT / "inventories" / "local"),
                str(ROOT / "playbooks" / "deployer_policy.yml"),
                "-e",
                json.dumps(extra),
            ],
            env=ansible_env(),
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
        )
        written = sorted(out.glob(f"{self.settings.stack}-deployer-policy-*.json"))
        if completed.returncode != 0 or not written:
            raise RuntimeError(f"playbooks/deployer_policy.yml failed: {_streams(completed)}")
        boundary = json.loads((out / f"{self.settings.stack}-boundary-policy.json").read_text())
        override = os.environ.get("QUIRKS_DEPLOYER_POLICY")
        if override:
            self.deployer_policy_source = override
            return [json.loads(Path(override).read_text())], boundary
        self.deployer_policy_source = "playbooks/deployer_policy.yml"
        return [json.loads(path.read_text()) for path in written], boundary

    # -- playbooks
    def play(self, name: str, playbook: str, extra: dict | None = None, vars_: dict | None = None) -> PlayRun:
        extra_vars = {**self.extra_vars, **(extra or {})}
        # The JSON callback's document as ansible-playbook wrote it on stdout; its stderr in <log>.stderr.
        log = self.work / f"{len(self.plays) + 1:02d}-{name.replace(' ', '-')}.json"
        started = time.monotonic()
        completed = subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible-playbook"),
                "-i",
                str(ROOT / "inventories" / "local"),
                str(ROOT / "playbooks" / playbook),
                "-e",
                json.dumps(extra_vars),
            ],
            env=ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", **(vars_ or {})}),
            capture_output=True,
            text=True,
            timeout=900,
            cwd=ROOT,
        )
        write_streams(log, completed)
        run = parse_play(name, completed.stdout, time.monotonic() - started)
        run.started, run.ended = started, time.monotonic()
        if run.failed_task == "(no output)":
            run.message = completed.stderr[-2000:] or run.message
        self.plays.append(run)
        print(f"  {run.line()}", flush=True)
        return run

    def until_ok(self, name: str, playbook: str, **kwargs) -> PlayRun | None:
        for attempt in range(1, self.settings.max_attempts + 1):
            run = self.play(f"{name} {attempt}", playbook, **kwargs)
            if run.ok:
                return run
        return None

    # -- the scaler, as Lambda would run it
    def scaler_code(self, function: dict) -> Path:
        """The deployed scaler's code: the zip the role built, checked against the function's CodeSha256."""
        archive = self.work / "lambda" / f"{function['FunctionName']}.zip"
        data = archive.read_bytes()
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        if digest != function["CodeSha256"]:
            raise RuntimeError(f"{archive} is not the code deployed to {function['FunctionName']}")
        code = self.work / "scaler-code"
        with zipfile.ZipFile(archive) as opened:
            opened.extractall(code)
        return code

    def invoke(self, event: dict, label: str) -> dict:
        """Run the deployed handler once with the deployed environment and the scaler role's credentials."""
        env = {
            "PATH": os.environ.get("PATH", ""),
            **self.scaler_env,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_LAMBDA_FUNCTION_NAME": self.scaler_function["FunctionName"],
            "PYTHONPATH": str(self.scaler_dir),
        }
        program = (
            "import json, sys, scaler\n"
            "result = scaler.handler(json.loads(sys.stdin.read()), None)\n"
            "print('RESULT ' + json.dumps(result, default=str))\n"
        )
        completed = subprocess.run(
            [sys.executable, "-c", program],
            input=json.dumps(event),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        records = [line for line in completed.stdout.splitlines() if line.startswith("{")]
        self.log_to_cloudwatch(records)
        self.logged += [json.loads(line) for line in records]
        result = next(
            (json.loads(line[7:]) for line in completed.stdout.splitlines() if line.startswith("RESULT ")), None
        )
        error = "" if completed.returncode == 0 else (completed.stderr.strip().splitlines() or ["?"])[-1]
        invocation = {"label": label, "result": result, "error": error}
        self.invocations.append(invocation)
        shown = result and f"{result['action']}: {result['reason']}"
        print(f"  scaler {label}: {shown or 'ERROR ' + error[:300]}", flush=True)
        return invocation

    def log_to_cloudwatch(self, lines: list[str], at: datetime | None = None) -> None:
        """Write log lines to the scaler's log group as the Lambda runtime does, with its execution role."""
        if not lines:
            return
        logs = self.scaler_session.client("logs", endpoint_url=self.layer.endpoint)
        group = f"/aws/lambda/{self.scaler_function['FunctionName']}"
        stream = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{hashlib.sha1(os.urandom(8)).hexdigest()[:32]}"
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        moment = at or datetime.now(UTC)
        events = [
            {"timestamp": int(moment.timestamp() * 1000) + index, "message": line} for index, line in enumerate(lines)
        ]
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)

    def world(self, service: str):
        """A client of the world around the stack (alarms, targets, metrics), straight on the local AWS."""
        return self.admin.client(service, endpoint_url=self.moto.endpoint)

    def put_load(self, end: datetime, rates: dict[int, tuple[float, float]]) -> None:
        """ECS target group metrics as the ALB publishes them: {periods back: (requests/s, seconds/request)}."""
        listener = self.outputs["listener_arn"]
        load_balancer = listener.split(":listener/", 1)[1].rsplit("/", 1)[0]
        group = self.outputs["ecs_target_group_arn"].split(":", 5)[5]
        dimensions = [{"Name": "LoadBalancer", "Value": load_balancer}, {"Name": "TargetGroup", "Value": group}]
        data = []
        for back, (rate, seconds) in rates.items():
            moment = end - timedelta(seconds=60 * back)
            data.append(
                {"MetricName": "RequestCount", "Dimensions": dimensions, "Timestamp": moment, "Value": rate * 60}
            )
            data.append(
                {
                    "MetricName": "TargetResponseTime",
                    "Dimensions": dimensions,
                    "Timestamp": moment,
                    "Value": seconds,
                    "Unit": "Seconds",
                }
            )
        cloudwatch = self.world("cloudwatch")
        for start in range(0, len(data), 20):
            cloudwatch.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data[start : start + 20])

    def load_scaler(self) -> None:
        """The deployed scaler as it is now: its configuration, environment and code, and its role's credentials."""
        lambda_ = self.world("lambda")
        name = f"{self.settings.stack}-scaler"
        self.scaler_function = lambda_.get_function_configuration(FunctionName=name)
        self.scaler_env = self.scaler_function.get("Environment", {}).get("Variables", {})
        self.scaler_dir = self.scaler_code(self.scaler_function)
        # Every listener the scaler moves (HTTP and HTTPS when both forward); the first holds its last-move record.
        listener_arns = self.scaler_env["SPILLOVER_LISTENER_ARNS"].split(",")
        self.outputs = {
            "listener_arn": listener_arns[0],
            "listener_arns": listener_arns,
            "lambda_target_group_arn": self.scaler_env["SPILLOVER_LAMBDA_TARGET_GROUP_ARN"],
            "ecs_target_group_arn": self.scaler_env["SPILLOVER_ECS_TARGET_GROUP_ARN"],
        }
        sts = self.admin.client("sts", endpoint_url=self.layer.endpoint)  # through the layer: it learns the key
        credentials = sts.assume_role(RoleArn=self.scaler_function["Role"], RoleSessionName=name)["Credentials"]
        self.scaler_session = _session(credentials)
        self.scaler_env = {
            **self.scaler_env,
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"],
        }

    def scaler_phase(self) -> None:
        self.load_scaler()
        # A day of decisions before this run, as a deployed scaler logs one a minute.
        old = [
            json.dumps({"level": "INFO", "action": "noop", "reason": f"idle (a day ago, {i})"})
            for i in range(self.settings.old_decisions)
        ]
        self.log_to_cloudwatch(old, at=datetime.now(UTC) - timedelta(days=1))

        spill = self.scaler_env["SPILLOVER_SPILL_ALARMS"].split(",")[0]
        cloudwatch, elbv2 = self.world("cloudwatch"), self.world("elbv2")
        # The local AWS evaluates no alarm: every alarm of the stack starts OK, as AWS's would with no traffic.
        names = self.scaler_env["SPILLOVER_SPILL_ALARMS"].split(",") + self.scaler_env.get(
            "SPILLOVER_WARM_ALARMS", ""
        ).split(",")
        for name in filter(None, names):
            cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="no traffic yet")

        def alarm(value: str) -> None:
            cloudwatch.set_alarm_state(AlarmName=spill, StateValue=value, StateReason="driven by make aws-quirks")

        def tick(label: str) -> dict:
            return self.invoke(SCHEDULED_EVENT, label)

        alarm("ALARM")
        self.invoke(alarm_event(spill), "spill alarm")
        elbv2.register_targets(
            TargetGroupArn=self.outputs["ecs_target_group_arn"],
            Targets=[
                {"Id": f"10.0.1.{10 + i}", "Port": 8080} for i in range(int(self.scaler_env["SPILLOVER_SPILL_TASKS"]))
            ],
        )
        spill_steps = [tick(f"spill tick {i}") for i in range(1, 4)]
        alarm("OK")
        end = _aligned_end(60)
        self.put_load(end, {back: (1.0, 0.05) for back in range(1, 11)})  # a light load: Lambda can take it back
        return_steps = [tick(f"return tick {i}") for i in range(1, 5)]
        self.check_scaler_cycle(spill_steps, return_steps)

        # A second spill, then a load Lambda cannot take, with a one-minute lull that is all a guard reading only
        # the delivered part of a window ending now would see.
        alarm("ALARM")
        self.invoke(alarm_event(spill), "second spill alarm")
        [tick(f"second spill tick {i}") for i in range(1, 4)]
        alarm("OK")
        end = _aligned_end(60)
        self.put_load(end, {back: BUSY for back in range(1, 11) if back != 3})
        held = tick("busy return tick")
        self.check_step_down_guard(held, end)

    def check_scaler_cycle(self, spill_steps: list[dict], return_steps: list[dict]) -> None:
        if any(step["error"] for step in spill_steps + return_steps):
            return  # each failed invocation is reported with its cause
        failures = self.checks.setdefault("scaler", [])
        shares = [step["result"]["weights"] for step in spill_steps]
        got = [(s["result"]["action"]) for s in spill_steps + return_steps]
        want = ["step_up", "step_up", "step_up", "step_down", "step_down", "step_down", "scale_in"]
        if got != want:
            failures.append(f"the spill and return took {got}, not {want} (weights {shares})")

    def check_step_down_guard(self, held: dict, end: datetime) -> None:
        failures = self.checks.setdefault("metric_delivery_lag", [])
        result = held.get("result")
        if held["error"] or not result:
            failures.append(f"not reached: the scaler failed ({held['error'][:200]})")
            return
        if result["action"] == "step_down":
            guard = result.get("inputs", {}).get("step_down_guard", {})
            failures.append(
                f"the scaler stepped down from 100% ECS under a load Lambda cannot take ({BUSY[0]:.0f} req/s x "
                f"{BUSY[1]} s in every minute but one): its guard read {guard.get('request_rate')} req/s from a window "
                f"ending at "
                f"{end:%H:%M} whose newest {self.settings.metric_lag_periods} periods were not delivered yet"
            )

    # -- checks of the other phases
    def check_status(self, run: PlayRun) -> None:
        failures = self.checks.setdefault("logs_pagination", [])
        if not run.ok:
            failures.append(f"status.yml failed: {run.message[:300]}")
            return
        shown, logged = self.status_decisions, self.logged
        if shown is None:
            self.checks.setdefault("status", []).append("status.yml's output shows no scaler_decisions to check")
            return
        if not logged:
            failures.append("not reached: the scaler logged no decision")
            return
        newest = logged[-1]
        if not shown:
            failures.append(
                f"status.yml showed no scaler decision though the scaler logged {len(logged)} today and "
                f"{self.settings.old_decisions} a day ago (FilterLogEvents' first page was empty; its nextToken was "
                "not followed)"
            )
        elif (shown[-1].get("action"), shown[-1].get("reason")) != (newest["action"], newest["reason"]):
            failures.append(
                f"status.yml's newest decision is {shown[-1].get('reason')!r}, "
                f"not the scaler's last {newest['reason']!r}"
            )

    def read_status_decisions(self) -> list[dict] | None:
        """The scaler decisions status.yml showed (None: its output has no ``scaler_decisions``)."""
        return status_decisions(sorted(self.work.glob("*-status.json"))[-1].read_text())

    def check_small_account(self, run: PlayRun, principal_keys: set[str]) -> None:
        failures = self.checks.setdefault("lambda_concurrency_quota", [])
        writes = [e for e in self.layer.exchanges if e[0] in principal_keys and _is_write(e[2]) and e[3] < 300]
        names = list(dict.fromkeys(e[2] for e in writes))
        names = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        quota = self.settings.small_quota
        if run.ok:
            failures.append(f"site.yml converged in an account whose Lambda quota is {quota}")
        elif writes:
            failures.append(
                f"in an account whose Lambda concurrency quota is {quota}, site.yml made {len(writes)} writes "
                f"({names}) before failing at '{run.failed_task}': {_short(run.message, 200)}"
            )
        elif str(quota) not in run.message or "quota" not in run.message.lower():
            failures.append(
                f"site.yml refused without saying the quota ({quota}) and how to raise it: {_short(run.message)}"
            )

    # -- the scenarios: re-runs of site.yml under the enforced deployer policy (scenarios.py)
    def scenario_phase(self) -> None:
        runs = {
            "code_change": self.scenario_code_change,
            "settings_change": self.scenario_settings_change,
            "tag_removed": self.scenario_tag_removed,
            "certificate": self.scenario_certificate,
        }
        for name in SCENARIOS:
            if name not in self.settings.skip_scenarios:
                runs[name]()

    @contextlib.contextmanager
    def scenario(self, name: str, description: str):
        """One scenario: whatever its body raises, a failed play or scaler invocation of it, a call the IAM engine
        denied, an expected call it did not check or a request the strict layer refused fails it."""
        scenario = Scenario(name, description)
        self.scenarios.append(scenario)
        print(f"  scenario {name}: {description}", flush=True)
        strict_before = self.strict_counts()
        plays, invocations = len(self.plays), len(self.invocations)
        scenario.started = time.monotonic()
        try:
            yield scenario
        except Exception as error:  # the account is not as the scenario expects: its checks say what is missing
            scenario.failures.append(f"{type(error).__name__}: {_short(str(error))}")
        finally:
            scenario.ended = time.monotonic()
            failed = [
                f"{run.name} failed at '{run.failed_task}': {_short(run.message, 200)}"
                for run in self.plays[plays:]
                if not run.ok
            ]
            failed += [
                f"scaler {i['label']}: {_short(i['error'], 200)}" for i in self.invocations[invocations:] if i["error"]
            ]
            scenario.failures[:0] = failed
            # A failed play or invocation explains the calls that were never made after it.
            self.judge_scenario(scenario, strict_before, complete=not failed)
            print(f"  {scenario.line()}", flush=True)

    def strict_counts(self) -> dict[str, dict[str, int]]:
        strict = [rule for rule in self.layer.rules if isinstance(rule, StrictValidation)]
        return {
            "checked": {service: n for rule in strict for service, n in rule.checked.items()},
            "refused": {service: n for rule in strict for service, n in rule.refused.items()},
        }

    def judge_scenario(self, scenario: Scenario, strict_before: dict, complete: bool = True) -> None:
        """What the IAM engine and the strict layer saw during the scenario, against what it expects."""
        enforced = {rule.name: rule for rule in self.layer.rules if isinstance(rule, IamScoping)}
        for name, rule in enforced.items():
            summary = summarize(rule.log, scenario.started, scenario.ended)
            if summary:
                scenario.called[name] = summary
            denied = denials(summary)
            if denied:
                scenario.failures.append(f"{name} denied {', '.join(denied)}")
            expected = scenario.expected.get(name, {})
            if expected and name not in scenario.called:
                if complete:
                    scenario.failures.append(f"{name}: no call was made with that role")
                continue
            if complete:
                scenario.failures += [f"{name}: {problem}" for problem in missing(summary, expected)]
            shown = list(dict.fromkeys([*expected, *(a for a in (*TAGGING, *UNTAGGING) if a in summary)]))
            scenario.details += [f"{name}: {line}" for line in describe(summary, shown)]
            if summary:
                scenario.details.append(f"{name}: called {', '.join(summary)}")
        for name in scenario.expected:
            if name not in enforced:
                scenario.failures.append(f"{name} is not enforced in this run (--skip?): nothing was checked")
        scenario.strict = strict_delta(strict_before, self.strict_counts())
        checked, refused = scenario.strict["checked"], scenario.strict["refused"]
        per_service = ", ".join(f"{service} {count}" for service, count in checked.items())
        scenario.details.append(
            f"strict: {sum(checked.values())} requests checked ({per_service}), {sum(refused.values())} refused"
        )
        if refused:
            scenario.failures.append(f"the strict layer refused {', '.join(f'{s} {n}' for s, n in refused.items())}")
        scenario.failures = list(dict.fromkeys(scenario.failures))

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{REGION}:{self.settings.account}:{resource}"

    def stack_state(self) -> dict:
        """The app function's code and settings, the scaler's settings and the ECS service's task definition and
        image, as the account holds them (straight on the local AWS)."""
        stack = self.settings.stack
        lambda_, ecs = self.world("lambda"), self.world("ecs")
        app = lambda_.get_function_configuration(FunctionName=f"{stack}-app")
        scaler = lambda_.get_function_configuration(FunctionName=f"{stack}-scaler")
        environment = scaler.get("Environment", {}).get("Variables", {})
        cluster, name = environment["SPILLOVER_CLUSTER"], environment["SPILLOVER_SERVICE"]
        service = ecs.describe_services(cluster=cluster, services=[name])["services"][0]
        task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
        return {
            "app_arn": self.arn("lambda", f"function:{stack}-app"),
            "scaler_arn": self.arn("lambda", f"function:{stack}-scaler"),
            "service_arn": self.arn("ecs", f"service/{cluster}/{name}"),
            "code_sha256": app["CodeSha256"],
            "memory_size": app["MemorySize"],
            "scaler_environment": environment,
            "task_definition": service["taskDefinition"],
            "image": task["containerDefinitions"][0]["image"],
        }

    def scenario_code_change(self) -> None:
        with self.scenario("code_change", "site.yml after one file of the app changed") as scenario:
            before = self.stack_state()
            module = changed_app(ROOT / "files" / "app", self.work / "app-changed")
            self.scenario_vars["spillover_app_src"] = str(module.parent)
            scenario.expect(DEPLOYER, "lambda:UpdateFunctionCode", [before["app_arn"]])
            # Before it updates the code, amazon.aws.lambda waits for the function (its function_active and
            # function_updated waiters poll GetFunctionConfiguration): each poll is a call the engine checks.
            scenario.expect(DEPLOYER, "lambda:GetFunctionConfiguration", [before["app_arn"]])
            scenario.expect(DEPLOYER, "ecs:RegisterTaskDefinition")
            scenario.expect(DEPLOYER, "ecs:UpdateService", [before["service_arn"]])
            run = self.play("site after a code change", "site.yml", self.scenario_vars)
            if not run.ok:
                return
            after = self.stack_state()
            archive = self.work / "lambda" / f"{self.settings.stack}-app.zip"
            built = base64.b64encode(hashlib.sha256(archive.read_bytes()).digest()).decode()
            if after["code_sha256"] == before["code_sha256"]:
                scenario.failures.append(f"the app function's code is still {before['code_sha256']}")
            elif after["code_sha256"] != built:
                scenario.failures.append(f"the app function runs {after['code_sha256']}, not the new zip's {built}")
            if after["image"] == before["image"]:
                scenario.failures.append(f"no new image: the task definition still runs {before['image']}")
            if after["task_definition"] == before["task_definition"]:
                scenario.failures.append(f"the service still runs {before['task_definition']}")
            scenario.details += [
                f"changed {module.relative_to(self.work)}: code {before['code_sha256']} -> {after['code_sha256']}",
                f"image {before['image'].rsplit(':', 1)[-1]} -> {after['image'].rsplit(':', 1)[-1]}",
                f"service on {before['task_definition'].rsplit('/', 1)[-1]} -> "
                f"{after['task_definition'].rsplit('/', 1)[-1]}",
            ]

    def scenario_settings_change(self) -> None:
        key, value = SCENARIO_TAG
        description = (
            "site.yml after lambda_function_memory_size and scaler_step_down_max_share changed and a tag was given "
            f"through {', '.join(TAG_VARIABLES)}"
        )
        with self.scenario("settings_change", description) as scenario:
            before = self.stack_state()
            memory = 1024 if before["memory_size"] != 1024 else 768
            share = "0.5" if before["scaler_environment"].get("SPILLOVER_STEP_DOWN_MAX_SHARE") != "0.5" else "0.4"
            self.scenario_vars.update(lambda_function_memory_size=memory, scaler_step_down_max_share=float(share))
            self.scenario_vars.update({variable: {key: value} for variable in TAG_VARIABLES})
            functions = [before["app_arn"], before["scaler_arn"]]
            scenario.expect(DEPLOYER, "lambda:UpdateFunctionConfiguration", functions)
            scenario.expect(DEPLOYER, "lambda:GetFunctionConfiguration", functions)
            for action in ("lambda:TagResource", "elasticloadbalancing:AddTags", "ec2:CreateTags", "iam:TagRole"):
                scenario.expect(DEPLOYER, action)
            run = self.play("site after settings changed", "site.yml", self.scenario_vars)
            if not run.ok:
                return
            after = self.stack_state()
            got_share = after["scaler_environment"].get("SPILLOVER_STEP_DOWN_MAX_SHARE")
            if after["memory_size"] != memory:
                scenario.failures.append(f"the app function has {after['memory_size']} MB, not {memory}")
            if got_share != share:
                scenario.failures.append(f"the scaler's SPILLOVER_STEP_DOWN_MAX_SHARE is {got_share}, not {share}")
            tagged = self.tag_holders(key)
            services = {holder.split(" ", 1)[0] for holder in tagged}
            lacking = [service for service in ("lambda", "elbv2", "ec2", "iam") if service not in services]
            if lacking:
                scenario.failures.append(f"no {', '.join(lacking)} resource got the tag {key}")
            scenario.details += [
                f"app function memory {before['memory_size']} -> {after['memory_size']} MB, scaler "
                f"SPILLOVER_STEP_DOWN_MAX_SHARE {before['scaler_environment'].get('SPILLOVER_STEP_DOWN_MAX_SHARE')}"
                f" -> {got_share}",
                f"tagged {key}: {', '.join(tagged)}",
            ]

    def scenario_tag_removed(self) -> None:
        key, _value = SCENARIO_TAG
        description = f"site.yml after the tag {key} was dropped from {', '.join(TAG_VARIABLES)}"
        with self.scenario("tag_removed", description) as scenario:
            tagged = self.tag_holders(key)
            if not tagged:
                scenario.failures.append(f"nothing carries the tag {key} (the settings_change scenario gives it)")
                return
            for variable in TAG_VARIABLES:
                self.scenario_vars.pop(variable, None)
            state = self.stack_state()
            scenario.expect(DEPLOYER, "lambda:UntagResource", [state["app_arn"], state["scaler_arn"]])
            for action in ("ec2:DeleteTags", "elasticloadbalancing:RemoveTags", "iam:UntagRole"):
                scenario.expect(DEPLOYER, action)
            run = self.play("site after a tag was dropped", "site.yml", self.scenario_vars)
            if not run.ok:
                return
            left = self.tag_holders(key)
            if left:
                scenario.failures.append(f"still tagged {key}: {', '.join(left)}")
            scenario.details.append(f"untagged {len(tagged) - len(left)} of {len(tagged)}: {', '.join(tagged)}")

    def tag_holders(self, key: str) -> list[str]:
        """Every resource of the stack that carries the tag ``key``, as ``<service> <name>``."""
        stack, found = self.settings.stack, []
        lambda_ = self.world("lambda")
        for name in (f"{stack}-app", f"{stack}-scaler"):
            if key in lambda_.list_tags(Resource=self.arn("lambda", f"function:{name}")).get("Tags", {}):
                found.append(f"lambda function {name}")
        elbv2 = self.world("elbv2")
        arns = [b["LoadBalancerArn"] for b in elbv2.describe_load_balancers()["LoadBalancers"]]
        arns += [g["TargetGroupArn"] for g in elbv2.describe_target_groups()["TargetGroups"]]
        for start in range(0, len(arns), 20):
            for described in elbv2.describe_tags(ResourceArns=arns[start : start + 20])["TagDescriptions"]:
                if key in {tag["Key"] for tag in described.get("Tags", [])}:
                    found.append(f"elbv2 {described['ResourceArn'].split(':', 5)[5]}")
        for tag in self.world("ec2").describe_tags(Filters=[{"Name": "key", "Values": [key]}])["Tags"]:
            found.append(f"ec2 {tag['ResourceType']} {tag['ResourceId']}")
        iam = self.world("iam")
        for role in iam.list_roles()["Roles"]:
            if role["RoleName"].startswith(stack) and key in {
                t["Key"] for t in iam.list_role_tags(RoleName=role["RoleName"])["Tags"]
            }:
                found.append(f"iam role {role['RoleName']}")
        logs = self.world("logs")
        for group in logs.describe_log_groups()["logGroups"]:
            if key in logs.list_tags_log_group(logGroupName=group["logGroupName"]).get("tags", {}):
                found.append(f"logs {group['logGroupName']}")
        ecs = self.world("ecs")
        for cluster in ecs.list_clusters()["clusterArns"]:
            for arn in [cluster, *ecs.list_services(cluster=cluster)["serviceArns"]]:
                if key in {t["key"] for t in ecs.list_tags_for_resource(resourceArn=arn).get("tags", [])}:
                    found.append(f"ecs {arn.split(':', 5)[5]}")
        return found

    def listeners(self) -> list[dict]:
        """The stack's load balancer's listeners, by port, each with its tags (``Tags``)."""
        elbv2 = self.world("elbv2")
        balancer = elbv2.describe_load_balancers(Names=[self.settings.stack])["LoadBalancers"][0]["LoadBalancerArn"]
        listeners = sorted(
            elbv2.describe_listeners(LoadBalancerArn=balancer)["Listeners"], key=lambda item: item["Port"]
        )
        tags = {
            described["ResourceArn"]: {tag["Key"]: tag["Value"] for tag in described.get("Tags", [])}
            for described in elbv2.describe_tags(ResourceArns=[item["ListenerArn"] for item in listeners])[
                "TagDescriptions"
            ]
        }
        return [{**listener, "Tags": tags.get(listener["ListenerArn"], {})} for listener in listeners]

    def scenario_certificate(self) -> None:
        description = (
            "site.yml with alb_certificate_arn (an imported ACM certificate): HTTPS forwards, HTTP redirects; then "
            "the scaler spills and returns"
        )
        with self.scenario("certificate", description) as scenario:
            since = datetime.now(UTC).replace(microsecond=0)
            certificate_pem, key_pem = self_signed_certificate(f"{self.settings.stack}.example.com")
            certificate = self.world("acm").import_certificate(Certificate=certificate_pem, PrivateKey=key_pem)[
                "CertificateArn"
            ]
            self.scenario_vars["alb_certificate_arn"] = certificate
            state = self.stack_state()
            lambda_group = state["scaler_environment"]["SPILLOVER_LAMBDA_TARGET_GROUP_ARN"]
            ecs_group = state["scaler_environment"]["SPILLOVER_ECS_TARGET_GROUP_ARN"]
            before = {item["Port"]: listener_weights(item, lambda_group, ecs_group) for item in self.listeners()}
            scenario.expect(DEPLOYER, "elasticloadbalancing:CreateListener")
            scenario.expect(DEPLOYER, "elasticloadbalancing:ModifyListener")  # HTTP turns into the redirect
            scenario.expect(DEPLOYER, "ec2:AuthorizeSecurityGroupIngress")  # the HTTPS port
            scenario.expect(DEPLOYER, "lambda:UpdateFunctionConfiguration", [state["scaler_arn"]])  # its listeners
            scenario.expect(DEPLOYER, "iam:PutRolePolicy")  # the scaler's policy names its listeners
            run = self.play("site with a certificate", "site.yml", self.scenario_vars)
            if not run.ok:
                return
            self.load_scaler()
            listeners = self.listeners()
            # What a new HTTPS listener starts at, against what HTTP forwarded before the run (the scaler's weights).
            started = {item["Port"]: listener_weights(item, lambda_group, ecs_group) for item in listeners}
            scenario.details.append(f"weights before the run {before}, after it {started}")
            by_port = {listener["Port"]: listener for listener in listeners}
            https, http = by_port.get(443), by_port.get(80)
            if https is None or http is None:
                scenario.failures.append(f"the load balancer listens on {sorted(by_port)}, not 80 and 443")
                return
            if [c["CertificateArn"] for c in https.get("Certificates", [])] != [certificate]:
                scenario.failures.append(f"the HTTPS listener has {https.get('Certificates')}, not {certificate}")
            if before.get(80) and started.get(443) != before[80]:
                scenario.failures.append(f"HTTPS started at {started.get(443)}, HTTP forwarded at {before[80]}")
            redirect = redirect_of(http)
            if not redirect or (redirect.get("Protocol"), redirect.get("Port")) != ("HTTPS", "443"):
                scenario.failures.append(f"HTTP does not redirect to HTTPS 443: {http['DefaultActions']}")
            forwarding = [item["ListenerArn"] for item in listeners if listener_weights(item, lambda_group, ecs_group)]
            if self.outputs["listener_arns"] != forwarding:
                scenario.failures.append(
                    f"the scaler moves {self.outputs['listener_arns']}, the forwarding listeners are {forwarding}"
                )
            scaler_listeners = self.outputs["listener_arns"]
            scenario.expect(SCALER, "elasticloadbalancing:ModifyListener", scaler_listeners)
            scenario.expect(SCALER, "elasticloadbalancing:AddTags", scaler_listeners[:1])
            self.spill_and_return(scenario, since)

    def spill_and_return(self, scenario: Scenario, since: datetime) -> None:
        """A spill to the top step and a return to Lambda, driven through the deployed scaler: every forwarding
        listener must reach the same weights each way, a redirecting one stay as it is, and the moves leave one
        last-move record, on the scaler's first listener."""
        env = self.scaler_env
        lambda_group, ecs_group = self.outputs["lambda_target_group_arn"], self.outputs["ecs_target_group_arn"]
        spill = env["SPILLOVER_SPILL_ALARMS"].split(",")[0]
        top = max(int(step) for step in env["SPILLOVER_STEPS"].split(","))
        cloudwatch = self.world("cloudwatch")
        for name in filter(
            None, env["SPILLOVER_SPILL_ALARMS"].split(",") + env.get("SPILLOVER_WARM_ALARMS", "").split(",")
        ):
            cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="before the certificate's spill")
        self.world("elbv2").register_targets(
            TargetGroupArn=ecs_group,
            Targets=[{"Id": f"10.0.1.{10 + i}", "Port": 8080} for i in range(int(env["SPILLOVER_SPILL_TASKS"]))],
        )
        redirects = {item["Port"]: item["DefaultActions"] for item in self.listeners() if redirect_of(item)}

        def moved(label: str, want: dict[str, int], ticks: int) -> list[str]:
            for number in range(1, ticks + 1):
                listeners = self.listeners()
                if not weight_problems(listeners, lambda_group, ecs_group, want, label):
                    break
                if self.invoke(SCHEDULED_EVENT, f"certificate {label} tick {number}")["error"]:
                    break
            listeners = self.listeners()
            problems = weight_problems(listeners, lambda_group, ecs_group, want, f"after the {label}")
            problems += [
                f"after the {label}, the redirect of listener {item['Port']} became {item['DefaultActions']}"
                for item in listeners
                if item["Port"] in redirects and item["DefaultActions"] != redirects[item["Port"]]
            ]
            shown = {item["Port"]: listener_weights(item, lambda_group, ecs_group) or "redirect" for item in listeners}
            scenario.details.append(f"after the {label}: {shown}")
            return problems

        cloudwatch.set_alarm_state(AlarmName=spill, StateValue="ALARM", StateReason="driven by make aws-quirks")
        self.invoke(alarm_event(spill), "certificate spill alarm")
        scenario.failures += moved("spill", {"lambda": 100 - top, "ecs": top}, 6)
        cloudwatch.set_alarm_state(AlarmName=spill, StateValue="OK", StateReason="driven by make aws-quirks")
        # A light load: Lambda can take it back. The scaler phase's busy load ended minutes before (the re-runs
        # between take longer than the guard's window, which ends 3 periods before now and spans 3).
        end = _aligned_end(60)
        self.put_load(end, {back: (1.0, 0.05) for back in range(1, 11)})
        scenario.failures += moved("return", {"lambda": 100, "ecs": 0}, 8)
        records = {
            item["Port"]: item["Tags"][LAST_MOVE_TAG] for item in self.listeners() if LAST_MOVE_TAG in item["Tags"]
        }
        fresh = {port: when for port, when in records.items() if (_moment(when) or since) > since}
        first = next(
            (item["Port"] for item in self.listeners() if item["ListenerArn"] == self.outputs["listener_arns"][0]),
            None,
        )
        if list(fresh) != [first]:
            scenario.failures.append(
                f"the spill and return left {len(fresh)} last-move records ({fresh}), not one on listener {first}"
            )
        scenario.details.append(f"{LAST_MOVE_TAG} records: {records} (written since {since:%H:%M:%S}: {sorted(fresh)})")

    # -- the run
    def execute(self) -> int:
        self.started = time.monotonic()
        self.work.mkdir(parents=True, exist_ok=True)
        print(f"aws quirks: work directory {self.work}", flush=True)
        ensure_base_image()
        self.moto = MotoServer(log_path=self.work / "moto.log").start()
        try:
            with local_registry(self.work) as registry:
                return self._execute(registry)
        finally:
            self.moto.stop()

    def _execute(self, registry: str) -> int:
        settings = self.settings
        # The stack's own settings, for the deployer policy and every play.
        self.stack_vars = {"spillover_stack_name": settings.stack}
        deployer = self.bootstrap(settings.account, self.deployer_policy(settings.account))
        small_deployer = self.bootstrap(settings.small_account, self.deployer_policy(settings.small_account))
        self.admin = self.admin_session(settings.account)
        scaler_role = f"arn:aws:iam::{settings.account}:role/{settings.stack}-scaler"
        rules = standard_rules(
            throttle_share=settings.throttle_share,
            propagation_seconds=settings.propagation_seconds,
            lambda_limits={settings.small_account: settings.small_quota},
            logs_page_size=settings.logs_page_size,
            metric_lag_periods=settings.metric_lag_periods,
            drain_seconds=settings.drain_seconds,
            enforced={"iam_scaler_policy": [scaler_role], "iam_deployer_policy": [deployer, small_deployer]},
        )
        rules = [rule for rule in rules if rule.name not in settings.skip]
        self.layer = QuirksLayer(self.moto.endpoint, rules).start()
        try:
            self.extra_vars = {
                **self.stack_vars,
                # Every preflight check: the layer answers what the local AWS cannot (inventories/local skips them).
                "preflight_skip": [],
                "spillover_aws_endpoint_url": self.layer.endpoint,
                "spillover_scaler_endpoint_url": self.layer.endpoint,
                "spillover_aws_assume_role_arn": deployer,
                "ecr_push_registry_override": registry,
                "ecr_push_base_image": BASE_IMAGE,
                "scaler_build_dir": str(self.work / "lambda"),
                "lambda_function_build_dir": str(self.work / "lambda"),
                # Short policy times, so that a spill and a return take seconds (the lab inventory does the same).
                "scaler_step_seconds": 0,
                "scaler_cooldown_seconds": 0,
                "scaler_drain_seconds": 0,
            }
            converged = self.until_ok("site", "site.yml")
            if converged:
                second = self.play("site again", "site.yml")
                if second.ok and second.changed:
                    self.checks.setdefault("converge", []).append(f"site.yml run again changed {second.changed}")
                try:
                    self.scaler_phase()
                except Exception as error:  # a broken deployment: the phase's checks say what is missing
                    self.checks.setdefault("scaler", []).append(f"{type(error).__name__}: {error}")
                status = self.play("status", "status.yml")
                self.status_decisions = self.read_status_decisions() if status.ok else []
                self.check_status(status)
                # Re-runs of site.yml that take the modules' update paths, each with its own verdict.
                self.scenario_phase()
            else:
                self.checks.setdefault("converge", []).append(
                    f"site.yml did not converge in {settings.max_attempts} attempts"
                )
            torn = self.until_ok("teardown", "teardown.yml")
            if torn:
                again = self.play("teardown again", "teardown.yml")
                if not again.ok or again.changed:
                    self.checks.setdefault("teardown", []).append(f"a second teardown was not harmless: {again.line()}")
                session = self.admin_session(settings.account)
                left = stack_leftovers(lambda s: session.client(s, endpoint_url=self.moto.endpoint), settings.stack)
                if left:
                    self.checks.setdefault("teardown", []).append(f"left behind: {', '.join(left)}")
            else:
                self.checks.setdefault("teardown", []).append(f"teardown.yml failed {settings.max_attempts} times")
            before = set(self.layer.state.principals)
            small = self.play("site in a small account", "site.yml", {"spillover_aws_assume_role_arn": small_deployer})
            small_keys = {
                k
                for k, p in self.layer.state.principals.items()
                if k not in before and p.account == settings.small_account
            }
            self.check_small_account(small, small_keys)
        finally:
            self.layer.stop()
        return self.report()

    # -- verdicts
    def failures(self) -> list[tuple[str, str]]:
        """(where, message) of every failed playbook run and scaler invocation."""
        found = [(f"{run.name} failed at '{run.failed_task}'", run.message) for run in self.plays if not run.ok]
        found += [(f"scaler {i['label']}", i["error"]) for i in self.invocations if i["error"]]
        return found

    def caused_by(self, rule: Rule) -> list[tuple[str, str]]:
        signatures = {i.message[:60] for i in rule.injections if i.code and i.message}
        found = [(where, message) for where, message in self.failures() if any(sig in message for sig in signatures)]
        if isinstance(rule, StrictValidation):
            # A module rarely passes AWS's validation message on: a play failed by the strict layer is one that
            # failed while the layer refused one of its requests.
            found += [
                (f"{run.name} failed at '{run.failed_task}'", run.message)
                for run in self.plays
                if not run.ok and any(run.started <= i.at <= run.ended for i in rule.injections)
            ]
        return list(dict.fromkeys(found))

    # Runs that a rule's own check judges (they are meant to fail, the check says how).
    OWN_RUNS = {"lambda_concurrency_quota": ("site in a small account",)}

    def verdict(self, rule: Rule) -> Verdict:
        verdict = Verdict(rule.name, rule.injected, details=list(rule.details))
        own = self.OWN_RUNS.get(rule.name, ())
        caused = [(where, message) for where, message in self.caused_by(rule) if not where.startswith(own)]
        plays = [(where, message) for where, message in caused if not where.startswith("scaler ")]
        verdict.failures += [f"{where}: {_short(message)}" for where, message in plays]
        invocations = [(where, message) for where, message in caused if where.startswith("scaler ")]
        if invocations:
            total = len(self.invocations)
            verdict.failures.append(
                f"{len(invocations)} of {total} scaler invocations failed: {_short(invocations[0][1])}"
            )
        verdict.failures += self.checks.get(rule.name, [])
        if isinstance(rule, IamScoping):
            if rule.denials:
                denied = "; ".join(f"{key} ({count}x)" for key, count in sorted(rule.denials.items()))
                verdict.failures.insert(0, f"denied {denied}")
            if rule.name == "iam_deployer_policy":
                verdict.details.append(f"the deployer's policy: {self.deployer_policy_source}")
            if not rule.checked:
                verdict.failures.append("not exercised: no call was made with that role's credentials")
            coverage = rule.coverage
            verdict.details += [
                f"{rule.checked} calls checked",
                f"resources derived: {', '.join(sorted(coverage.derived))}",
                f"'*' only (no resource-level permissions): {', '.join(sorted(coverage.star_only))}",
                f"action-level only (resource not derived): {', '.join(sorted(coverage.action_level))}",
            ]
        if isinstance(rule, StrictValidation):
            # Whatever AWS would refuse is a defect of the collection, retried or not.
            verdict.failures += [f"refused {refusal}" for refusal in rule.refusals]
            verdict.details += rule.lines()
        if isinstance(rule, LambdaQuota):
            verdict.details.append(f"answered GetAccountSettings {rule.answered} times")
        if isinstance(rule, LogsPagination):
            verdict.details.append(
                f"{rule.requests} FilterLogEvents calls, {rule.followed_tokens} followed a nextToken"
            )
        unretried = [i for i in rule.injections if i.code and not i.retried]
        if unretried:
            ops = ", ".join(dict.fromkeys(f"{i.service}:{i.operation}" for i in unretried))
            verdict.details.append(f"not retried: {ops}")
        verdict.failures = list(dict.fromkeys(verdict.failures))
        return verdict

    def report(self) -> int:
        verdicts = [self.verdict(rule) for rule in self.layer.rules]
        explained = {where for rule in self.layer.rules for where, _message in self.caused_by(rule)}
        explained |= {
            where for where, _m in self.failures() for runs in self.OWN_RUNS.values() if where.startswith(runs)
        }
        run_failures = [
            f"{name}: {failure}"
            for name in ("converge", "teardown", "scaler", "status")
            for failure in self.checks.get(name, [])
        ]
        run_failures += [f"the layer itself failed: {_short(error)}" for error in self.layer.errors]
        run_failures += [
            f"{where}, not caused by an injected behaviour: {_short(message)}"
            for where, message in self.failures()
            if where not in explained
        ]
        print(f"\naws quirks: {time.monotonic() - self.started:.0f} s, details in {self.work / 'report.json'}")
        for line in run_failures:
            print(f"run {line}")
        for verdict in verdicts:
            print(verdict.line())
        for scenario in self.scenarios:
            print(scenario.line())
            for detail in scenario.details:
                print(f"    {detail}")
        strict = [rule for rule in self.layer.rules if isinstance(rule, StrictValidation)]
        for rule in strict:
            for line in rule.lines():
                print(line)
        survived = sum(verdict.survived for verdict in verdicts) + sum(s.survived for s in self.scenarios)
        judged = len(verdicts) + len(self.scenarios)
        enforced = {rule.name: rule for rule in self.layer.rules if isinstance(rule, IamScoping)}
        report = {
            "settings": {key: str(value) for key, value in asdict(self.settings).items()},
            "plays": [asdict(run) for run in self.plays],
            "invocations": self.invocations,
            "quirks": [asdict(verdict) | {"survived": verdict.survived} for verdict in verdicts],
            # Each re-run of site.yml: its verdict, and per enforced role every action the IAM engine checked during
            # it (waiters' calls included), how often, on what, and how many were denied.
            "scenarios": [
                asdict(scenario) | {"survived": scenario.survived, "checked": scenario.checked}
                for scenario in self.scenarios
            ],
            "injections": {rule.name: [asdict(i) for i in rule.injections] for rule in self.layer.rules},
            "run_failures": run_failures,
            # Per service, the requests the strict layer checked and refused, and each refusal with its request.
            "strict": {
                "checked": {service: count for rule in strict for service, count in rule.checked.items()},
                "refused": {service: count for rule in strict for service, count in rule.refused.items()},
                "refusals": [refusal for rule in strict for refusal in rule.refusals],
            },
            # What each enforced role was asked for: the actions and resources its policy must grant.
            "iam_checked": {
                name: {action: sorted(resources) for action, resources in sorted(rule.coverage.resources.items())}
                for name, rule in enforced.items()
            },
        }
        (self.work / "report.json").write_text(json.dumps(report, indent=2, default=str))
        print(f"aws quirks: {survived}/{judged} survived")
        return 0 if survived == judged and not run_failures else 1


def _short(message: str, limit: int = 300) -> str:
    for noise in ("Task failed: ", "Module failed: ", "botocore.exceptions.ClientError: "):
        message = message.replace(noise, "")
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _moment(value: str) -> datetime | None:
    """A time the scaler wrote (ISO 8601, ``Z``), or None."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _aligned_end(period: int) -> datetime:
    """The end of the last whole period, once at least 8 s of the current one are left (so a call made now sees
    the same window)."""
    now = time.time()
    if period - now % period < 8:
        time.sleep(period - now % period + 1)
        now = time.time()
    return datetime.fromtimestamp(math.floor(now / period) * period, UTC)


# Reads beyond the recorder's Describe/List/Get: they change nothing in the account.
READS = (*READ_PREFIXES, "AssumeRole", "BatchCheck", "BatchGet", "Filter", "Lookup", "Search", "Simulate")


def _is_write(operation: str) -> bool:
    return not operation.startswith(READS)


def _base_credentials() -> dict:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _session(credentials: dict) -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.support.aws_quirks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--throttle-share", type=float, default=Settings.throttle_share)
    parser.add_argument("--propagation-seconds", type=float, default=Settings.propagation_seconds)
    parser.add_argument("--drain-seconds", type=float, default=Settings.drain_seconds)
    parser.add_argument("--max-attempts", type=int, default=Settings.max_attempts)
    parser.add_argument("--skip", action="append", default=[], metavar="QUIRK", help="leave a behaviour out")
    parser.add_argument(
        "--skip-scenario", action="append", default=[], choices=SCENARIOS, help="leave a re-run of site.yml out"
    )
    args = parser.parse_args(argv)
    settings = Settings(
        throttle_share=args.throttle_share,
        propagation_seconds=args.propagation_seconds,
        drain_seconds=args.drain_seconds,
        max_attempts=args.max_attempts,
        skip=tuple(args.skip),
        skip_scenarios=tuple(args.skip_scenario),
    )
    with contextlib.suppress(KeyboardInterrupt):
        return Run(settings).execute()
    return 130
