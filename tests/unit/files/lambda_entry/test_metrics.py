"""files/lambda_entry/metrics.py: the EMF lines of each invocation, checked against AWS's EMF specification.

The specification's rules ("Specification: Embedded metric format", CloudWatch user guide) are transcribed once, in
lab/emf.py (``EMF_SCHEMA`` and ``target_member_problems``), where the lab's extraction of the app's metrics applies
them as CloudWatch Logs does.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pytest
import yaml

from lab.emf import EMF_SCHEMA, target_member_problems
from tests.support.app_support import ROOT, LambdaContext, alb_event, load_app, load_lambda_entry_metrics
from tests.support.imports import imported_modules

metrics = load_lambda_entry_metrics()


def emf_documents(output: str) -> list[dict]:
    documents = [json.loads(line) for line in output.splitlines()]
    return [document for document in documents if "_aws" in document]


def test_the_schema_and_the_member_check_refuse_what_the_specification_refuses():
    """Shows the checks below can fail."""
    good = json.loads(metrics.emf_line("app", 1_700_000_000.5, 12.5, True))
    jsonschema.validate(good, EMF_SCHEMA)
    assert target_member_problems(good) == []
    for broken in (
        {**good, "_aws": {**good["_aws"], "Timestamp": "now"}},
        {**good, "_aws": {"CloudWatchMetrics": good["_aws"]["CloudWatchMetrics"]}},
        {**good, "_aws": {**good["_aws"], "CloudWatchMetrics": [{"Namespace": "x", "Metrics": []}]}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, EMF_SCHEMA)
    directive = good["_aws"]["CloudWatchMetrics"][0]
    wrong_resolution = {**directive, "Metrics": [{"Name": "Duration", "StorageResolution": 10}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**good, "_aws": {**good["_aws"], "CloudWatchMetrics": [wrong_resolution]}}, EMF_SCHEMA)
    assert target_member_problems({**good, "FunctionName": 7, "Duration": "12"}) == [
        "dimension FunctionName is not a non-empty string member of the root",
        "metric Duration is not a number (or up to 100 numbers) of the root",
    ]


def test_each_invocation_writes_one_line_of_the_specifications_shape_at_high_resolution(capsys, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "shop-app")
    handler = metrics.metered(lambda event, context: {"statusCode": 200})
    capsys.readouterr()
    before = time.time()
    for _ in range(3):
        assert handler({}, LambdaContext(aws_request_id="req-7")) == {"statusCode": 200}
    after = time.time()

    documents = emf_documents(capsys.readouterr().out)
    assert len(documents) == 3
    for document in documents:
        jsonschema.validate(document, EMF_SCHEMA)
        assert target_member_problems(document) == []
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert (directive["Namespace"], directive["Dimensions"]) == ("Spillover", [["FunctionName"]])
        assert {(item["Name"], item["Unit"], item["StorageResolution"]) for item in directive["Metrics"]} == {
            ("Invocations", "Count", 1),
            ("Duration", "Milliseconds", 1),
            ("ColdStart", "Count", 1),
        }
        assert document["FunctionName"] == "shop-app" and document["Invocations"] == 1
        assert int(before * 1000) <= document["_aws"]["Timestamp"] <= int(after * 1000)
        assert document["requestId"] == "req-7"
    assert [document["ColdStart"] for document in documents] == [1, 0, 0]


def test_a_failing_handler_still_gets_its_invocation_and_duration_counted(capsys, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "shop-app")

    def failing(event, context):
        time.sleep(0.02)
        raise RuntimeError("the app failed")

    handler = metrics.metered(failing)
    capsys.readouterr()
    with pytest.raises(RuntimeError, match="the app failed"):
        handler({}, LambdaContext())
    (document,) = emf_documents(capsys.readouterr().out)
    jsonschema.validate(document, EMF_SCHEMA)
    assert (document["Invocations"], document["ColdStart"]) == (1, 1)
    assert document["Duration"] >= 20


def test_the_function_name_comes_from_the_runtime_else_the_context(capsys, monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    handler = metrics.metered(lambda event, context: None)
    handler({}, SimpleNamespace(function_name="from-context"))
    handler({}, None)  # no context at all (a benchmark calling the handler directly): still a valid line
    documents = emf_documents(capsys.readouterr().out)
    assert [document["FunctionName"] for document in documents] == ["from-context", "unknown"]
    assert "requestId" not in documents[1]
    for document in documents:
        jsonschema.validate(document, EMF_SCHEMA)


def test_the_apps_lambda_handler_writes_one_line_per_invocation_even_when_it_fails(capsys, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "shop-app")
    monkeypatch.delenv("AWS_LAMBDA_RUNTIME_API", raising=False)
    app = load_app("spillover_app_metered")
    capsys.readouterr()
    app.lambda_handler(alb_event("/pong", multi_value=False), LambdaContext())
    with pytest.raises(KeyError):  # not an ALB event: apig-wsgi fails the invocation (an ALB 502)
        app.lambda_handler({}, LambdaContext())
    documents = emf_documents(capsys.readouterr().out)
    assert [(document["FunctionName"], document["Invocations"]) for document in documents] == [("shop-app", 1)] * 2
    assert [document["ColdStart"] for document in documents] == [1, 0]


def test_the_alarm_roles_pressure_alarms_read_what_the_wrapper_writes():
    definitions = yaml.safe_load((ROOT / "roles" / "alarm" / "vars" / "main.yml").read_text())
    pressure = definitions["alarm__pressure_definitions"]
    assert len(pressure) == 2
    for alarm in pressure:
        assert (alarm["namespace"], alarm["metric_name"], alarm["statistic"]) == ("Spillover", "Duration", "Sum")
        assert alarm["dimensions"] == "{{ alarm__pressure_dimensions }}"
    assert list(definitions["alarm__pressure_dimensions"]) == [metrics.DIMENSION]
    assert (metrics.NAMESPACE, metrics.DURATION) == ("Spillover", "Duration")


def test_the_module_is_standard_library_only():
    """It is packed into any app's zip (lambda_zip's extra_files), whatever that app vendors."""
    assert imported_modules(Path(metrics.__file__)) - set(sys.stdlib_module_names) == set()
