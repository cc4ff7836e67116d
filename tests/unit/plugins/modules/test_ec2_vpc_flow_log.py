"""Unit tests of ec2_vpc_flow_log's logic, with a fake EC2 client answering as EC2 does (no AWS)."""

from __future__ import annotations

import sys

import pytest

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.modules import ec2_vpc_flow_log as module

ROLE = "arn:aws:iam::123456789012:role/shop-flow-logs"


class FakeEc2:
    """DescribeFlowLogs (by tag:Name), CreateFlowLogs, DeleteFlowLogs, CreateTags and DeleteTags, recorded."""

    def __init__(self):
        self.flow_logs: dict[str, dict] = {}
        self.writes: list[tuple[str, dict]] = []

    def get_paginator(self, name):
        assert name == "describe_flow_logs"
        ec2 = self

        class Pages:
            def paginate(self, Filters):
                [flt] = Filters
                assert flt["Name"] == "tag:Name"
                found = [
                    log
                    for log in ec2.flow_logs.values()
                    if {"Key": "Name", "Value": flt["Values"][0]} in log.get("Tags", [])
                ]
                return type("Result", (), {"build_full_result": lambda _self: {"FlowLogs": found}})()

        return Pages()

    def create_flow_logs(self, aws_retry, **request):
        self.writes.append(("create_flow_logs", request))
        flow_log_id = f"fl-{len(self.writes):04d}"
        [spec] = request["TagSpecifications"]
        assert spec["ResourceType"] == "vpc-flow-log"
        log = {
            "FlowLogId": flow_log_id,
            "ResourceId": request["ResourceIds"][0],
            "TrafficType": request["TrafficType"],
            "LogDestinationType": request["LogDestinationType"],
            "MaxAggregationInterval": request["MaxAggregationInterval"],
            "Tags": spec["Tags"],
        }
        if request["LogDestinationType"] == "cloud-watch-logs":
            log.update(
                LogGroupName=request["LogGroupName"], DeliverLogsPermissionArn=request["DeliverLogsPermissionArn"]
            )
            log["LogDestination"] = f"arn:aws:logs:us-east-1:123456789012:log-group:{request['LogGroupName']}"
        else:
            log["LogDestination"] = request["LogDestination"]
        self.flow_logs[flow_log_id] = log
        return {"FlowLogIds": [flow_log_id], "Unsuccessful": []}

    def delete_flow_logs(self, aws_retry, FlowLogIds):
        self.writes.append(("delete_flow_logs", {"FlowLogIds": FlowLogIds}))
        for flow_log_id in FlowLogIds:
            del self.flow_logs[flow_log_id]
        return {"Unsuccessful": []}

    def create_tags(self, aws_retry, Resources, Tags):
        self.writes.append(("create_tags", {"Resources": Resources, "Tags": Tags}))
        log = self.flow_logs[Resources[0]]
        keys = {tag["Key"] for tag in Tags}
        log["Tags"] = [tag for tag in log["Tags"] if tag["Key"] not in keys] + Tags

    def delete_tags(self, aws_retry, Resources, Tags):
        self.writes.append(("delete_tags", {"Resources": Resources, "Tags": Tags}))
        keys = {tag["Key"] for tag in Tags}
        log = self.flow_logs[Resources[0]]
        log["Tags"] = [tag for tag in log["Tags"] if tag["Key"] not in keys]


def params(**changes):
    return {
        "name": "shop-flow-logs",
        "state": "present",
        "vpc_id": "vpc-1",
        "traffic_type": "REJECT",
        "destination_type": "cloud-watch-logs",
        "log_group_name": "/vpc/shop-flow-logs",
        "deliver_logs_permission_arn": ROLE,
        "log_destination": None,
        "max_aggregation_interval": 600,
        "tags": {"spillover:stack": "shop"},
        **changes,
    }


def test_check_mode_writes_nothing_then_a_run_creates_then_a_rerun_changes_nothing():
    ec2 = FakeEc2()
    changed, result, diff = module.ensure_flow_log(ec2, params(), check_mode=True)
    assert changed and result["flow_log_id"] is None and ec2.writes == []
    assert diff == {"before": {}, "after": result["flow_log"]}

    changed, result, _diff = module.ensure_flow_log(ec2, params(), check_mode=False)
    [(call, request)] = ec2.writes
    assert changed and call == "create_flow_logs"
    assert request["ResourceIds"] == ["vpc-1"] and request["ResourceType"] == "VPC"
    assert (request["LogGroupName"], request["DeliverLogsPermissionArn"]) == ("/vpc/shop-flow-logs", ROLE)
    assert "LogDestination" not in request
    assert request["TagSpecifications"][0]["Tags"] == [
        {"Key": "spillover:stack", "Value": "shop"},
        {"Key": "Name", "Value": "shop-flow-logs"},
    ]
    assert result["flow_log_id"] == "fl-0001"

    assert module.ensure_flow_log(ec2, params(), check_mode=False)[0] is False
    assert len(ec2.writes) == 1


def test_changed_settings_replace_the_flow_log_and_changed_tags_are_set_in_place():
    ec2 = FakeEc2()
    module.ensure_flow_log(ec2, params(), check_mode=False)
    to_s3 = params(destination_type="s3", log_destination="arn:aws:s3:::shop-logs/flow", traffic_type="ALL")
    changed, result, diff = module.ensure_flow_log(ec2, to_s3, check_mode=False)
    assert changed and [call for call, _ in ec2.writes] == ["create_flow_logs", "delete_flow_logs", "create_flow_logs"]
    create = ec2.writes[-1][1]
    assert create["LogDestination"] == "arn:aws:s3:::shop-logs/flow" and "LogGroupName" not in create
    assert "DeliverLogsPermissionArn" not in create
    assert diff["before"]["destination_type"] == "cloud-watch-logs" and diff["after"]["traffic_type"] == "ALL"
    assert list(ec2.flow_logs) == [result["flow_log_id"]]

    retagged = {**to_s3, "tags": {"spillover:stack": "shop", "team": "a"}}
    assert module.ensure_flow_log(ec2, retagged, check_mode=False)[0] is True
    assert ec2.writes[-1] == (
        "create_tags",
        {"Resources": [result["flow_log_id"]], "Tags": [{"Key": "team", "Value": "a"}]},
    )
    assert module.ensure_flow_log(ec2, to_s3, check_mode=False)[0] is True
    assert ec2.writes[-1] == ("delete_tags", {"Resources": [result["flow_log_id"]], "Tags": [{"Key": "team"}]})
    assert module.ensure_flow_log(ec2, to_s3, check_mode=False)[0] is False


def test_absent_deletes_every_flow_log_of_the_name_and_is_harmless_twice():
    ec2 = FakeEc2()
    module.ensure_flow_log(ec2, params(), check_mode=False)
    assert module.ensure_flow_log(ec2, params(state="absent"), check_mode=True)[0] is True
    assert ec2.flow_logs
    changed, result, _diff = module.ensure_flow_log(ec2, params(state="absent"), check_mode=False)
    assert changed and ec2.flow_logs == {} and result == {"flow_log_id": None, "flow_log": None}
    assert module.ensure_flow_log(ec2, params(state="absent"), check_mode=False)[0] is False


@pytest.mark.parametrize(
    ("changes", "missing"),
    [
        ({"vpc_id": None}, "vpc_id"),
        ({"deliver_logs_permission_arn": None}, "deliver_logs_permission_arn"),
        ({"destination_type": "s3"}, "log_destination"),
    ],
)
def test_a_present_flow_log_without_its_destination_is_refused_before_any_write(changes, missing):
    ec2 = FakeEc2()
    with pytest.raises(SpilloverError, match=f"a present flow log needs {missing}"):
        module.ensure_flow_log(ec2, params(**changes), check_mode=False)
    assert ec2.writes == []
