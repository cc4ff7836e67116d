"""The wire side of the behaviour layer: which service and operation a request is, its parameters, and AWS's
error answers in each protocol's shape.

Everything protocol-specific is read from the botocore service models installed with boto3 (protocol, JSON
version, XML namespace, REST routes, modelled error status codes), so the answers parse in botocore exactly as
AWS's do. Errors the models do not describe (AccessDenied, throttling) follow each service's documented common
errors, listed in ``COMMON_ERRORS``.
"""

from __future__ import annotations

import contextlib
import json
import re
import urllib.parse
import uuid
from dataclasses import dataclass, field
from functools import cache
from xml.sax.saxutils import escape

import botocore.session

from tests.support.aws_recorder import operation_of, service_of

# Signing name (the SigV4 credential scope) -> botocore service name, for the services the collection calls.
SERVICES = {
    "elasticloadbalancing": "elbv2",
    "iam": "iam",
    "sts": "sts",
    "ec2": "ec2",
    "ecs": "ecs",
    "logs": "logs",
    "events": "events",
    "ecr": "ecr",
    "monitoring": "cloudwatch",
    "lambda": "lambda",
}
# The IAM service prefix of each signing name, where they differ.
IAM_PREFIX = {"monitoring": "cloudwatch"}

# (code, HTTP status) of the errors AWS returns that the service models leave out: access denied and throttling,
# per service, as the services' "Common Errors" pages and their real answers give them.
COMMON_ERRORS = {
    "elasticloadbalancing": {"denied": ("AccessDenied", 403), "throttled": ("Throttling", 400)},
    "monitoring": {"denied": ("AccessDenied", 403), "throttled": ("Throttling", 400)},
    "iam": {"denied": ("AccessDenied", 403), "throttled": ("Throttling", 400)},
    "sts": {"denied": ("AccessDenied", 403), "throttled": ("Throttling", 400)},
    "ec2": {"denied": ("UnauthorizedOperation", 403), "throttled": ("RequestLimitExceeded", 503)},
    "ecs": {"denied": ("AccessDeniedException", 400), "throttled": ("ThrottlingException", 400)},
    "logs": {"denied": ("AccessDeniedException", 400), "throttled": ("ThrottlingException", 400)},
    "events": {"denied": ("AccessDeniedException", 400), "throttled": ("ThrottlingException", 400)},
    "ecr": {"denied": ("AccessDeniedException", 400), "throttled": ("ThrottlingException", 400)},
    # Lambda models TooManyRequestsException (429); AccessDeniedException is 403 there.
    "lambda": {"denied": ("AccessDeniedException", 403), "throttled": ("TooManyRequestsException", 429)},
}
_CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")


@cache
def _by_signing_name() -> dict[str, str]:
    """Every botocore service by its signing name (for a service outside ``SERVICES``, e.g. a preflight's)."""
    session = botocore.session.get_session()
    found: dict[str, str] = {}
    for name in session.get_available_services():
        metadata = session.get_service_data(name)["metadata"]
        found.setdefault(metadata.get("signingName", metadata["endpointPrefix"]), name)
    return found


def service_name(signing_name: str) -> str | None:
    return SERVICES.get(signing_name) or _by_signing_name().get(signing_name)


@cache
def service_model(signing_name: str):
    return botocore.session.get_session().get_service_model(service_name(signing_name))


@dataclass
class Request:
    """One AWS API request as it reached the layer, with its parameters decoded per protocol."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    service: str  # the signing name: elasticloadbalancing, monitoring, lambda ...
    operation: str  # the API operation name (for REST, resolved from the model's routes)
    access_key: str
    region: str
    params: dict = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        return protocol_of(self.service)

    @property
    def action(self) -> str:
        """The IAM action of the operation: ``prefix:Operation``."""
        return f"{IAM_PREFIX.get(self.service, self.service)}:{self.operation}"


def protocol_of(service: str) -> str:
    """The protocol botocore speaks to ``service`` (CloudWatch: the model lists several; botocore picks json)."""
    if not service or service_name(service) is None:
        return "unknown"
    model = service_model(service)
    return getattr(model, "resolved_protocol", None) or model.protocol


def parse_request(method: str, path: str, headers, body: bytes) -> Request:
    plain = {key: value for key, value in headers.items()}
    match = _CREDENTIAL.search(headers.get("Authorization", ""))
    access_key, region = (match.group(1), match.group(2)) if match else ("", "")
    service = service_of(headers)
    operation = operation_of(method, path, headers, body)
    params: dict = {}
    protocol = protocol_of(service)
    if protocol in ("query", "ec2"):
        form = body.decode("utf-8", "replace") if body else urllib.parse.urlsplit(path).query
        params = unflatten(urllib.parse.parse_qsl(form, keep_blank_values=True))
    elif protocol == "json":
        params = json.loads(body or b"{}")
    elif protocol == "rest-json":
        operation, params = rest_operation(service, method, path)
        if body:
            with contextlib.suppress(ValueError):
                params.update(json.loads(body))
    return Request(method, path, plain, body, service, operation, access_key, region, params)


def unflatten(pairs: list[tuple[str, str]]) -> dict:
    """Query-protocol form fields (``Names.member.1=x``, ``TagSpecification.1.Tag.1.Key=k``) as nested data."""
    root: dict = {}
    for key, value in pairs:
        parts = [part for part in key.split(".") if part not in ("member", "entry")]
        node: dict | list = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if isinstance(node, dict):
                if last:
                    node[part] = value
                    break
                following = parts[index + 1]
                node = node.setdefault(part, [] if following.isdigit() else {})
            else:  # a list, ``part`` is its 1-based position
                position = int(part) - 1
                while len(node) <= position:
                    node.append({})
                if last:
                    node[position] = value
                    break
                node = node[position]
    return _lists_of_values(root)


def _lists_of_values(node):
    if isinstance(node, dict):
        return {key: _lists_of_values(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_lists_of_values(item) for item in node if item != {}]
    return node


@cache
def _rest_routes(service: str) -> list[tuple[str, re.Pattern, str, int]]:
    model = service_model(service)
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri = http["requestUri"].split("?", 1)[0]
        pattern = re.sub(
            r"\{([A-Za-z0-9_]+)(\+?)\}",
            lambda m: f"(?P<{m.group(1)}>{'.+' if m.group(2) else '[^/]+'})",
            re.escape(uri).replace(r"\{", "{").replace(r"\}", "}"),
        )
        literal = len(re.sub(r"\{[^}]+\}", "", uri))
        routes.append((http["method"], re.compile(f"^{pattern}/?$"), name, literal))
    routes.sort(key=lambda route: -route[3])
    return routes


@cache
def _query_lists(service: str, operation: str) -> tuple[str, ...]:
    """The query-string names of the operation's list members."""
    shape = service_model(service).operation_model(operation).input_shape
    members = shape.members.items() if shape is not None else []
    return tuple(
        member.serialization.get("name", name)
        for name, member in members
        if member.serialization.get("location") == "querystring" and member.type_name == "list"
    )


def rest_operation(service: str, method: str, path: str) -> tuple[str, dict]:
    """The operation and its path and query parameters of a REST request, from the model's routes."""
    parts = urllib.parse.urlsplit(path)
    for route_method, pattern, name, _literal in _rest_routes(service):
        match = pattern.match(parts.path)
        if route_method == method and match:
            params = {key: urllib.parse.unquote(value) for key, value in match.groupdict().items()}
            query = urllib.parse.parse_qsl(parts.query)
            params.update(dict(query))
            # A list in the query string (Lambda's UntagResource ?tagKeys=a&tagKeys=b) is a list, of one value too.
            for key in _query_lists(service, name):
                values = [value for name_, value in query if name_ == key]
                if values:
                    params[key] = values
            return name, params
    return f"{method} {parts.path}", {}


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    injected: bool = False  # an error a rule made up (not the local AWS's own answer)

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)

    def json(self) -> dict:
        return json.loads(self.body or b"{}")

    def with_json(self, data: dict) -> Response:
        return Response(self.status, self.headers, json.dumps(data, default=str).encode())

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def error_status(service: str, code: str, default: int) -> int:
    """The HTTP status the model gives error ``code`` of ``service``, else ``default``."""
    for shape in service_model(service).error_shapes:
        error = shape.metadata.get("error", {})
        if shape.name == code or error.get("code") == code:
            return error.get("httpStatusCode", default)
    return default


def error_response(service: str, code: str, message: str, status: int | None = None, **extra) -> Response:
    """AWS's error answer for ``service`` in its protocol's wire shape (botocore parses ``code`` and ``message``)."""
    model = service_model(service)
    status = status or error_status(service, code, 400)
    request_id = str(uuid.uuid4())
    protocol = protocol_of(service)
    headers = [("x-amzn-RequestId", request_id)]
    if protocol == "query":
        fault = "Receiver" if status >= 500 else "Sender"
        body = (
            f'<ErrorResponse xmlns="{model.metadata.get("xmlNamespace", "")}">'
            f"<Error><Type>{fault}</Type><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return Response(status, [*headers, ("Content-Type", "text/xml")], body.encode(), injected=True)
    if protocol == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<Response><Errors><Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"</Errors><RequestID>{request_id}</RequestID></Response>"
        )
        return Response(status, [*headers, ("Content-Type", "text/xml;charset=UTF-8")], body.encode(), injected=True)
    if protocol == "json":
        headers.append(("Content-Type", f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.1')}"))
        if "awsQueryCompatible" in model.metadata:  # CloudWatch: the query code travels in a header
            headers.append(("x-amzn-query-error", f"{code};{'Receiver' if status >= 500 else 'Sender'}"))
        return Response(
            status, headers, json.dumps({"__type": code, "message": message, **extra}).encode(), injected=True
        )
    # rest-json (Lambda): the code in x-amzn-ErrorType, header-bound members as headers.
    headers += [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
    if "retryAfterSeconds" in extra:
        headers.append(("Retry-After", str(extra.pop("retryAfterSeconds"))))
    return Response(status, headers, json.dumps({"Type": "User", "message": message, **extra}).encode(), injected=True)


# Other services answer as their protocol's family does.
_PROTOCOL_ERRORS = {
    "query": {"denied": ("AccessDenied", 403), "throttled": ("Throttling", 400)},
    "json": {"denied": ("AccessDeniedException", 400), "throttled": ("ThrottlingException", 400)},
    "rest-json": {"denied": ("AccessDeniedException", 403), "throttled": ("ThrottlingException", 429)},
}


def common_error(service: str, kind: str, message: str, **extra) -> Response:
    """The ``kind`` ("denied" or "throttled") error of ``service``, with AWS's code and status for it."""
    errors = COMMON_ERRORS.get(service) or _PROTOCOL_ERRORS.get(protocol_of(service), _PROTOCOL_ERRORS["json"])
    code, status = errors[kind]
    return error_response(service, code, message, status, **extra)
