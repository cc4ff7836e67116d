"""The behaviours of real AWS that the local AWS (moto) lacks, one rule each.

Each rule answers with AWS's own error code and message, in its protocol's wire shape (tests/support/aws_quirks/
wire.py), or reshapes an answer the way AWS shapes it, and records every injection on itself.
"""

from __future__ import annotations

import json
import math
import re
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from botocore.exceptions import ClientError

from tests.support.aws_quirks import constraints
from tests.support.aws_quirks.iam import Coverage, Principal, checks_for, evaluate
from tests.support.aws_quirks.layer import Rule
from tests.support.aws_quirks.wire import Request, Response, common_error, error_response, protocol_of, service_name


class Throttling(Rule):
    """A deterministic share of the calls to ELBv2, ECS, CloudWatch and Lambda is throttled.

    AWS throttles control-plane calls per account and API (``Throttling``/``ThrottlingException``: "Rate
    exceeded"; Lambda: ``TooManyRequestsException``, 429). Call number n of a service (from 0) is throttled when
    ``floor((n + 1) * share) > floor(n * share)``: with share 0.1, every tenth call. A retry is a new call.
    """

    name = "api_throttling"
    SERVICES = ("elasticloadbalancing", "ecs", "monitoring", "lambda")

    def __init__(self, share: float = 0.1, services: Iterable[str] = SERVICES):
        super().__init__()
        self.share = share
        self.services = tuple(services)
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def before(self, request: Request) -> Response | None:
        if request.service not in self.services or self.share <= 0:
            return None
        with self._lock:
            number = self._counts.get(request.service, 0)
            self._counts[request.service] = number + 1
        if math.floor((number + 1) * self.share) <= math.floor(number * self.share):
            return None
        if request.service == "lambda":
            return common_error(
                "lambda", "throttled", "Rate exceeded", Reason="CallerRateLimitExceeded", retryAfterSeconds="1"
            )
        return common_error(request.service, "throttled", "Rate exceeded")


class IamPropagation(Rule):
    """A role is not assumable by Lambda for ``seconds`` after CreateRole (IAM is eventually consistent).

    CreateFunction or UpdateFunctionConfiguration naming such a role gets InvalidParameterValueException "The
    role defined for the function cannot be assumed by Lambda." (aws/aws-cli#7700). Roles the layer did not see
    created are old enough.
    """

    name = "iam_propagation"
    MESSAGE = "The role defined for the function cannot be assumed by Lambda."

    def __init__(self, seconds: float = 10.0):
        super().__init__()
        self.seconds = seconds

    def before(self, request: Request) -> Response | None:
        if request.service != "lambda" or request.operation not in ("CreateFunction", "UpdateFunctionConfiguration"):
            return None
        role = request.params.get("Role")
        age = self.layer.role_age(str(role)) if role else None
        if age is None or age >= self.seconds:
            return None
        return error_response("lambda", "InvalidParameterValueException", self.MESSAGE)


class EcsServiceLinkedRole(Rule):
    """ECS needs the service-linked role AWSServiceRoleForECS, and creates it on first use.

    The first CreateCluster or CreateService of an account without the role fails with InvalidParameterException
    "Unable to assume the service linked role. Please verify that the ECS service linked role exists.": ECS has
    just created the role (when the caller may iam:CreateServiceLinkedRole) and it is not assumable yet. A retry
    then succeeds; a caller that may not create it keeps failing.

    Also, as IAM does: the role is named ``AWSServiceRoleForECS`` (moto names it ``AWSServiceRoleForecs``; the
    layer renames it both ways) and a second CreateServiceLinkedRole for ECS fails with InvalidInput.
    """

    name = "ecs_service_linked_role"
    SERVICE = "ecs.amazonaws.com"
    ROLE = "AWSServiceRoleForECS"
    MOTO_ROLE = "AWSServiceRoleForecs"  # moto 5.2's name for it
    PATH = f"/aws-service-role/{SERVICE}/"
    MESSAGE = "Unable to assume the service linked role. Please verify that the ECS service linked role exists."

    def exists(self, access_key: str) -> bool:
        roles = self.layer.client("iam", access_key).list_roles(PathPrefix=self.PATH)["Roles"]
        return any(role["RoleName"] in (self.ROLE, self.MOTO_ROLE) for role in roles)

    def before(self, request: Request) -> Response | None:
        if request.service == "iam":
            return self._iam(request)
        if request.service != "ecs" or request.operation not in ("CreateCluster", "CreateService"):
            return None
        if self.exists(request.access_key):
            return None
        account = self.layer.account_of(request.access_key)
        arn = f"arn:aws:iam::{account}:role{self.PATH}{self.ROLE}"
        if self.layer.permits(
            request.access_key, "iam:CreateServiceLinkedRole", [arn], {"iam:AWSServiceName": [self.SERVICE]}
        ):
            self.layer.client("iam", request.access_key).create_service_linked_role(AWSServiceName=self.SERVICE)
            self.details.append(f"ECS created {self.ROLE} in {account} on a first {request.operation}")
        return error_response("ecs", "InvalidParameterException", self.MESSAGE)

    def _iam(self, request: Request) -> Response | None:
        creates = (
            request.operation == "CreateServiceLinkedRole" and request.params.get("AWSServiceName") == self.SERVICE
        )
        if creates and self.exists(request.access_key):
            message = f"Service role name {self.ROLE} has been taken in this account, please try a different suffix."
            return error_response("iam", "InvalidInput", message, 400)
        if request.params.get("RoleName") == self.ROLE:  # GetRole, DeleteServiceLinkedRole ... by AWS's name
            body = request.body.replace(f"RoleName={self.ROLE}".encode(), f"RoleName={self.MOTO_ROLE}".encode())
            answer = self.layer.resend(request, body)
            return Response(
                answer.status, answer.headers, answer.body.replace(self.MOTO_ROLE.encode(), self.ROLE.encode())
            )
        return None

    def after(self, request: Request, response: Response) -> Response:
        if request.service == "iam" and self.MOTO_ROLE.encode() in response.body:
            return Response(
                response.status, response.headers, response.body.replace(self.MOTO_ROLE.encode(), self.ROLE.encode())
            )
        return response


class LambdaQuota(Rule):
    """The account's Lambda concurrency quota, and AWS's floor of unreserved concurrency.

    GetAccountSettings (moto has none) answers ``ConcurrentExecutions`` from ``limits`` (per account, else
    ``default``; new accounts can have 10) and ``UnreservedConcurrentExecutions`` = that minus what the account's
    functions reserve. PutFunctionConcurrency that would leave fewer than min(100, quota) unreserved gets AWS's
    InvalidParameterValueException.
    """

    name = "lambda_concurrency_quota"
    FLOOR = 100

    def __init__(self, limits: dict[str, int] | None = None, default: int = 1000):
        super().__init__()
        self.limits = dict(limits or {})
        self.default = default
        self.answered = 0

    def limit(self, account: str) -> int:
        return self.limits.get(account, self.default)

    def reserved(self, access_key: str, region: str, except_function: str = "") -> int:
        lambda_ = self.layer.client("lambda", access_key, region)
        total = 0
        for page in lambda_.get_paginator("list_functions").paginate():
            for function in page["Functions"]:
                if function["FunctionName"] == except_function:
                    continue
                total += lambda_.get_function_concurrency(FunctionName=function["FunctionName"]).get(
                    "ReservedConcurrentExecutions", 0
                )
        return total

    def before(self, request: Request) -> Response | None:
        if request.service != "lambda":
            return None
        account = self.layer.account_of(request.access_key)
        limit = self.limit(account)
        if request.operation == "GetAccountSettings":
            self.answered += 1
            unreserved = limit - self.reserved(request.access_key, request.region)
            settings = {
                "AccountLimit": {
                    "TotalCodeSize": 80530636800,
                    "CodeSizeUnzipped": 262144000,
                    "CodeSizeZipped": 52428800,
                    "ConcurrentExecutions": limit,
                    "UnreservedConcurrentExecutions": unreserved,
                },
                "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0},
            }
            return Response(200, [("Content-Type", "application/json")], json.dumps(settings).encode())
        if request.operation == "PutFunctionConcurrency":
            name = str(request.params.get("FunctionName", "")).split(":function:")[-1].split(":")[0]
            wanted = int(request.params.get("ReservedConcurrentExecutions", 0))
            floor = min(self.FLOOR, limit)
            if limit - self.reserved(request.access_key, request.region, name) - wanted < floor:
                message = (
                    "Specified ReservedConcurrentExecutions for function decreases account's "
                    f"UnreservedConcurrentExecution below its minimum value of [{floor}]."
                )
                return error_response("lambda", "InvalidParameterValueException", message)
        return None


class LogsPagination(Rule):
    """FilterLogEvents answers oldest first, in partial and empty pages that carry a ``nextToken``.

    moto returns everything in one page; AWS returns what it found within its time budget. Here the first page is
    always empty, then pages of at most ``page_size`` events (and at most the request's ``limit``) follow, each with
    a ``nextToken`` until the last: a caller that does not follow ``nextToken`` sees nothing.
    """

    name = "logs_pagination"
    TOKEN = "quirks-logs-"

    def __init__(self, page_size: int = 3):
        super().__init__()
        self.page_size = page_size
        self._searches: dict[str, list[dict]] = {}
        self._lock = threading.Lock()
        self.requests = 0
        self.followed_tokens = 0

    def before(self, request: Request) -> Response | None:
        if request.service != "logs" or request.operation != "FilterLogEvents":
            return None
        self.requests += 1
        token = str(request.params.get("nextToken") or "")
        limit = int(request.params.get("limit") or 10000)
        size = max(1, min(limit, self.page_size))
        if token.startswith(self.TOKEN):
            self.followed_tokens += 1
            search, _, offset = token[len(self.TOKEN) :].partition(":")
            with self._lock:
                events = self._searches.get(search)
            if events is None:
                return error_response("logs", "InvalidParameterException", "The specified nextToken is invalid.")
            start = int(offset)
            page, rest = events[start : start + size], start + size < len(events)
            answer = {"events": page, "searchedLogStreams": []}
            if rest:
                answer["nextToken"] = f"{self.TOKEN}{search}:{start + size}"
                self.layer.note(self, request, f"partial page of {len(page)} events")
            return self._json(answer)
        try:
            events = self._all_events(request)
        except _Passthrough as error:  # the local AWS's own error (no such log group ...)
            return error.response
        search = uuid.uuid4().hex
        with self._lock:
            self._searches[search] = events
        self.layer.note(self, request, "empty first page")
        return self._json({"events": [], "searchedLogStreams": [], "nextToken": f"{self.TOKEN}{search}:0"})

    def _all_events(self, request: Request) -> list[dict]:
        params = {key: value for key, value in request.params.items() if key not in ("nextToken", "limit")}
        events: list[dict] = []
        while True:
            answer = self.layer.resend(request, json.dumps(params).encode())
            if not answer.ok:
                raise _Passthrough(answer)
            data = answer.json()
            events += data.get("events", [])
            if not data.get("nextToken") or not data.get("events"):
                break
            params["nextToken"] = data["nextToken"]
        return sorted(events, key=lambda event: (event.get("timestamp", 0), event.get("ingestionTime", 0)))

    @staticmethod
    def _json(data: dict) -> Response:
        return Response(200, [("Content-Type", "application/x-amz-json-1.1")], json.dumps(data).encode())


class _Passthrough(Exception):
    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


class MetricLag(Rule):
    """GetMetricData leaves out the newest periods of AWS/Lambda and AWS/ApplicationELB metrics.

    Those metrics reach CloudWatch minutes late: a period [t, t + P) is delivered only ``lag_periods`` periods after
    it ends (t + P + lag_periods * P <= now), so a window that ends "now" misses its newest periods. Other
    namespaces (custom, high-resolution metrics) are answered as stored.
    """

    name = "metric_delivery_lag"
    NAMESPACES = ("AWS/Lambda", "AWS/ApplicationELB")

    def __init__(self, lag_periods: int = 2, namespaces: Iterable[str] = NAMESPACES, now=None):
        super().__init__()
        self.lag_periods = lag_periods
        self.namespaces = tuple(namespaces)
        self.now = now or (lambda: datetime.now(UTC))
        self.dropped = 0

    def after(self, request: Request, response: Response) -> Response:
        if request.service != "monitoring" or request.operation != "GetMetricData" or not response.ok:
            return response
        queries = {query["Id"]: query for query in request.params.get("MetricDataQueries", [])}
        answer = response.json()
        now = self.now().timestamp()
        dropped = 0
        for result in answer.get("MetricDataResults", []):
            stat = queries.get(result.get("Id"), {}).get("MetricStat") or {}
            if stat.get("Metric", {}).get("Namespace") not in self.namespaces:
                continue
            period = int(stat.get("Period", 60))
            kept = [
                (moment, value)
                for moment, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=True)
                if _epoch(moment) + period * (1 + self.lag_periods) <= now
            ]
            dropped += len(result.get("Timestamps", [])) - len(kept)
            result["Timestamps"], result["Values"] = [m for m, _ in kept], [v for _, v in kept]
        if dropped:
            self.dropped += dropped
            self.layer.note(self, request, f"{dropped} datapoints not delivered yet")
        return response.with_json(answer)


def _epoch(moment) -> float:
    if isinstance(moment, int | float):
        return float(moment)
    return datetime.fromisoformat(str(moment).replace("Z", "+00:00")).timestamp()


@dataclass
class _Draining:
    account: str
    cluster: str
    service: dict
    until: float


class EcsDrain(Rule):
    """A deleted ECS service stays DRAINING for ``seconds`` (its tasks stop, its targets deregister).

    Meanwhile DescribeServices reports it DRAINING (moto: INACTIVE at once), DeleteCluster gets
    ClusterContainsServicesException "The Cluster cannot be deleted while Services are active." and a CreateService
    of the same name gets InvalidParameterException "Unable to Start a service that is still Draining.".
    """

    name = "ecs_drain"

    def __init__(self, seconds: float = 15.0):
        super().__init__()
        self.seconds = seconds
        self._draining: list[_Draining] = []
        self._lock = threading.Lock()

    def _active(self, account: str, cluster: str) -> list[_Draining]:
        name = cluster.rsplit("/", 1)[-1] if cluster else "default"
        now = self.layer.clock()
        with self._lock:
            self._draining = [item for item in self._draining if item.until > now]
            return [item for item in self._draining if item.account == account and item.cluster == name]

    def before(self, request: Request) -> Response | None:
        if request.service != "ecs" or request.operation not in ("DeleteCluster", "CreateService"):
            return None
        account = self.layer.account_of(request.access_key)
        draining = self._active(account, str(request.params.get("cluster", "")))
        if request.operation == "DeleteCluster" and draining:
            return error_response(
                "ecs", "ClusterContainsServicesException", "The Cluster cannot be deleted while Services are active."
            )
        wanted = request.params.get("serviceName")
        if request.operation == "CreateService" and any(item.service["serviceName"] == wanted for item in draining):
            return error_response(
                "ecs", "InvalidParameterException", "Unable to Start a service that is still Draining."
            )
        return None

    def after(self, request: Request, response: Response) -> Response:
        if request.service != "ecs" or not response.ok:
            return response
        if request.operation == "DeleteService":
            service = response.json().get("service") or {}
            if service:
                service = {**service, "status": "DRAINING"}
                cluster = service.get("clusterArn", "").rsplit("/", 1)[-1]
                account = self.layer.account_of(request.access_key)
                with self._lock:
                    self._draining.append(_Draining(account, cluster, service, self.layer.clock() + self.seconds))
                self.layer.note(self, request, f"{service.get('serviceName')} DRAINING for {self.seconds:.0f}s")
                return response.with_json({**response.json(), "service": service})
        if request.operation == "DescribeServices":
            account = self.layer.account_of(request.access_key)
            draining = {
                item.service["serviceArn"]: item
                for item in self._active(account, str(request.params.get("cluster", "")))
            }
            if not draining:
                return response
            answer = response.json()
            for service in answer.get("services", []):
                if service.get("serviceArn") in draining and service.get("status") == "INACTIVE":
                    service["status"] = "DRAINING"
            missing = [f for f in answer.get("failures", []) if f.get("arn") in draining]
            for failure in missing:
                answer["failures"].remove(failure)
                answer.setdefault("services", []).append(draining[failure["arn"]].service)
            return response.with_json(answer)
        return response


class EcsFargateProviders(Rule):
    """ECS's built-in capacity providers FARGATE and FARGATE_SPOT, which every account has in a region that offers
    Fargate: DescribeCapacityProviders lists them ACTIVE (moto knows only the providers an account created and
    answers them MISSING). ``unavailable`` names the ones a region lacks: those are answered MISSING, as AWS does.
    """

    name = "ecs_fargate_capacity_providers"
    BUILT_IN = ("FARGATE", "FARGATE_SPOT")

    def __init__(self, unavailable: Iterable[str] = ()):
        super().__init__()
        self.unavailable = set(unavailable)

    def before(self, request: Request) -> Response | None:
        if request.service != "ecs" or request.operation != "DescribeCapacityProviders":
            return None
        names = [str(name).rsplit("/", 1)[-1] for name in request.params.get("capacityProviders") or self.BUILT_IN]
        built_in = [name for name in names if name in self.BUILT_IN]
        if not built_in:
            return None
        account = self.layer.account_of(request.access_key)
        others = [name for name in names if name not in self.BUILT_IN]
        answer = {"capacityProviders": [], "failures": []}
        if others:
            asked = self.layer.resend(request, json.dumps({**request.params, "capacityProviders": others}).encode())
            answer = asked.json() if asked.ok else answer
        for name in built_in:
            arn = f"arn:aws:ecs:{request.region}:{account}:capacity-provider/{name}"
            if name in self.unavailable:
                answer.setdefault("failures", []).append({"arn": arn, "reason": "MISSING"})
            else:
                answer.setdefault("capacityProviders", []).append(
                    {"capacityProviderArn": arn, "name": name, "status": "ACTIVE", "tags": []}
                )
        self.layer.note(self, request, f"built-in providers {', '.join(built_in)}")
        return Response(200, [("Content-Type", "application/x-amz-json-1.1")], json.dumps(answer).encode())


class IamPolicySimulator(Rule):
    """IAM's policy simulator (moto has none): SimulatePrincipalPolicy of a role, decided by the layer's IAM engine
    on the role's identity policies, with the request's context entries, answered in IAM's query shape."""

    name = "iam_policy_simulator"
    DECISIONS = {"allow": "allowed", "explicit deny": "explicitDeny", "implicit deny": "implicitDeny"}

    def before(self, request: Request) -> Response | None:
        if request.service != "iam" or request.operation != "SimulatePrincipalPolicy":
            return None
        source = str(request.params.get("PolicySourceArn", ""))
        if ":role/" not in source:
            return error_response("iam", "InvalidInput", f"the layer simulates roles only, not {source}")
        policies = self.layer.policies_of(Principal(source, source, source.split(":")[4], request.access_key))
        context = {
            str(entry.get("ContextKeyName")): [str(value) for value in entry.get("ContextKeyValues") or []]
            for entry in request.params.get("ContextEntries") or []
        }
        resources = [str(resource) for resource in request.params.get("ResourceArns") or []]
        results = []
        for action in request.params.get("ActionNames") or []:
            pairs = [(resource, evaluate(policies, str(action), resource, context)) for resource in resources or ["*"]]
            decision = next((verdict for _r, verdict in pairs if verdict != "allow"), "allow")
            specific = "".join(
                f"<member><EvalResourceName>{escape(resource)}</EvalResourceName>"
                f"<EvalResourceDecision>{self.DECISIONS[verdict]}</EvalResourceDecision></member>"
                for resource, verdict in pairs
            )
            results.append(
                f"<member><EvalActionName>{escape(str(action))}</EvalActionName>"
                f"<EvalResourceName>{escape(resources[0] if len(resources) == 1 else '*')}</EvalResourceName>"
                f"<EvalDecision>{self.DECISIONS[decision]}</EvalDecision>"
                + (f"<ResourceSpecificResults>{specific}</ResourceSpecificResults>" if resources else "")
                + "</member>"
            )
        self.layer.note(self, request, f"simulated {len(results)} actions of {source}")
        body = (
            '<SimulatePrincipalPolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
            "<SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated>"
            f"<EvaluationResults>{''.join(results)}</EvaluationResults></SimulatePrincipalPolicyResult>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            "</SimulatePrincipalPolicyResponse>"
        )
        return Response(200, [("Content-Type", "text/xml")], body.encode())


class ElbOidcClientSecret(Rule):
    """ELB never returns an authenticate-oidc action's client secret, and refuses to write one back without it.

    DescribeListeners and DescribeRules answer AuthenticateOidcConfig without ClientSecret (moto returns it); a
    ModifyListener or ModifyRule whose authenticate-oidc action has neither ClientSecret nor UseExistingClientSecret
    true gets ValidationError (botocore's elbv2 model: ClientSecret "is required if you are creating a rule. If you
    are modifying a rule, you can omit this parameter if you set UseExistingClientSecret to true").
    """

    name = "elb_oidc_client_secret"
    MESSAGE = "A client secret must be specified"
    _SECRET = re.compile(rb"<ClientSecret>.*?</ClientSecret>", re.S)

    def before(self, request: Request) -> Response | None:
        if request.service != "elasticloadbalancing" or request.operation not in ("ModifyListener", "ModifyRule"):
            return None
        actions = request.params.get("DefaultActions") or request.params.get("Actions") or []
        for action in actions:
            config = action.get("AuthenticateOidcConfig") if isinstance(action, dict) else None
            if config is None:
                continue
            if "ClientSecret" not in config and str(config.get("UseExistingClientSecret", "")).lower() != "true":
                return error_response("elasticloadbalancing", "ValidationError", self.MESSAGE)
        return None

    def after(self, request: Request, response: Response) -> Response:
        if request.service != "elasticloadbalancing" or request.operation not in ("DescribeListeners", "DescribeRules"):
            return response
        body = self._SECRET.sub(b"", response.body)
        if body != response.body:
            self.layer.note(self, request, "client secret left out")
        return Response(response.status, response.headers, body)


class ElbDeletionProtection(Rule):
    """A load balancer with deletion protection on cannot be deleted (moto deletes it).

    DeleteLoadBalancer of a load balancer whose attribute ``deletion_protection.enabled`` is ``true`` gets
    OperationNotPermitted (400) "Load balancer '<arn>' cannot be deleted because deletion protection is enabled"
    (botocore's elbv2 model lists OperationNotPermittedException among DeleteLoadBalancer's errors); the load balancer
    stays. Turning the attribute off first (ModifyLoadBalancerAttributes) lets the delete through.
    """

    name = "elb_deletion_protection"

    def before(self, request: Request) -> Response | None:
        if request.service != "elasticloadbalancing" or request.operation != "DeleteLoadBalancer":
            return None
        arn = str(request.params.get("LoadBalancerArn", ""))
        elbv2 = self.layer.client("elbv2", request.access_key, request.region)
        try:
            attributes = elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
        except ClientError:  # no such load balancer: the local AWS answers that itself
            return None
        if {item["Key"]: item["Value"] for item in attributes}.get("deletion_protection.enabled") != "true":
            return None
        return error_response(
            "elasticloadbalancing",
            "OperationNotPermitted",
            f"Load balancer '{arn}' cannot be deleted because deletion protection is enabled",
        )


@dataclass
class Checked:
    """One authorization the IAM engine made, at the layer's clock: ``call`` is the request's own action, ``action``
    the one checked (the call's, or one it implies: iam:PassRole, a tag-on-create action)."""

    at: float
    call: str
    action: str
    resources: list[str] = field(default_factory=list)
    derived: bool = True
    allowed: bool = True


class IamScoping(Rule):
    """Each call made with an enforced role's credentials must be allowed by that role's identity policies.

    Principals are the temporary keys of sts:AssumeRole answers (the layer learns them); ``roles`` are the role
    ARNs to enforce. A denied call gets AccessDenied/AccessDeniedException/UnauthorizedOperation in its service's
    shape with AWS's message "User: ... is not authorized to perform: ... on resource: ...". Every authorization is
    kept in ``log`` (waiters' calls too: a waiter's poll is a call like any other), so a phase of the run can list
    what it asked for.
    """

    def __init__(self, name: str, roles: Iterable[str]):
        super().__init__()
        self.name = name
        self.roles = set(roles)
        self.coverage = Coverage()
        self.checked = 0
        self.denials: dict[str, int] = {}
        self.log: list[Checked] = []

    def enforces(self, principal: Principal | None) -> bool:
        return principal is not None and principal.role_arn in self.roles

    def before(self, request: Request) -> Response | None:
        principal = self.layer.principal_of(request.access_key)
        if not self.enforces(principal):
            return None
        self.checked += 1
        policies, boundary = self.layer.policies_of(principal), self.layer.boundary_of(principal)
        for check in checks_for(request, principal, policies, self.layer.resource_state(request), boundary):
            self.coverage.add(check)
            self.log.append(
                Checked(
                    self.layer.clock(),
                    request.action,
                    check.action,
                    list(check.resources),
                    check.derived,
                    check.allowed,
                )
            )
            if not check.allowed:
                key = f"{check.action} on {check.denied_resource}"
                self.denials[key] = self.denials.get(key, 0) + 1
                return common_error(request.service, "denied", check.message)
        return None


class StrictValidation(Rule):
    """Every request checked as AWS checks it before acting: its operation's model constraints and the constraints
    AWS documents beyond them (tests/support/aws_quirks/constraints.py), refused with AWS's code and message.

    Counts per service (botocore's name: elbv2, ec2, ...) the requests checked and refused; ``refusals`` lists each
    refusal with its request. It runs after throttling and before authorization, as AWS validates a request's shape
    before it authorizes it.
    """

    name = "strict_validation"

    def __init__(self):
        super().__init__()
        self.checked: dict[str, int] = {}
        self.refused: dict[str, int] = {}
        self.refusals: list[str] = []
        self._lock = threading.Lock()

    def before(self, request: Request) -> Response | None:
        if protocol_of(request.service) == "unknown":
            return None
        service = service_name(request.service)
        with self._lock:
            self.checked[service] = self.checked.get(service, 0) + 1
        verdict = constraints.check(
            request.service,
            request.operation,
            request.params,
            constraints.Context(request.params, self._policies(request)),
        )
        if verdict is None:
            return None
        sent = json.dumps(request.params, default=str)
        sent = sent if len(sent) <= 400 else sent[:397] + "..."
        with self._lock:
            self.refused[service] = self.refused.get(service, 0) + 1
            self.refusals.append(f"{request.action}: {verdict.code}: {verdict.message} -- request {sent}")
        return error_response(request.service, verdict.code, verdict.message)

    def _policies(self, request: Request):
        """For PutRolePolicy: the role's inline policies as the local AWS holds them (their total is limited)."""
        if request.service != "iam" or request.operation != "PutRolePolicy":
            return None

        def inline_policies(role: str) -> dict[str, str]:
            iam = self.layer.client("iam", request.access_key)
            try:
                names = iam.list_role_policies(RoleName=role)["PolicyNames"]
                return {
                    name: json.dumps(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
                    for name in names
                }
            except ClientError:  # no such role: the local AWS answers that itself
                return {}

        return inline_policies

    def lines(self) -> list[str]:
        """``strict <service>: <n> requests checked, <k> refused``, one per service seen."""
        return [
            f"strict {service}: {count} requests checked, {self.refused.get(service, 0)} refused"
            for service, count in sorted(self.checked.items())
        ]


def standard_rules(
    *,
    throttle_share: float = 0.1,
    propagation_seconds: float = 10.0,
    lambda_limits: dict[str, int] | None = None,
    logs_page_size: int = 3,
    metric_lag_periods: int = 2,
    drain_seconds: float = 15.0,
    enforced: dict[str, Iterable[str]] | None = None,
) -> list[Rule]:
    """Every rule, in the order AWS applies them: rate limits, then the request's validation, then authorization, then
    the services' behaviour."""
    rules: list[Rule] = [Throttling(throttle_share), StrictValidation()]
    rules += [IamScoping(name, roles) for name, roles in (enforced or {}).items()]
    rules += [
        IamPolicySimulator(),
        IamPropagation(propagation_seconds),
        EcsServiceLinkedRole(),
        EcsFargateProviders(),
        LambdaQuota(lambda_limits),
        LogsPagination(logs_page_size),
        MetricLag(metric_lag_periods),
        EcsDrain(drain_seconds),
        ElbOidcClientSecret(),
        ElbDeletionProtection(),
    ]
    return rules


__all__ = [
    "Checked",
    "EcsDrain",
    "EcsFargateProviders",
    "EcsServiceLinkedRole",
    "ElbDeletionProtection",
    "ElbOidcClientSecret",
    "IamPolicySimulator",
    "IamPropagation",
    "IamScoping",
    "LambdaQuota",
    "LogsPagination",
    "MetricLag",
    "StrictValidation",
    "Throttling",
    "standard_rules",
]
