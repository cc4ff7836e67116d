"""A proxy in front of the local AWS that answers chosen operations with "400 Throttling" a set number of times.

Moto never throttles; this is how tests show that a client retries (or gives up) on AWS API throttling.
It answers in the protocol of the request: JSON (``X-Amz-Target``: ECS, Logs...) or query XML (ELBv2, EC2).
Every other request, and a throttled operation once its budget is spent, is forwarded unchanged. It is the
recording proxy (:mod:`tests.support.aws_recorder`) with a canned throttling answer per operation.
"""

from __future__ import annotations

from tests.support.aws_recorder import AwsRecorder

_JSON_ERROR = {"__type": "ThrottlingException", "message": "Rate exceeded"}
_QUERY_ERROR = (
    '<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">'
    "<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
)


class ThrottlingProxy(AwsRecorder):
    """``ThrottlingProxy(upstream, {"DescribeServices": 1})``: the first DescribeServices call is throttled.

    A budget of ``None`` throttles that operation forever. ``operations`` lists every operation seen, in order,
    and ``throttled`` the ones that were answered with a throttling error.
    """

    def __init__(self, upstream: str, budgets: dict[str, int | None], host: str = "127.0.0.1"):
        super().__init__(upstream, host)
        for operation, budget in budgets.items():
            if budget is None or budget > 0:
                self.answer(operation, 400, _JSON_ERROR, times=budget, query_payload=_QUERY_ERROR)

    @property
    def operations(self) -> list[str]:
        return [call.operation for call in self.calls]

    @property
    def throttled(self) -> list[str]:
        return self.answered
