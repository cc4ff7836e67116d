# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Reserved concurrency against the account's Lambda quota.

Lambda refuses a reservation that would leave the account fewer than 100 unreserved concurrent executions
(PutFunctionConcurrency: InvalidParameterValueException), and a new account's quota can be as low as 10. A plan of
reservations is checked here against GetAccountSettings (``AccountLimit.ConcurrentExecutions`` and
``UnreservedConcurrentExecutions``), and a refusal says the numbers and how to ask for more.
"""

from functools import partial

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverErrorHandler
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import aws_call

# Lambda keeps at least this many concurrent executions unreserved.
MIN_UNRESERVED = 100
# Service Quotas' code of Lambda's "Concurrent executions" quota.
QUOTA_CODE = "L-B99A9384"


def account_concurrency(client):
    """``(limit, unreserved)``: the account's concurrency quota and what no function reserves, in the client's
    region."""
    settings = aws_call(
        "read the account's Lambda settings (GetAccountSettings)",
        partial(client.get_account_settings, aws_retry=True),
    )["AccountLimit"]
    return settings["ConcurrentExecutions"], settings["UnreservedConcurrentExecutions"]


class LambdaErrorHandler(SpilloverErrorHandler):
    @classmethod
    def _is_missing(cls):
        return is_boto3_error_code("ResourceNotFoundException")


@LambdaErrorHandler.list_error_handler("read the reserved concurrency of {function_name}")
def get_function_concurrency(client, function_name):
    """GetFunctionConcurrency's answer, None when the function does not exist."""
    return client.get_function_concurrency(aws_retry=True, FunctionName=function_name)


def reserved_now(client, function_name):
    """The function's reserved concurrency now: 0 when it reserves none or does not exist yet."""
    return (get_function_concurrency(client, function_name) or {}).get("ReservedConcurrentExecutions") or 0


def plan(limit, unreserved, reservations, minimum=MIN_UNRESERVED):
    """What a plan of ``reservations`` (``[(function, now, wanted)]``) leaves unreserved, and the refusal when that
    is fewer than ``minimum`` (None when it fits): ``(unreserved_after, refusal)``. Pure."""
    more = sum(wanted - now for _name, now, wanted in reservations)
    after = unreserved - more
    if after >= minimum:
        return after, None
    changes = ", ".join(f"{name} {now} -> {wanted}" for name, now, wanted in reservations if wanted != now)
    needed = limit + (minimum - after)
    refusal = (
        f"Lambda cannot reserve this concurrency: the account's quota is {limit} concurrent executions in this region, "
        f"{unreserved} of them unreserved, and reserving {more} more ({changes or 'no change'}) would leave {after} "
        f"unreserved, while Lambda keeps at least {minimum} unreserved. Nothing was changed. Ask for a quota of at "
        f"least {needed} (Service Quotas, AWS Lambda, 'Concurrent executions', quota code {QUOTA_CODE}: aws "
        f"service-quotas request-service-quota-increase --service-code lambda --quota-code {QUOTA_CODE} "
        f"--desired-value {needed}), or reserve less (lambda_function_reserved_concurrency)."
    )
    return after, refusal
