"""spillover.lambda_ecs.cloudwatch_dashboard against the local AWS (moto server), through Ansible.

Module runs go through the recording proxy, so "no write call" is asserted from what reached AWS. Two things
AWS does that moto does not are reproduced here rather than skipped:
- AWS re-serialises the body it stores (moto returns it verbatim), so a body CloudWatch formatted its own way is
  written with boto3 first and the module must see no change;
- moto never validates a body beyond "is it JSON" and never returns DashboardValidationMessages, so the proxy
  answers PutDashboard as AWS does: a 400 InvalidParameterInput with the messages (nothing written), or a 200
  with warning messages (the body written).
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.support.ansible_run import run_module

pytestmark = pytest.mark.integration

NAME = "spill-stack"
BODY = {
    "start": "-PT3H",
    "periodOverride": "inherit",
    "widgets": [
        {
            "type": "text",
            "x": 0,
            "y": 0,
            "width": 24,
            "height": 2,
            "properties": {"markdown": "Managed by Ansible — edits in the console are overwritten."},
        },
        {
            "type": "metric",
            "x": 0,
            "y": 2,
            "width": 12,
            "height": 6,
            "properties": {
                "title": "Lambda throttles",
                "region": "us-east-1",
                "stat": "Sum",
                "period": 60,
                "stacked": False,
                "metrics": [["AWS/Lambda", "Throttles", "FunctionName", "spill-stack-app"]],
            },
        },
    ],
}
# What AWS answers a PutDashboard it rejects (the message format as CloudWatch gives it; JSON protocol).
REJECTED = {
    "__type": "GraniteServiceVersion20100801#DashboardInvalidInputError",
    "message": "The dashboard body is invalid, there are 1 validation errors:\n[\n  {\n"
    '    "dataPath": "/widgets/1/properties",\n'
    '    "message": "The metric widget should have specified a region and a data source or an alarm annotation"\n'
    "  }\n]",
    "dashboardValidationMessages": [
        {
            "DataPath": "/widgets/1/properties",
            "Message": "The metric widget should have specified a region and a data source or an alarm annotation",
        }
    ],
}
REJECTED_HEADERS = {"x-amzn-query-error": "InvalidParameterInput;Sender"}
# A PutDashboard that AWS accepts with a warning.
WARNED = {"DashboardValidationMessages": [{"DataPath": "/widgets/1/properties/stat", "Message": "Unknown stat"}]}


def stored(aws_client) -> str | None:
    """The body text the local AWS holds, None when there is no dashboard."""
    try:
        return aws_client("cloudwatch").get_dashboard(DashboardName=NAME)["DashboardBody"]
    except ClientError as e:
        assert e.response["Error"]["Code"] == "ResourceNotFound", e.response
        return None


def retitled(title: str) -> dict:
    body = json.loads(json.dumps(BODY))
    body["widgets"][1]["properties"]["title"] = title
    return body


@pytest.fixture
def run(recorder):
    def run(args: dict, **kwargs) -> dict:
        recorder.reset()
        result = run_module("cloudwatch_dashboard", {"name": NAME, **args}, endpoint=recorder.endpoint, **kwargs)
        return result

    return run


def operations(recorder) -> list[str]:
    return [call.operation for call in recorder.writes]


def test_create_rerun_change_and_delete_write_only_when_needed(run, recorder, aws_client):
    check = run({"body": BODY}, check=True, diff=True)
    assert not check.get("failed"), check
    assert check["changed"] and check["arn"] is None and check["body"] == BODY
    assert check["diff"]["before"] is None and check["diff"]["after"] == BODY
    assert operations(recorder) == [] and stored(aws_client) is None

    created = run({"body": BODY}, diff=True)
    assert not created.get("failed"), created
    assert created["changed"] and created["validation_messages"] == []
    assert operations(recorder) == ["PutDashboard"]
    assert created["arn"] == f"arn:aws:cloudwatch::123456789012:dashboard/{NAME}"
    assert created["body"] == BODY and json.loads(stored(aws_client)) == BODY
    assert created["diff"] == {"before": None, "after": BODY, "before_header": NAME, "after_header": NAME}

    again = run({"body": BODY})
    assert not again.get("failed") and not again["changed"], again
    assert [call.operation for call in recorder.calls] == ["GetDashboard"]
    assert again["body"] == BODY and again["arn"] == created["arn"]

    changed_body = retitled("Throttles of the app")
    check_change = run({"body": changed_body}, check=True, diff=True)
    assert check_change["changed"] and check_change["diff"] == {
        "before": BODY,
        "after": changed_body,
        "before_header": NAME,
        "after_header": NAME,
    }
    assert operations(recorder) == [] and json.loads(stored(aws_client)) == BODY

    changed = run({"body": changed_body})
    assert changed["changed"] and changed["body"] == changed_body
    assert operations(recorder) == ["PutDashboard"]
    assert json.loads(stored(aws_client)) == changed_body
    assert not run({"body": changed_body})["changed"] and operations(recorder) == []

    check_delete = run({"state": "absent"}, check=True, diff=True)
    assert check_delete["changed"] and check_delete["diff"]["after"] is None
    assert operations(recorder) == [] and stored(aws_client) is not None

    deleted = run({"state": "absent"}, diff=True)
    assert deleted["changed"] and deleted["body"] is None and deleted["arn"] == created["arn"]
    assert deleted["diff"]["before"] == changed_body and deleted["diff"]["after"] is None
    assert operations(recorder) == ["DeleteDashboards"] and stored(aws_client) is None

    gone = run({"state": "absent"})
    assert not gone.get("failed") and not gone["changed"] and gone["arn"] is None, gone
    assert operations(recorder) == []


def test_a_body_as_cloudwatch_reformats_it_is_no_change(run, recorder, aws_client):
    """AWS stores the body re-serialised; here it is indented, with other key order and 6.0 for 6."""
    reformatted = json.loads(json.dumps(BODY))
    reformatted["widgets"][1]["width"] = 12.0
    text = json.dumps(dict(reversed(list(reformatted.items()))), indent=2, ensure_ascii=True)
    aws_client("cloudwatch").put_dashboard(DashboardName=NAME, DashboardBody=text)

    result = run({"body": BODY})
    assert not result.get("failed") and not result["changed"], result
    assert operations(recorder) == [] and stored(aws_client) == text

    # A real difference is still one: true is not 1 in JSON.
    flipped = json.loads(json.dumps(BODY))
    flipped["widgets"][1]["properties"]["stacked"] = 0
    assert run({"body": flipped})["changed"] and operations(recorder) == ["PutDashboard"]


def test_a_body_cloudwatch_rejects_fails_with_its_message_and_writes_nothing(run, recorder, aws_client):
    assert run({"body": BODY})["changed"]
    before = stored(aws_client)

    recorder.answer("PutDashboard", 400, REJECTED, headers=REJECTED_HEADERS)
    rejected = run({"body": retitled("no region")})
    assert rejected["failed"], rejected
    assert "CloudWatch rejected the body of dashboard spill-stack; nothing was written" in rejected["msg"]
    assert "InvalidParameterInput" in rejected["msg"]
    assert "should have specified a region and a data source" in rejected["msg"]
    assert rejected["validation_messages"] == [
        {
            "data_path": "/widgets/1/properties",
            "message": "The metric widget should have specified a region and a data source or an alarm annotation",
        }
    ]
    assert operations(recorder) == ["PutDashboard"] and stored(aws_client) == before


def test_validation_messages_warn_or_fail_and_put_the_dashboard_back(run, recorder, aws_client):
    recorder.answer("PutDashboard", 200, WARNED, forward=True)
    warned = run({"body": BODY})
    assert not warned.get("failed") and warned["changed"], warned
    assert warned["validation_messages"] == [{"data_path": "/widgets/1/properties/stat", "message": "Unknown stat"}]
    assert any("/widgets/1/properties/stat: Unknown stat" in warning for warning in warned.get("warnings", []))
    assert json.loads(stored(aws_client)) == BODY

    # Strict: the new body was written (AWS accepted it), then the previous one put back.
    recorder.answer("PutDashboard", 200, WARNED, forward=True)
    strict = run({"body": retitled("strict"), "fail_on_validation_messages": True})
    assert strict["failed"] and "put back as it was" in strict["msg"] and "Unknown stat" in strict["msg"], strict
    assert strict["validation_messages"] == warned["validation_messages"]
    assert operations(recorder) == ["PutDashboard", "PutDashboard"]
    assert json.loads(stored(aws_client)) == BODY

    # Strict on a dashboard the run created: it is deleted again.
    assert run({"state": "absent"})["changed"]
    recorder.answer("PutDashboard", 200, WARNED, forward=True)
    strict_new = run({"body": BODY, "fail_on_validation_messages": True})
    assert strict_new["failed"], strict_new
    assert operations(recorder) == ["PutDashboard", "DeleteDashboards"] and stored(aws_client) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"body": json.dumps(BODY)}, "body is a string"),
        ({"body": [BODY]}, "body must be a mapping"),
        ({"body": {"start": "-PT3H"}}, "body must have a widgets list"),
        ({"body": {"widgets": {"type": "text"}}}, "widgets is a dict"),
        ({"body": {"widgets": [BODY["widgets"][0]] * 501}}, "at most 500"),
        ({"name": "spill stack!", "body": BODY}, "is not valid"),
        ({"state": "present"}, "missing: body"),
    ],
)
def test_bad_input_is_refused_before_any_call(run, recorder, args, message):
    result = run(args)
    assert result["failed"] and message in result["msg"], result
    assert recorder.calls == []
