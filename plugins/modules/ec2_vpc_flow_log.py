#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ec2_vpc_flow_log
version_added: 0.1.0
short_description: The flow log of one VPC, to CloudWatch Logs or to S3, found by its Name tag
description:
  - Creates the flow log of a VPC (C(CreateFlowLogs), tagged at creation), found again by its C(Name) tag, or
    deletes every flow log of that name.
  - AWS cannot change a flow log but its tags. A flow log whose VPC, traffic type, destination, delivery role or
    aggregation interval differs from the options is deleted and created anew; tags are changed in place.
  - Neither amazon.aws nor community.aws has a flow log module.
author:
  - spillover.lambda_ecs maintainers (@spillover)
options:
  name:
    description:
      - The value of the flow log's C(Name) tag, which finds it again.
    type: str
    required: true
  state:
    description:
      - V(present) creates or replaces the flow log; V(absent) deletes every flow log of that name.
    type: str
    choices: [present, absent]
    default: present
  vpc_id:
    description:
      - The VPC whose traffic is logged. Required when O(state=present).
    type: str
  traffic_type:
    description:
      - The traffic logged. V(REJECT) is what AWS Foundational Security Best Practices EC2.6 asks for at least, and
        the cheapest.
    type: str
    choices: [ACCEPT, REJECT, ALL]
    default: REJECT
  destination_type:
    description:
      - Where the records go.
    type: str
    choices: [cloud-watch-logs, s3]
    default: cloud-watch-logs
  log_group_name:
    description:
      - The log group of the records, with O(destination_type=cloud-watch-logs).
    type: str
  deliver_logs_permission_arn:
    description:
      - The role the flow logs service assumes to write to O(log_group_name), with
        O(destination_type=cloud-watch-logs).
    type: str
  log_destination:
    description:
      - The bucket's ARN, optionally with a folder (C(arn:aws:s3:::bucket/folder)), with O(destination_type=s3).
    type: str
  max_aggregation_interval:
    description:
      - The longest time in seconds that packets are gathered into one record.
    type: int
    choices: [60, 600]
    default: 600
  tags:
    description:
      - Tags of the flow log besides C(Name); tags not listed are removed.
    type: dict
    default: {}
notes:
  - Check mode and diff mode are supported.
seealso:
  - name: Flow logs
    description: Logging IP traffic using VPC Flow Logs.
    link: https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs.html
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Log the rejected traffic of the VPC to CloudWatch Logs
  spillover.lambda_ecs.ec2_vpc_flow_log:
    name: shop-flow-logs
    vpc_id: vpc-0123456789abcdef0
    traffic_type: REJECT
    log_group_name: /vpc/shop-flow-logs
    deliver_logs_permission_arn: arn:aws:iam::123456789012:role/shop-flow-logs

- name: Log all its traffic to a bucket
  spillover.lambda_ecs.ec2_vpc_flow_log:
    name: shop-flow-logs
    vpc_id: vpc-0123456789abcdef0
    traffic_type: ALL
    destination_type: s3
    log_destination: arn:aws:s3:::shop-network-logs/flow
"""

RETURN = r"""
flow_log_id:
  description: The flow log's ID (none when absent, or created in check mode).
  returned: always
  type: str
  sample: fl-0123456789abcdef0
flow_log:
  description: The flow log's settings as compared (none when absent).
  returned: always
  type: dict
  sample:
    vpc_id: vpc-0123456789abcdef0
    traffic_type: REJECT
    destination_type: cloud-watch-logs
    log_group_name: /vpc/shop-flow-logs
    deliver_logs_permission_arn: arn:aws:iam::123456789012:role/shop-flow-logs
    log_destination: null
    max_aggregation_interval: 600
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_specifications
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverErrorHandler
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_client
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run

SETTINGS = (
    "vpc_id",
    "traffic_type",
    "destination_type",
    "log_group_name",
    "deliver_logs_permission_arn",
    "log_destination",
    "max_aggregation_interval",
)


@AWSRetry.jittered_backoff()
def _flow_logs(client, name):
    paginator = client.get_paginator("describe_flow_logs")
    return paginator.paginate(Filters=[{"Name": "tag:Name", "Values": [name]}]).build_full_result()["FlowLogs"]


@SpilloverErrorHandler.common_error_handler("describe the flow logs named {name}")
def find_flow_logs(client, name):
    return _flow_logs(client, name)


def settings_of(flow_log):
    """The settings of a flow log as DescribeFlowLogs gives it, in the options' terms."""
    cloud_watch = flow_log.get("LogDestinationType", "cloud-watch-logs") == "cloud-watch-logs"
    return {
        "vpc_id": flow_log.get("ResourceId"),
        "traffic_type": flow_log.get("TrafficType"),
        "destination_type": flow_log.get("LogDestinationType", "cloud-watch-logs"),
        "log_group_name": flow_log.get("LogGroupName") if cloud_watch else None,
        "deliver_logs_permission_arn": flow_log.get("DeliverLogsPermissionArn") if cloud_watch else None,
        "log_destination": None if cloud_watch else flow_log.get("LogDestination"),
        "max_aggregation_interval": flow_log.get("MaxAggregationInterval", 600),
    }


def desired_settings(params):
    cloud_watch = params["destination_type"] == "cloud-watch-logs"
    wanted = {key: params.get(key) for key in SETTINGS}
    needed = ("log_group_name", "deliver_logs_permission_arn") if cloud_watch else ("log_destination",)
    missing = [key for key in ("vpc_id", *needed) if not wanted[key]]
    if missing:
        raise SpilloverError(
            f"With destination_type {params['destination_type']}, a present flow log needs {', '.join(missing)}."
        )
    for key in ("log_destination",) if cloud_watch else ("log_group_name", "deliver_logs_permission_arn"):
        wanted[key] = None
    return wanted


@SpilloverErrorHandler.common_error_handler("delete the flow logs {ids}")
def delete_flow_logs(client, ids):
    unsuccessful = client.delete_flow_logs(FlowLogIds=ids, aws_retry=True).get("Unsuccessful", [])
    if unsuccessful:
        raise SpilloverError(f"AWS did not delete the flow logs {ids}: {unsuccessful}")


@SpilloverErrorHandler.common_error_handler("create the flow log {name} of {wanted[vpc_id]}")
def create_flow_log(client, name, wanted, tags):
    request = {
        "ResourceIds": [wanted["vpc_id"]],
        "ResourceType": "VPC",
        "TrafficType": wanted["traffic_type"],
        "LogDestinationType": wanted["destination_type"],
        "MaxAggregationInterval": wanted["max_aggregation_interval"],
        "TagSpecifications": boto3_tag_specifications({**tags, "Name": name}, types="vpc-flow-log"),
    }
    if wanted["destination_type"] == "cloud-watch-logs":
        request["LogGroupName"] = wanted["log_group_name"]
        request["DeliverLogsPermissionArn"] = wanted["deliver_logs_permission_arn"]
    else:
        request["LogDestination"] = wanted["log_destination"]
    answer = client.create_flow_logs(aws_retry=True, **request)
    if answer.get("Unsuccessful") or not answer.get("FlowLogIds"):
        raise SpilloverError(f"AWS did not create the flow log {name}: {answer.get('Unsuccessful')}")
    return answer["FlowLogIds"][0]


@SpilloverErrorHandler.common_error_handler("tag the flow log {flow_log_id}")
def retag(client, flow_log_id, current, wanted):
    to_set, to_remove = compare_aws_tags(current, wanted, purge_tags=True)
    if to_remove:
        client.delete_tags(Resources=[flow_log_id], Tags=[{"Key": key} for key in to_remove], aws_retry=True)
    if to_set:
        tags = [{"Key": key, "Value": value} for key, value in to_set.items()]
        client.create_tags(Resources=[flow_log_id], Tags=tags, aws_retry=True)


def ensure_flow_log(client, params, check_mode):
    """``(changed, result, diff)``: the flow log named ``params['name']`` as the options describe it, or none."""
    name = params["name"]
    found = find_flow_logs(client, name)
    before = [settings_of(flow_log) for flow_log in found]
    if params["state"] == "absent":
        if found and not check_mode:
            delete_flow_logs(client, [flow_log["FlowLogId"] for flow_log in found])
        diff = {"before": before[0] if before else {}, "after": {}}
        return bool(found), {"flow_log_id": None, "flow_log": None}, diff
    wanted = desired_settings(params)
    tags = {**params["tags"], "Name": name}
    keep = next((flow_log for flow_log in found if settings_of(flow_log) == wanted), None)
    stale = [flow_log["FlowLogId"] for flow_log in found if flow_log is not keep]
    changed = bool(stale) or keep is None
    if stale and not check_mode:
        delete_flow_logs(client, stale)
    if keep is None:
        flow_log_id = None if check_mode else create_flow_log(client, name, wanted, params["tags"])
    else:
        flow_log_id = keep["FlowLogId"]
        current = boto3_tag_list_to_ansible_dict(keep.get("Tags", []))
        if current != tags:
            changed = True
            if not check_mode:
                retag(client, flow_log_id, current, tags)
    diff = {"before": before[0] if before else {}, "after": wanted}
    return changed, {"flow_log_id": flow_log_id, "flow_log": wanted}, diff


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        vpc_id=dict(type="str"),
        traffic_type=dict(type="str", choices=["ACCEPT", "REJECT", "ALL"], default="REJECT"),
        destination_type=dict(type="str", choices=["cloud-watch-logs", "s3"], default="cloud-watch-logs"),
        log_group_name=dict(type="str"),
        deliver_logs_permission_arn=dict(type="str"),
        log_destination=dict(type="str"),
        max_aggregation_interval=dict(type="int", choices=[60, 600], default=600),
        tags=dict(type="dict", default={}),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    run(module, lambda: ensure_flow_log(aws_client(module, "ec2"), module.params, module.check_mode))


if __name__ == "__main__":
    main()
