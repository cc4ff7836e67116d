"""Unit tests of the logic of cloudwatch_dashboard: normalisation, plan, refusals, with a fake CloudWatch (no AWS)."""

from __future__ import annotations

import json
import math
import sys

import pytest
from botocore.exceptions import ClientError

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.modules import cloudwatch_dashboard as cwd

ARN = "arn:aws:cloudwatch::123456789012:dashboard/stack"
TEXT = {"type": "text", "x": 0, "y": 0, "width": 24, "height": 2, "properties": {"markdown": "Managed — by Ansible"}}
METRIC = {
    "type": "metric",
    "width": 12,
    "height": 6,
    "properties": {"region": "us-east-1", "stacked": False, "metrics": [["AWS/Lambda", "Throttles"]]},
}
BODY = {"start": "-PT3H", "widgets": [TEXT, METRIC]}


def client_error(code: str, operation: str, **extra) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} from CloudWatch"}, **extra}, operation)


class FakeCloudWatch:
    """GetDashboard / PutDashboard / DeleteDashboards over one stored body text; ``warnings`` are answered by the
    next PutDashboard (the body is still written, as AWS does); ``reject`` refuses the next PutDashboard."""

    def __init__(self, text: str | None = None):
        self.text = text
        self.writes: list[tuple] = []
        self.warnings: list[dict] = []
        self.reject: list[dict] | None = None
        self.fail_put_after: int | None = None
        self.vanish_before_delete = False

    def get_dashboard(self, aws_retry: bool, DashboardName: str) -> dict:
        if self.text is None:
            raise client_error("ResourceNotFound", "GetDashboard")
        return {"DashboardName": DashboardName, "DashboardArn": ARN, "DashboardBody": self.text}

    def put_dashboard(self, aws_retry: bool, DashboardName: str, DashboardBody: str) -> dict:
        self.writes.append(("put", DashboardName, DashboardBody))
        if self.fail_put_after is not None and len(self.writes) > self.fail_put_after:
            raise client_error("InternalServiceError", "PutDashboard")
        if self.reject is not None:
            raise client_error("InvalidParameterInput", "PutDashboard", dashboardValidationMessages=self.reject)
        self.text = DashboardBody
        warnings, self.warnings = self.warnings, []
        return {"DashboardValidationMessages": warnings}

    def delete_dashboards(self, aws_retry: bool, DashboardNames: list[str]) -> dict:
        self.writes.append(("delete", *DashboardNames))
        if self.vanish_before_delete:
            self.text = None
        if self.text is None:
            raise client_error("ResourceNotFound", "DeleteDashboards")
        self.text = None
        return {}


def params(body=BODY, state="present", strict=False, name="stack") -> dict:
    return {"name": name, "body": body, "state": state, "fail_on_validation_messages": strict}


# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stored",
    [
        json.dumps(BODY),
        json.dumps(BODY, indent=4, ensure_ascii=True),
        json.dumps(dict(reversed(list(BODY.items())))),
        json.dumps({**BODY, "widgets": [TEXT, {**METRIC, "width": 12.0, "height": 6.0}]}),
    ],
)
def test_the_same_dashboard_however_cloudwatch_formats_it(stored):
    assert cwd.same_body(stored, cwd.body_text(BODY))
    assert cwd.plan({"DashboardBody": stored}, cwd.body_text(BODY), "present") is None


@pytest.mark.parametrize(
    "other",
    [
        {**BODY, "widgets": [METRIC, TEXT]},  # widget order is layout order
        {**BODY, "start": "-PT6H"},
        {**BODY, "widgets": [TEXT, {**METRIC, "properties": {**METRIC["properties"], "stacked": 0}}]},  # false != 0
        {**BODY, "widgets": [{**TEXT, "x": True}, METRIC]},  # true != 0 nor 1
        {**BODY, "periodOverride": "auto"},
        {"widgets": BODY["widgets"]},
    ],
)
def test_a_real_difference_is_a_change(other):
    assert not cwd.same_body(json.dumps(other), cwd.body_text(BODY))
    assert cwd.plan({"DashboardBody": json.dumps(other)}, cwd.body_text(BODY), "present") == "put"


def test_the_body_written_is_compact_json_with_sorted_keys_and_unicode_kept():
    text = cwd.body_text({"widgets": [], "start": "-PT1H", "end": "—"})
    assert text == '{"end":"—","start":"-PT1H","widgets":[]}'
    assert cwd.body_text({"widgets": [{"properties": {1: "a"}}]}) == '{"widgets":[{"properties":{"1":"a"}}]}'


@pytest.mark.parametrize(
    ("current", "state", "expected"),
    [
        (None, "present", "put"),
        ({"DashboardBody": json.dumps({"widgets": []})}, "present", "put"),
        ({"DashboardBody": json.dumps(BODY)}, "present", None),
        ({"DashboardBody": json.dumps(BODY)}, "absent", "delete"),
        (None, "absent", None),
    ],
)
def test_plan(current, state, expected):
    wanted = cwd.body_text(BODY) if state == "present" else None
    assert cwd.plan(current, wanted, state) == expected


# ---------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (json.dumps(BODY), "body is a string; give the dashboard body as data"),
        ([BODY], "body must be a mapping (the dashboard body, with a widgets list), got a list"),
        (None, "got a NoneType"),
        ({"start": "-PT3H"}, "body must have a widgets list (it may be empty); it has none."),
        ({"widgets": "[]"}, "widgets is a str"),
        ({"widgets": [TEXT] * 501}, "body has 501 widgets; a CloudWatch dashboard holds at most 500"),
        ({"widgets": [{**TEXT, "width": math.nan}]}, "body cannot be written as JSON"),
        ({"widgets": [{**TEXT, "properties": {"markdown": {"a", "b"}}}]}, "body cannot be written as JSON"),
    ],
)
def test_bad_bodies_are_refused_before_any_call(body, message):
    client = FakeCloudWatch(json.dumps(BODY))
    with pytest.raises(SpilloverError) as refused:
        cwd.ensure_dashboard(client, params(body), check_mode=False)
    assert message in refused.value.message
    assert client.writes == []


def test_500_widgets_and_no_widgets_are_fine():
    assert json.loads(cwd.body_text({"widgets": [TEXT] * 500}))["widgets"] == [TEXT] * 500
    assert cwd.body_text({"widgets": []}) == '{"widgets":[]}'


@pytest.mark.parametrize("name", ["", "a" * 256, "my stack", "my.stack", "stack/1", "pilha-é"])
def test_invalid_names_are_refused(name):
    with pytest.raises(SpilloverError, match="is not valid"):
        cwd.ensure_dashboard(FakeCloudWatch(), params(name=name), check_mode=False)


@pytest.mark.parametrize("name", ["a", "A" * 255, "my-stack_2"])
def test_valid_names_pass(name):
    cwd.validate_name(name)


# ---------------------------------------------------------------------------------------------
# The run, with a fake CloudWatch
# ---------------------------------------------------------------------------------------------


def test_create_reports_the_stored_body_and_arn():
    client = FakeCloudWatch()
    changed, result, diff, warnings = cwd.ensure_dashboard(client, params(), check_mode=False)
    assert changed and warnings == []
    assert result == {"name": "stack", "arn": ARN, "body": BODY, "validation_messages": []}
    assert diff == {"before": None, "after": BODY, "before_header": "stack", "after_header": "stack"}
    assert client.writes == [("put", "stack", cwd.body_text(BODY))]


def test_no_change_writes_nothing():
    client = FakeCloudWatch(json.dumps(BODY, indent=2))
    changed, result, diff, _ = cwd.ensure_dashboard(client, params(), check_mode=False)
    assert not changed and client.writes == []
    assert result["body"] == BODY and diff["before"] == diff["after"] == BODY


@pytest.mark.parametrize(
    ("stored", "state", "after"),
    [(None, "present", BODY), (json.dumps({"widgets": []}), "present", BODY), (json.dumps(BODY), "absent", None)],
)
def test_check_mode_reports_the_change_and_writes_nothing(stored, state, after):
    client = FakeCloudWatch(stored)
    changed, result, diff, _ = cwd.ensure_dashboard(client, params(state=state), check_mode=True)
    assert changed and result["body"] == after and diff["after"] == after
    assert result["arn"] == (ARN if stored else None)
    assert client.writes == [] and client.text == stored


def test_delete_and_delete_again():
    client = FakeCloudWatch(json.dumps(BODY))
    changed, result, diff, _ = cwd.ensure_dashboard(client, params(state="absent"), check_mode=False)
    assert changed and result["arn"] == ARN and result["body"] is None and diff["before"] == BODY
    assert client.writes == [("delete", "stack")] and client.text is None
    changed, result, _, _ = cwd.ensure_dashboard(client, params(state="absent"), check_mode=False)
    assert not changed and result["arn"] is None and client.writes == [("delete", "stack")]


def test_a_dashboard_deleted_meanwhile_is_already_gone():
    client = FakeCloudWatch(json.dumps(BODY))
    client.vanish_before_delete = True
    changed, _, _, _ = cwd.ensure_dashboard(client, params(state="absent"), check_mode=False)
    assert changed and client.text is None


def test_validation_messages_are_warnings_by_default():
    client = FakeCloudWatch()
    client.warnings = [{"DataPath": "/widgets/1", "Message": "Unknown stat"}]
    changed, result, _, warnings = cwd.ensure_dashboard(client, params(), check_mode=False)
    assert changed and client.text == cwd.body_text(BODY)
    assert result["validation_messages"] == [{"data_path": "/widgets/1", "message": "Unknown stat"}]
    assert warnings == ["CloudWatch on dashboard stack: /widgets/1: Unknown stat"]


@pytest.mark.parametrize("stored", [json.dumps({"widgets": []}, indent=1), None])
def test_strict_mode_fails_and_puts_the_dashboard_back(stored):
    client = FakeCloudWatch(stored)
    client.warnings = [{"DataPath": "/widgets/1", "Message": "Unknown stat"}]
    with pytest.raises(SpilloverError) as failed:
        cwd.ensure_dashboard(client, params(strict=True), check_mode=False)
    assert "(/widgets/1: Unknown stat)" in failed.value.message and "put back as it was" in failed.value.message
    assert failed.value.kwargs == {"validation_messages": [{"data_path": "/widgets/1", "message": "Unknown stat"}]}
    assert client.text == stored  # exactly as GetDashboard returned it, or gone again
    assert [write[0] for write in client.writes] == ["put", "put" if stored else "delete"]


def test_strict_mode_says_when_putting_back_failed():
    client = FakeCloudWatch(json.dumps({"widgets": []}))
    client.warnings = [{"DataPath": "/widgets/1", "Message": "Unknown stat"}]
    client.fail_put_after = 1
    with pytest.raises(SpilloverError) as failed:
        cwd.ensure_dashboard(client, params(strict=True), check_mode=False)
    assert "putting the dashboard back as it was failed: Failed to write dashboard stack" in failed.value.message
    assert isinstance(failed.value.exception, ClientError)


def test_a_rejected_body_fails_with_cloudwatchs_messages_and_nothing_written():
    client = FakeCloudWatch(json.dumps({"widgets": []}))
    client.reject = [{"DataPath": "/widgets/1/properties", "Message": "Should have required property 'metrics'"}]
    with pytest.raises(SpilloverError) as rejected:
        cwd.ensure_dashboard(client, params(), check_mode=False)
    assert rejected.value.message == "CloudWatch rejected the body of dashboard stack; nothing was written"
    assert rejected.value.exception.response["Error"]["Code"] == "InvalidParameterInput"
    assert rejected.value.kwargs["validation_messages"] == [
        {"data_path": "/widgets/1/properties", "message": "Should have required property 'metrics'"}
    ]
    assert client.text == json.dumps({"widgets": []})


def test_a_write_that_cannot_be_read_back_is_an_error_not_a_crash():
    class Forgetful(FakeCloudWatch):
        def put_dashboard(self, aws_retry: bool, DashboardName: str, DashboardBody: str) -> dict:
            super().put_dashboard(aws_retry, DashboardName, DashboardBody)
            self.text = None
            return {}

    with pytest.raises(SpilloverError, match="was written, but reading it back found no dashboard"):
        cwd.ensure_dashboard(Forgetful(), params(), check_mode=False)


def test_other_aws_errors_carry_what_was_being_done():
    class Denied(FakeCloudWatch):
        def get_dashboard(self, aws_retry: bool, DashboardName: str) -> dict:
            raise client_error("AccessDenied", "GetDashboard")

    with pytest.raises(SpilloverError) as denied:
        cwd.ensure_dashboard(Denied(), params(), check_mode=False)
    assert denied.value.message == "Failed to read dashboard stack"
    assert denied.value.exception.response["Error"]["Code"] == "AccessDenied"
