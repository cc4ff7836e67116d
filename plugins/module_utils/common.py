# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every module of the collection shares: one error type and one way to fail, AWS calls that raise it,
the target-group resolver (by name or ARN) and ARN helpers.

The error idiom (amazon.aws's): helpers raise SpilloverError, a refusal with only a message (what to fix) or
an AWS failure that also carries botocore's exception; ``main()`` hands its work to ``run``, which catches it once
and calls ``fail``.
Functions that call AWS are wrapped by SpilloverErrorHandler (amazon.aws's AWSErrorHandler) or go through
``aws_call``, so a botocore error always becomes "Failed to <what was being done>" with AWS's answer.
Clients come wrapped with ``AWSRetry.jittered_backoff``; every call passes ``aws_retry=True``.
"""

from ansible_collections.amazon.aws.plugins.module_utils.arn import parse_aws_arn
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.errors import AWSErrorHandler
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


class SpilloverError(AnsibleAWSError):
    """A refusal (``message``) or an AWS failure (``message`` and ``exception``); ``kwargs`` go to fail_json."""


class SpilloverErrorHandler(AWSErrorHandler):
    """amazon.aws's error decorators, raising SpilloverError."""

    _CUSTOM_EXCEPTION = SpilloverError


def aws_client(module, service):
    """A boto3 client of the module's connection whose calls with ``aws_retry=True`` retry throttling and
    transient errors (AWSRetry.jittered_backoff)."""
    return module.client(service, retry_decorator=AWSRetry.jittered_backoff())


def fail(module, error):
    """Fail the module with a SpilloverError: its message and kwargs, and AWS's answer when AWS failed."""
    if error.exception is not None:
        module.fail_json_aws(error.exception, msg=error.message, **error.kwargs)
    module.fail_json(msg=error.message, **error.kwargs)


def finish(module, changed, result, diff=None, warnings=()):
    """Exit the module: warnings first, the diff in diff mode, then the result."""
    for warning in warnings:
        module.warn(warning)
    if diff is not None and module._diff:
        result["diff"] = diff
    module.exit_json(changed=changed, **result)


def run(module, work):
    """The end of every module's ``main()``: exit with what ``work()`` returns, ``finish``'s ``(changed, result[,
    diff[, warnings]])``, or fail with the SpilloverError it raises."""
    try:
        outcome = work()
    except SpilloverError as error:
        fail(module, error)
    finish(module, *outcome)


def run_info(module, read):
    """``run`` for a module that only reads: exit, never changed, with the result ``read()`` returns."""
    run(module, lambda: (False, read()))


@SpilloverErrorHandler.common_error_handler("{description}")
def _request(description, request, refusals):
    try:
        return request()
    except is_boto3_error_code(list(refusals)) as e:
        raise SpilloverError(refusals[e.response["Error"]["Code"]]) from e


def aws_call(description, request, refusals=None):
    """The answer of ``request()`` (one AWS call, or a few), with AWS errors raised as SpilloverError.

    An error code named in ``refusals`` (``{code: message}``) is a refusal with that message; any other AWS
    error is "Failed to <description>" with AWS's answer.
    """
    return _request(description, request, refusals or {})


# ---------------------------------------------------------------------------------------------
# ARNs
# ---------------------------------------------------------------------------------------------


def is_arn(reference):
    """True for an ARN, False for a name (AWS names never contain a colon)."""
    return reference.startswith("arn:")


def with_resource(parsed, resource):
    """The ARN of ``resource`` (``type/id``) in the partition, service, region and account of ``parsed``."""
    return f"arn:{parsed['partition']}:{parsed['service']}:{parsed['region']}:{parsed['account_id']}:{resource}"


def resource_parts(arn, resource_type):
    """``parse_aws_arn(arn)`` and the ``/``-separated parts of its resource id, or ``(None, [])`` when ``arn`` is
    not the ARN of a ``resource_type`` resource (``targetgroup``, ``listener``, ``listener-rule``...)."""
    parsed = parse_aws_arn(arn or "")
    if parsed is None or parsed["resource_type"] != resource_type:
        return None, []
    return parsed, parsed["resource_id"].split("/")


def target_group_name(target_group_arn):
    """arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID -> NAME."""
    return resource_parts(target_group_arn, "targetgroup")[1][0]


# ---------------------------------------------------------------------------------------------
# Target groups
# ---------------------------------------------------------------------------------------------


@SpilloverErrorHandler.common_error_handler("describe the target groups")
def _described(client, key, values):
    """DescribeTargetGroups of ``values`` (``key`` is Names or TargetGroupArns); None when one does not exist."""
    try:
        return client.describe_target_groups(aws_retry=True, **{key: values})["TargetGroups"]
    except is_boto3_error_code("TargetGroupNotFound"):
        return None


def describe_target_groups(
    client, references, missing_message="Target group(s) {missing} do not exist; create them first."
):
    """The target groups named by ``references`` (each a name or an ARN), as DescribeTargetGroups returns them,
    in the same order.

    Refused when a group does not exist, with ``missing_message`` naming every missing one (``{missing}``).
    """
    found = {}
    missing = []
    for key, values in (
        ("Names", [reference for reference in references if not is_arn(reference)]),
        ("TargetGroupArns", [reference for reference in references if is_arn(reference)]),
    ):
        if not values:
            continue
        groups = _described(client, key, values)
        if groups is None:
            # One request fails for all when one group is missing: ask for each to name the missing ones.
            groups = [group for value in values for group in _described(client, key, [value]) or []]
        for group in groups:
            found[group["TargetGroupName"]] = found[group["TargetGroupArn"]] = group
        missing.extend(value for value in values if value not in found)
    if missing:
        raise SpilloverError(missing_message.format(missing=", ".join(missing)))
    return [found[reference] for reference in references]
