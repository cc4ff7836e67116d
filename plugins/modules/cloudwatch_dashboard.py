#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: cloudwatch_dashboard
version_added: 0.1.0
short_description: Create, update or delete a CloudWatch dashboard whose body is given as data
description:
  - Creates or replaces one Amazon CloudWatch dashboard (C(PutDashboard)), or deletes it (C(DeleteDashboards)).
  - The body is given as data (O(body)), not as a JSON string; the module writes it as JSON.
  - Idempotent. The current body (C(GetDashboard)) and O(body) are compared as JSON data, so the order of keys,
    white space and how CloudWatch formats the JSON it stores do not count, and V(6) equals V(6.0). A run that
    changes nothing makes no write call.
  - CloudWatch may accept a body and still return validation messages about parts that will not render. They
    are reported as warnings, or, with O(fail_on_validation_messages=true), fail the task, and the dashboard is
    put back as it was.
  - A body that CloudWatch rejects fails the task with CloudWatch's own message, and nothing is written.
  - Dashboards are global to the account; the region only chooses the API endpoint.
author:
  - spillover.lambda_ecs maintainers (@spillover)
options:
  name:
    description:
      - Name of the dashboard, 1 to 255 characters from V(A-Z), V(a-z), V(0-9), V(-) and V(_).
    type: str
    required: true
    aliases: [dashboard_name]
  body:
    description:
      - The dashboard body as a mapping, with the keys of the CloudWatch dashboard body structure, for example
        C(widgets) (a list, it may be empty; at most 500 widgets), C(start), C(end), C(periodOverride) and
        C(variables).
      - Required with O(state=present). Keys keep CloudWatch's camelCase names.
      - A JSON string is refused; convert JSON text with the P(ansible.builtin.from_json#filter) filter.
    type: raw
  state:
    description:
      - V(present) makes the dashboard's body O(body); V(absent) deletes the dashboard.
      - With V(absent), a dashboard that does not exist is not an error (nothing to delete).
    type: str
    choices: [present, absent]
    default: present
  fail_on_validation_messages:
    description:
      - When CloudWatch accepts the body but returns validation messages, fail the task and put the dashboard back
        as it was before the run (or delete it if the run created it), instead of warning.
      - CloudWatch checks the body only when it is written, so check mode cannot report these messages.
    type: bool
    default: false
notes:
  - Check mode and diff mode are supported; the diff shows the body before and after.
  - Dashboard tags are not managed.
seealso:
  - name: Dashboard body structure and syntax
    description: The keys and widgets of a CloudWatch dashboard body.
    link: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
  - name: PutDashboard
    description: The CloudWatch API call that writes a dashboard.
    link: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Show the app's Lambda throttles and a note on one dashboard
  spillover.lambda_ecs.cloudwatch_dashboard:
    name: my-stack
    body:
      start: -PT3H
      periodOverride: inherit
      widgets:
        - type: text
          x: 0
          y: 0
          width: 24
          height: 2
          properties:
            markdown: "Managed by Ansible (spillover.lambda_ecs): changes made in the console are overwritten."
        - type: metric
          x: 0
          y: 2
          width: 12
          height: 6
          properties:
            title: Lambda throttles
            region: us-east-1
            stat: Sum
            period: 60
            metrics:
              - [AWS/Lambda, Throttles, FunctionName, my-stack-app]

- name: Fail, and keep the previous dashboard, if CloudWatch has anything to say about the body
  spillover.lambda_ecs.cloudwatch_dashboard:
    name: my-stack
    body: "{{ lookup('ansible.builtin.file', 'dashboard.json') | ansible.builtin.from_json }}"
    fail_on_validation_messages: true

- name: Delete the dashboard
  spillover.lambda_ecs.cloudwatch_dashboard:
    name: my-stack
    state: absent
"""

RETURN = r"""
name:
  description: The name of the dashboard.
  returned: always
  type: str
  sample: my-stack
arn:
  description:
    - The ARN of the dashboard; after a deletion, the ARN it had.
    - C(null) when the dashboard does not exist, and in check mode when the run would create it.
  returned: always
  type: str
  sample: arn:aws:cloudwatch::123456789012:dashboard/my-stack
body:
  description:
    - The dashboard body as data, as CloudWatch returns it after the run (in check mode, as it would be).
    - C(null) when the dashboard does not exist (after O(state=absent)).
  returned: always
  type: dict
  sample: {widgets: [{type: text, x: 0, y: 0, width: 24, height: 2, properties: {markdown: Managed by Ansible}}]}
validation_messages:
  description:
    - The validation messages CloudWatch returned when it wrote the body, or when it rejected it; empty when it
      had none or nothing was written.
  returned: always
  type: list
  elements: dict
  contains:
    data_path:
      description: Where in the body the message applies, as a JSON pointer.
      type: str
      sample: /widgets/1/properties
    message:
      description: CloudWatch's message.
      type: str
      sample: The metric widget should have specified a region and a data source or an alarm annotation
  sample: [{data_path: /widgets/1/properties, message: "Should have required property 'metrics'"}]
diff:
  description: The body before and after the run, in diff mode; C(null) for a dashboard that does not exist.
  returned: when diff mode is on
  type: dict
  sample: {before: null, after: {widgets: []}}
"""

import json
import re
from collections.abc import Mapping

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverErrorHandler
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_client
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run

# PutDashboard: "The maximum length is 255, and valid characters are A-Z, a-z, 0-9, "-", and "_"".
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,255}")
# Dashboard Body Structure and Syntax: "an array of between 0 and 500 widget objects" (also a CloudWatch quota).
MAX_WIDGETS = 500


class DashboardErrorHandler(SpilloverErrorHandler):
    @classmethod
    def _is_missing(cls):
        # GetDashboard and DeleteDashboards: "ResourceNotFound, The specified dashboard does not exist" (HTTP 404).
        return is_boto3_error_code("ResourceNotFound")


# ---------------------------------------------------------------------------------------------
# Pure logic
# ---------------------------------------------------------------------------------------------


def validate_name(name):
    if not NAME_PATTERN.fullmatch(name):
        raise SpilloverError(
            f"Dashboard name {name!r} is not valid: use 1 to 255 characters from A-Z, a-z, 0-9, '-' and '_'."
        )


def body_text(body):
    """The JSON text PutDashboard is given for ``body``; refuses what CloudWatch cannot take, before any call."""
    if isinstance(body, str):
        raise SpilloverError(
            "body is a string; give the dashboard body as data (a mapping with a widgets list). "
            "To use JSON text, convert it with the ansible.builtin.from_json filter."
        )
    if not isinstance(body, Mapping):
        raise SpilloverError(
            f"body must be a mapping (the dashboard body, with a widgets list), got a {type(body).__name__}."
        )
    widgets = body.get("widgets")
    if not isinstance(widgets, list):
        raise SpilloverError(
            "body must have a widgets list (it may be empty); "
            + ("it has none." if widgets is None else f"widgets is a {type(widgets).__name__}.")
        )
    if len(widgets) > MAX_WIDGETS:
        raise SpilloverError(
            f"body has {len(widgets)} widgets; a CloudWatch dashboard holds at most {MAX_WIDGETS}. "
            "Split it into several dashboards."
        )
    try:
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise SpilloverError(f"body cannot be written as JSON: {e}.") from None


def comparable(value):
    """``value`` (parsed JSON) in a form where equal dashboards compare equal. Python already ignores key order
    and takes 6 == 6.0, as JSON does; but True == 1 in Python, not in JSON, so booleans are kept apart."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, Mapping):
        return {key: comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [comparable(item) for item in value]
    return value


def same_body(current_text, wanted_text):
    """Whether two dashboard bodies (JSON text) are the same dashboard, however each is formatted."""
    return comparable(json.loads(current_text)) == comparable(json.loads(wanted_text))


def plan(current, wanted_text, state):
    """What to do: ``"put"``, ``"delete"`` or ``None``; ``current`` is the GetDashboard answer or ``None``."""
    if state == "absent":
        return "delete" if current is not None else None
    if current is not None and same_body(current["DashboardBody"], wanted_text):
        return None
    return "put"


def messages_of(raw_messages):
    """CloudWatch's DashboardValidationMessages in snake case."""
    return [{"data_path": message.get("DataPath"), "message": message.get("Message")} for message in raw_messages or []]


def describe_messages(messages):
    return "; ".join(f"{message['data_path'] or '/'}: {message['message']}" for message in messages)


# ---------------------------------------------------------------------------------------------
# AWS calls (a boto3 cloudwatch client wrapped with AWSRetry)
# ---------------------------------------------------------------------------------------------


@DashboardErrorHandler.list_error_handler("read dashboard {name}")
def get_dashboard(client, name):
    """The GetDashboard answer (DashboardName, DashboardArn, DashboardBody), ``None`` when there is no dashboard."""
    return client.get_dashboard(aws_retry=True, DashboardName=name)


@DashboardErrorHandler.common_error_handler("write dashboard {name}")
def put_dashboard(client, name, text):
    """Write the body; returns CloudWatch's validation messages (snake case). Refuses, as CloudWatch did, a body
    CloudWatch rejects, with its validation messages."""
    try:
        response = client.put_dashboard(aws_retry=True, DashboardName=name, DashboardBody=text)
    except is_boto3_error_code("InvalidParameterInput") as e:
        messages = messages_of(e.response.get("dashboardValidationMessages"))
        raise SpilloverError(
            message=f"CloudWatch rejected the body of dashboard {name}; nothing was written",
            exception=e,
            validation_messages=messages,
        ) from e
    return messages_of(response.get("DashboardValidationMessages"))


@DashboardErrorHandler.deletion_error_handler("delete dashboard {name}")
def delete_dashboard(client, name):
    """Delete the dashboard; ``False`` when it was already gone."""
    client.delete_dashboards(aws_retry=True, DashboardNames=[name])
    return True


def restore(client, name, before):
    """Put the dashboard back as GetDashboard returned it before the run (``None``: it did not exist)."""
    if before is None:
        delete_dashboard(client, name)
    else:
        put_dashboard(client, name, before["DashboardBody"])


def ensure_dashboard(client, params, check_mode):
    """Bring the dashboard to ``params``; returns ``(changed, result, diff, warnings)``."""
    name, state = params["name"], params["state"]
    validate_name(name)
    wanted_text = body_text(params["body"]) if state == "present" else None
    before = get_dashboard(client, name)
    before_body = json.loads(before["DashboardBody"]) if before else None
    action = plan(before, wanted_text, state)

    result = dict(name=name, arn=before["DashboardArn"] if before else None, body=before_body, validation_messages=[])
    warnings = []
    if action == "delete":
        if not check_mode:
            delete_dashboard(client, name)
        result["body"] = None
    elif action == "put":
        result["body"] = json.loads(wanted_text)
        if not check_mode:
            messages = put_dashboard(client, name, wanted_text)
            if messages and params["fail_on_validation_messages"]:
                found = (
                    f"CloudWatch accepted the body of dashboard {name} with validation messages "
                    f"({describe_messages(messages)}), and fail_on_validation_messages is set"
                )
                try:
                    restore(client, name, before)
                except SpilloverError as e:
                    raise SpilloverError(
                        message=f"{found}; putting the dashboard back as it was failed: {e.message}",
                        exception=e.exception,
                        validation_messages=messages,
                    ) from e
                raise SpilloverError(f"{found}, so the dashboard was put back as it was.", validation_messages=messages)
            warnings = [f"CloudWatch on dashboard {name}: {describe_messages([message])}" for message in messages]
            after = get_dashboard(client, name)
            if after is None:
                raise SpilloverError(
                    f"Dashboard {name} was written, but reading it back found no dashboard; run again."
                )
            result.update(arn=after["DashboardArn"], body=json.loads(after["DashboardBody"]))
            result["validation_messages"] = messages
    diff = dict(before=before_body, after=result["body"], before_header=name, after_header=name)
    return action is not None, result, diff, warnings


def main():
    argument_spec = dict(
        name=dict(type="str", required=True, aliases=["dashboard_name"]),
        body=dict(type="raw"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        fail_on_validation_messages=dict(type="bool", default=False),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        required_if=[("state", "present", ["body"])],
        supports_check_mode=True,
    )
    run(module, lambda: ensure_dashboard(aws_client(module, "cloudwatch"), module.params, module.check_mode))


if __name__ == "__main__":
    main()
