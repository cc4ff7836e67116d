"""AWS API calls and wall time: spillover.lambda_ecs.alb_weighted_forward vs amazon.aws.elb_application_lb.

Run from the repository root: ``.venv/bin/python -m benchmarks.bench_alb`` (``make bench-alb``).

A private moto server with a recording proxy in front of it; for each module, a fresh ALB
(tests/support/alb_stack.py: listener on port 80 forwarding Lambda 1 / ECS 0, two rules), then the
same weight change (Lambda 75 / ECS 25) and a no-op re-run of it, each as one ansible-playbook run.
Calls are counted by the proxy (every request that reaches AWS, reads and writes). Wall time is that
of the whole ansible-playbook run, so it includes Ansible's own start-up (the same for both modules);
the median of ``--repeat`` rounds is printed.

elb_application_lb is given the smallest definition that keeps the rest of the ALB: its subnets, the
listener with the weighted default action, ``purge_rules: false`` and the stickiness block restated
as AWS returns it (without that block its re-run is not a no-op; see the last line of the output).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import boto3

from tests.support.alb_stack import ECS_TG, LAMBDA_TG, LOAD_BALANCER, Stack, build_alb_stack
from tests.support.ansible_run import run_module
from tests.support.aws_recorder import AwsRecorder
from tests.support.local_aws import CREDENTIALS, REGION, MotoServer

WEIGHTS = {LAMBDA_TG: 75, ECS_TG: 25}


def ours(stack: Stack, endpoint: str, verify: bool = True) -> tuple[str, dict]:
    return "spillover.lambda_ecs.alb_weighted_forward", {
        "endpoint_url": endpoint,
        "listener_arn": stack.listener_arn,
        "target_groups": [{"arn": stack.arns[name], "weight": weight} for name, weight in WEIGHTS.items()],
        "verify": verify,
    }


def ours_unverified(stack: Stack, endpoint: str) -> tuple[str, dict]:
    return ours(stack, endpoint, verify=False)


def theirs(stack: Stack, endpoint: str, restate_stickiness: bool = True) -> tuple[str, dict]:
    forward = {"TargetGroups": [{"TargetGroupArn": stack.arns[name], "Weight": w} for name, w in WEIGHTS.items()]}
    if restate_stickiness:
        forward["TargetGroupStickinessConfig"] = {"Enabled": False}
    load_balancer = stack.elbv2.describe_load_balancers(LoadBalancerArns=[stack.load_balancer_arn])["LoadBalancers"][0]
    return "amazon.aws.elb_application_lb", {
        "endpoint_url": endpoint,
        "name": LOAD_BALANCER,
        "subnets": [zone["SubnetId"] for zone in load_balancer["AvailabilityZones"]],
        "security_groups": load_balancer["SecurityGroups"],
        "purge_rules": False,
        "listeners": [
            {"Protocol": "HTTP", "Port": 80, "DefaultActions": [{"Type": "forward", "ForwardConfig": forward}]}
        ],
    }


def measure(recorder: AwsRecorder, module: str, args: dict, endpoint: str) -> dict:
    recorder.reset()
    started = time.perf_counter()
    result = run_module(module, args, endpoint=endpoint)
    seconds = time.perf_counter() - started
    if result.get("failed"):
        raise SystemExit(f"{module} failed: {result.get('msg')}")
    calls = recorder.calls
    return {
        "changed": result["changed"],
        "calls": len(calls),
        "writes": sum(call.is_write for call in calls),
        "seconds": seconds,
        "operations": Counter(call.operation for call in calls),
    }


def one_round(server: MotoServer, recorder: AwsRecorder, task) -> dict[str, dict]:
    server.reset()
    stack = build_alb_stack(lambda service: boto3.client(service, region_name=REGION, endpoint_url=server.endpoint))
    module, args = task(stack, recorder.endpoint)
    change = measure(recorder, module, args, recorder.endpoint)
    if stack.weights(stack.default_actions()) != WEIGHTS:
        raise SystemExit(f"{module} did not set the weights {WEIGHTS}")
    return {"change": change, "re-run": measure(recorder, module, args, recorder.endpoint)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds per module (median wall time)")
    options = parser.parse_args()

    os.environ.update(CREDENTIALS)
    with tempfile.TemporaryDirectory() as tmp:
        server = MotoServer(log_path=Path(tmp) / "moto.log").start()
        recorder = AwsRecorder(server.endpoint).start()
        try:
            runs = {
                name: [one_round(server, recorder, task) for _ in range(options.repeat)]
                for name, task in (
                    ("alb_weighted_forward", ours),
                    ("alb_weighted_forward verify=false", ours_unverified),
                    ("elb_application_lb", theirs),
                )
            }
            server.reset()
            stack = build_alb_stack(
                lambda service: boto3.client(service, region_name=REGION, endpoint_url=server.endpoint)
            )
            module, args = theirs(stack, recorder.endpoint, restate_stickiness=False)
            measure(recorder, module, args, recorder.endpoint)
            naive = measure(recorder, module, args, recorder.endpoint)
        finally:
            recorder.stop()
            server.stop()

    print(f"Same weight change (Lambda 1/ECS 0 -> 75/25) on a local ALB (moto), median of {options.repeat} rounds")
    print(f"{'run':<8} {'module':<34} {'changed':>7} {'calls':>6} {'writes':>6} {'wall s':>7}")
    rows = {}
    for scenario in ("change", "re-run"):
        for name, rounds in runs.items():
            first = rounds[0][scenario]
            seconds = statistics.median(one[scenario]["seconds"] for one in rounds)
            rows[name, scenario] = (first["calls"], first["writes"], seconds)
            print(
                f"{scenario:<8} {name:<34} {first['changed']!s:>7} {first['calls']:>6} {first['writes']:>6} "
                f"{seconds:>7.2f}"
            )
    for name in (name for name in runs if name != "elb_application_lb"):
        for scenario in ("change", "re-run"):
            ours_calls, ours_writes, ours_seconds = rows[name, scenario]
            their_calls, their_writes, their_seconds = rows["elb_application_lb", scenario]
            print(
                f"ratio {scenario:<6} {name:<33} / elb_application_lb: calls {ours_calls}/{their_calls} "
                f"= {ours_calls / their_calls:.2f}, writes {ours_writes}/{their_writes}, "
                f"wall time {ours_seconds / their_seconds:.2f}"
            )
    for name, rounds in runs.items():
        for scenario in ("change", "re-run"):
            operations = ", ".join(f"{op} x{count}" for op, count in sorted(rounds[0][scenario]["operations"].items()))
            print(f"calls {scenario:<6} {name}: {operations}")
    print(
        f"elb_application_lb re-run without the stickiness block restated: changed={naive['changed']}, "
        f"calls {naive['calls']}, writes {naive['writes']}"
    )


if __name__ == "__main__":
    main()
