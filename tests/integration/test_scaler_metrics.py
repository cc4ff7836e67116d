"""The scaler's decision lines as CloudWatch embedded-metric-format documents, against the local AWS.

Each line is checked against AWS's EMF specification (tests/support/emf.py, the schema the app's emitter is checked
with), and a spill and its return, driven as in tests/integration/test_scaler.py (a fake clock moved forward,
targets registered for "healthy"), must plot: its lines give the series of ECS shares and desired counts the
weights and the service went through, one timestamp per decision. CloudWatch Logs, which turns the lines into
metrics on AWS, is not in the local AWS: the lines are read from the scaler's stdout, where the Lambda runtime takes
them.
"""

from __future__ import annotations

import ast

import jsonschema
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.integration.test_scaler import FakeClock
from tests.support.emf import EMF_SCHEMA, emf_documents, target_member_problems
from tests.support.scaler_stack import (
    SCALER_DIR,
    SCHEDULED_EVENT,
    SPILL_ALARM,
    WARM_ALARM,
    alarm_event,
    build_stack,
    load_scaler_module,
)
from tests.support.throttling_proxy import ThrottlingProxy

pytestmark = pytest.mark.integration
scaler = load_scaler_module()
FUNCTION = "spill-scaler"
GAUGES = {"EcsShare", "DesiredCount", "RunningCount", "HealthyTargets"}


@pytest.fixture
def stack(local_aws, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)  # what the Lambda runtime sets
    return build_stack(local_aws.endpoint)


@pytest.fixture
def clock():
    return FakeClock()


def make(stack, clock, endpoint: str | None = None):
    env = stack.environment(AWS_ENDPOINT_URL=endpoint or stack.endpoint)
    return scaler.Scaler.from_environment(env, clock=clock, sleep=clock.sleep, monotonic=clock.monotonic)


def checked_documents(output: str) -> list[dict]:
    """The EMF documents of ``output``, each checked against the specification and the scaler's own contract: one
    directive in the namespace Spillover under FunctionName, one count of the line's action, the gauges only when
    the line decided something."""
    documents = emf_documents(output)
    for document in documents:
        jsonschema.validate(document, EMF_SCHEMA)
        assert target_member_problems(document) == [], document
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert (directive["Namespace"], directive["Dimensions"]) == ("Spillover", [["FunctionName"]])
        assert document["FunctionName"] == FUNCTION
        names = {metric["Name"] for metric in directive["Metrics"]}
        counted = scaler.ACTION_METRICS[document["action"]]
        assert document[counted] == 1 and names - GAUGES == {counted}, document
        decided = document["action"] not in ("ignored", "error")
        assert (names & GAUGES) == (GAUGES if decided else set()), document
        assert all(metric["StorageResolution"] == 1 for metric in directive["Metrics"])
    return documents


def test_a_spill_and_its_return_plot_as_series_of_ecs_shares_and_desired_counts(stack, clock, capsys):
    spill = make(stack, clock)
    records = []

    def tick(seconds: float = 0, event: dict = SCHEDULED_EVENT) -> dict:
        clock.advance(seconds)
        records.append(spill.handle(event))
        return records[-1]

    stack.set_alarm(SPILL_ALARM, "ALARM")
    assert tick(0, alarm_event(SPILL_ALARM))["action"] == "scale_out"
    stack.add_healthy_targets(2)
    for _ in range(4):  # 25, 50, 100, then the top step holds
        tick(60)
    stack.set_alarm(SPILL_ALARM, "OK")
    for _ in range(20):  # the cooldown, three steps down, the drain, the scale-in: well within 20 minutes
        if tick(60)["action"] == "scale_in":
            break
    assert records[-1]["action"] == "scale_in"

    documents = checked_documents(capsys.readouterr().out)
    assert documents == records  # what is logged is what is returned, one line per invocation
    shares = [document["EcsShare"] for document in documents]
    changes = [share for index, share in enumerate(shares) if index == 0 or share != shares[index - 1]]
    assert changes == [0, 25, 50, 100, 50, 25, 0]
    assert shares == [
        scaler.ecs_share(record["weights"]["lambda"], record["weights"]["ecs"]) for record in records
    ]  # the share after each invocation, as the ALB then has it
    assert [document["DesiredCount"] for document in documents] == [2] * (len(documents) - 1) + [0]
    assert documents[-1]["DesiredCount"] == stack.desired_count() == 0
    assert [document["HealthyTargets"] for document in documents] == [0] + [2] * (len(documents) - 1)
    timestamps = [document["_aws"]["Timestamp"] for document in documents]
    assert timestamps == sorted(set(timestamps))  # one point per decision, in time order
    step_ups = [document for document in documents if document["action"] == "step_up"]
    assert [document.get("StepUp") for document in step_ups] == [1, 1, 1]
    assert sum(document["action"] == "step_down" for document in documents) == 3


def test_a_warm_alarm_counts_warm_and_plots_the_capacity_it_adds(stack, clock, capsys):
    stack.set_alarm(WARM_ALARM, "ALARM")
    record = make(stack, clock).handle(alarm_event(WARM_ALARM))
    (document,) = checked_documents(capsys.readouterr().out)
    assert (document["action"], document["Warm"], document["DesiredCount"], document["EcsShare"]) == ("warm", 1, 2, 0)
    assert document["RunningCount"] == record["inputs"]["running_count"]


def test_ignored_events_and_errors_count_their_action_only(stack, clock, capsys):
    quiet = make(stack, clock)
    quiet.handle(alarm_event("someone-elses-alarm"))
    quiet.handle({"source": "aws.s3"})
    with ThrottlingProxy(stack.endpoint, {"DescribeListeners": None}) as proxy:
        no_retry = Config(retries={"mode": "standard", "max_attempts": 0})
        failing = scaler.Scaler.from_environment(
            stack.environment(AWS_ENDPOINT_URL=proxy.endpoint), clock=clock, boto_config=no_retry
        )
        with pytest.raises(ClientError, match="Throttling"):
            failing.handle(SCHEDULED_EVENT)
    documents = checked_documents(capsys.readouterr().out)
    assert [(document["action"], document.get("Ignored"), document.get("Error")) for document in documents] == [
        ("ignored", 1, None),
        ("ignored", 1, None),
        ("error", None, 1),
    ]


def test_every_action_the_scaler_can_take_has_its_count_metric():
    """The actions of every Decision the code can build (the literals of each ``Decision(...)`` action argument),
    and the record's own "ignored" and "error", are exactly the counted actions: none plots under no metric."""
    tree = ast.parse((SCALER_DIR / "scaler.py").read_text())
    actions = {
        node.value
        for call in ast.walk(tree)
        if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "Decision" and call.args
        for node in ast.walk(call.args[0])
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    assert actions >= {"noop", "scale_out", "step_up", "step_down", "scale_in", "fail_back", "warm"}
    assert set(scaler.ACTION_METRICS) == actions | {"ignored", "error"}
    assert len(set(scaler.ACTION_METRICS.values())) == len(scaler.ACTION_METRICS)


def test_the_startup_error_line_counts_an_error(monkeypatch, capsys):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
    monkeypatch.setattr(scaler, "STARTUP_ERROR", scaler.ConfigError(["SPILLOVER_CLUSTER is required"]))
    with pytest.raises(scaler.ConfigError):
        scaler.handler(SCHEDULED_EVENT, None)
    (document,) = checked_documents(capsys.readouterr().out)
    assert (document["action"], document["Error"]) == ("error", 1)
