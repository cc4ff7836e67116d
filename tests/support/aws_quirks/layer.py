"""The behaviour layer's proxy: the recording proxy of tests/support/aws_recorder.py, with rules in between
(it records every call, then asks ``_ask_upstream``, which the layer overrides).

Each request is decoded (wire.parse_request), offered to every rule in order (the first rule that answers wins:
an injected AWS error, or an answer the local AWS cannot give), else forwarded to the local AWS; the answer is
then offered to every rule again (to learn from it or to reshape it as AWS would). The layer itself learns what
every rule needs to know from the traffic: the principal behind each temporary access key (sts:AssumeRole
answers) and when each IAM role was created (iam:CreateRole answers). It also settles each injected error: a
later identical request that the rules let through marks it ``retried``.
"""

from __future__ import annotations

import hashlib
import threading
import time
import traceback
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass, field

import boto3

from tests.support.aws_quirks.iam import Principal
from tests.support.aws_quirks.wire import Request, Response, error_response, parse_request
from tests.support.aws_recorder import AwsRecorder


def _text(root: ElementTree.Element, name: str) -> str | None:
    """The text of the first element called ``name`` anywhere below ``root``, namespaces ignored."""
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == name:
            return element.text
    return None


@dataclass
class Injection:
    """One behaviour a rule injected: an error answer (``code``) or a reshaped answer (``code`` empty)."""

    rule: str
    service: str
    operation: str
    access_key: str
    code: str
    message: str
    fingerprint: str
    at: float
    retried: bool = False  # a later identical request reached the local AWS (the caller retried)


class Rule:
    """A behaviour of real AWS that the local AWS lacks. Subclasses override ``before`` and/or ``after``."""

    name = "rule"

    def __init__(self) -> None:
        self.layer: QuirksLayer | None = None
        self.injections: list[Injection] = []
        self.details: list[str] = []  # what the rule noticed, for its verdict

    def bind(self, layer: QuirksLayer) -> None:
        self.layer = layer

    def before(self, request: Request) -> Response | None:
        return None

    def after(self, request: Request, response: Response) -> Response:
        return response

    @property
    def injected(self) -> int:
        return len(self.injections)


@dataclass
class LocalState:
    """The IAM engine's ResourceState, read from the local AWS as ``access_key``'s account (iam.ResourceState)."""

    layer: QuirksLayer
    access_key: str
    region: str

    def role_boundary(self, role_name: str) -> str | None:
        iam = self.layer.client("iam", self.access_key)
        try:
            role = iam.get_role(RoleName=role_name)["Role"]
        except iam.exceptions.NoSuchEntityException:
            return None
        return role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")

    def ec2_tags(self, resource_id: str) -> dict[str, str]:
        ec2 = self.layer.client("ec2", self.access_key, self.region)
        found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])["Tags"]
        return {tag["Key"]: tag["Value"] for tag in found}


@dataclass
class RoleBirth:
    arn: str
    at: float


@dataclass
class _State:
    principals: dict[str, Principal] = field(default_factory=dict)
    role_births: dict[str, RoleBirth] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)
    policy_cache: dict[str, list[dict]] = field(default_factory=dict)


class QuirksLayer(AwsRecorder):
    """``QuirksLayer(upstream, [rule, ...]).start()``; point ``endpoint_url`` at ``.endpoint``."""

    def __init__(self, upstream: str, rules: list[Rule], clock: Callable[[], float] = time.monotonic, **kwargs):
        super().__init__(upstream, **kwargs)
        self.upstream = upstream
        self.rules = rules
        self.clock = clock
        self.state = _State()
        self._state_lock = threading.RLock()
        # (access key, service, operation, status) of every call that reached the local AWS
        self.exchanges: list[tuple[str, str, str, int]] = []
        self.errors: list[str] = []  # the layer's own failures (answered as InternalFailure, reported by the runner)
        for rule in rules:
            rule.bind(self)

    # -- what the layer learns from the traffic
    def principal_of(self, access_key: str) -> Principal | None:
        return self.state.principals.get(access_key)

    def role_age(self, role: str) -> float | None:
        """Seconds since the role (ARN or name) was created through the layer; ``None``: not seen created."""
        with self._state_lock:
            birth = self.state.role_births.get(role) or next(
                (b for b in self.state.role_births.values() if b.arn.rsplit("/", 1)[-1] == role), None
            )
        return None if birth is None else self.clock() - birth.at

    def account_of(self, access_key: str) -> str:
        principal = self.principal_of(access_key)
        if principal:
            return principal.account
        with self._state_lock:
            if access_key not in self.state.accounts:
                identity = self.client("sts", access_key).get_caller_identity()
                self.state.accounts[access_key] = identity["Account"]
            return self.state.accounts[access_key]

    def client(self, service: str, access_key: str, region: str = "us-east-1"):
        """A boto3 client of the local AWS itself (not through the layer) acting as ``access_key``'s account.

        The local AWS does not check signatures; it maps an access key to its account.
        """
        return boto3.client(
            service,
            region_name=region or "us-east-1",
            endpoint_url=self.upstream,
            aws_access_key_id=access_key or "testing",
            aws_secret_access_key="unchecked",
            aws_session_token="unchecked",
        )

    def policies_of(self, principal: Principal) -> list[dict]:
        """The identity policies of the principal's role (inline and attached), as the local AWS stores them."""
        with self._state_lock:
            cached = self.state.policy_cache.get(principal.role_arn)
        if cached is not None:
            return cached
        iam = self.client("iam", principal.access_key)
        name = principal.role_arn.rsplit("/", 1)[-1]
        documents = []
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            documents.append(iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"])
        for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
            document = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)
            documents.append(document["PolicyVersion"]["Document"])
        with self._state_lock:
            self.state.policy_cache[principal.role_arn] = documents
        return documents

    def boundary_of(self, principal: Principal) -> list[dict] | None:
        """The permissions boundary of the principal's role, as the local AWS stores it (``None``: none)."""
        key = f"boundary of {principal.role_arn}"
        with self._state_lock:
            if key in self.state.policy_cache:
                return self.state.policy_cache[key] or None
        iam = self.client("iam", principal.access_key)
        role = iam.get_role(RoleName=principal.role_arn.rsplit("/", 1)[-1])["Role"]
        arn = role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
        documents = []
        if arn:
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            documents = [iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]]
        with self._state_lock:
            self.state.policy_cache[key] = documents
        return documents or None

    def resource_state(self, request: Request) -> LocalState:
        """What the IAM engine reads of the caller's account for the condition keys of existing resources."""
        return LocalState(self, request.access_key, request.region)

    def permits(self, access_key: str, action: str, resources: list[str], context: dict) -> bool:
        """Whether the caller may ``action``, under the IAM rules that enforce its principal (none: yes)."""
        from tests.support.aws_quirks.iam import authorize

        principal = self.principal_of(access_key)
        enforcing = [rule for rule in self.rules if getattr(rule, "enforces", lambda _p: False)(principal)]
        if principal is None or not enforcing:
            return True
        return authorize(principal, self.policies_of(principal), action, resources, True, context).allowed

    def _observe(self, request: Request, response: Response) -> None:
        if not response.ok:
            return
        if request.service == "sts" and request.operation == "AssumeRole":
            root = ElementTree.fromstring(response.body)
            key, session = _text(root, "AccessKeyId"), _text(root, "Arn")
            role = str(request.params.get("RoleArn", ""))
            if key and session:
                account = session.split(":")[4]
                with self._state_lock:
                    self.state.principals[key] = Principal(role, session, account, key)
        elif request.service == "iam" and request.operation in ("CreateRole", "CreateServiceLinkedRole"):
            arn = _text(ElementTree.fromstring(response.body), "Arn")
            if arn:
                with self._state_lock:
                    self.state.role_births[arn] = RoleBirth(arn, self.clock())
        if request.service == "iam" and not request.operation.startswith(("Get", "List")):
            with self._state_lock:
                self.state.policy_cache.clear()

    # -- the exchange
    @staticmethod
    def fingerprint(method: str, path: str, body: bytes) -> str:
        return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()

    def forward(self, method: str, path: str, headers, body: bytes):
        """Send a request to the local AWS as it is; ``(status, reason, headers, payload)``."""
        return AwsRecorder._ask_upstream(self, method, path, headers, body)

    def _ask_upstream(self, method: str, path: str, headers, body: bytes):
        """The recorder's hook for each call it has recorded: the rules answer, or the local AWS does."""
        if path.startswith("/moto-api"):
            return self.forward(method, path, headers, body)
        request = parse_request(method, path, headers, body)
        try:
            response, reason = self._through_rules(request, self.fingerprint(method, path, body))
        except Exception as error:  # a defect of the layer, never to be mistaken for one of the collection
            self.errors.append(f"{request.action}: {type(error).__name__}: {error}\n{traceback.format_exc()}")
            response, reason = error_response(request.service, "InternalFailure", f"quirks layer: {error}", 500), ""
        return response.status, reason, response.headers, response.body

    def _through_rules(self, request: Request, fingerprint: str) -> tuple[Response, str]:
        for rule in self.rules:
            answer = rule.before(request)
            if answer is not None:
                if answer.injected:
                    rule.injections.append(self._injection(rule, request, answer, fingerprint))
                return answer, ""
        status, reason, response_headers, payload = self.forward(
            request.method, request.path, request.headers, request.body
        )
        response = Response(status, response_headers, payload)
        with self._state_lock:
            self.exchanges.append((request.access_key, request.service, request.operation, status))
        self._observe(request, response)
        self._settle(fingerprint)
        for rule in self.rules:
            response = rule.after(request, response)
        return response, reason

    def resend(self, request: Request, body: bytes) -> Response:
        """Forward ``request`` with another body (the local AWS does not check the signature)."""
        headers = {key: value for key, value in request.headers.items() if key.lower() != "content-length"}
        status, _reason, response_headers, payload = self.forward(request.method, request.path, headers, body)
        return Response(status, response_headers, payload)

    def _injection(self, rule: Rule, request: Request, answer: Response, fingerprint: str) -> Injection:
        code = answer.header("x-amzn-ErrorType") or ""
        message = ""
        try:
            data = answer.json()
            code, message = code or data.get("__type", ""), data.get("message", "")
        except ValueError:
            root = ElementTree.fromstring(answer.body)
            code, message = _text(root, "Code") or "", _text(root, "Message") or ""
        return Injection(
            rule.name, request.service, request.operation, request.access_key, code, message, fingerprint, self.clock()
        )

    def note(self, rule: Rule, request: Request, what: str) -> None:
        """Record a reshaped answer (no error) as one injection of ``rule``."""
        rule.injections.append(
            Injection(rule.name, request.service, request.operation, request.access_key, "", what, "", self.clock())
        )

    def _settle(self, fingerprint: str) -> None:
        for rule in self.rules:
            for injection in rule.injections:
                if injection.fingerprint == fingerprint:
                    injection.retried = True

    def __enter__(self) -> QuirksLayer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
