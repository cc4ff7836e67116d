"""The strict local AWS: every request checked as AWS checks it before acting, refused with AWS's error code and
message (issue 19).

Two sources of constraints:

* The botocore service model of the operation (``model_violations``): required members, types, enums, lengths,
  value ranges and patterns, walked recursively over the decoded parameters (tests/support/aws_quirks/wire.py).
  botocore's client-side validator checks only required members, types and minimums; AWS checks the rest server-side
  and answers "1 validation error detected: Value 'x' at 'name' failed to satisfy constraint: Member must ...".
* What AWS documents but the models do not carry (``DOCUMENTED``, one row per rule with the page it comes from):
  security group names and descriptions, load balancer and target group names, a Lambda name's 64 characters, the
  4 KB of a function's environment, the 10,240 characters of a role's inline policies, ... Where cfn-lint (a
  maintained package, its CloudFormation resource schemas and format rules) ships the rule, the row reads it from
  there.

What the layer still cannot check, and why:

* Services that speak rest-xml (S3, Route 53, CloudFront; the collection calls none of them): the wire decoder does
  not read their parameters, so their requests pass unchecked.
* Header-bound members of REST operations (Lambda's ``X-Amz-*`` headers) and the payload of Lambda Invoke: the wire
  decoder does not read them into parameters.
* Timestamps: the decoder leaves them as the wire carries them (epoch numbers, ISO strings); their range is not
  checked.
* Rules that span several members or depend on the account's state beyond the role's inline policies: e.g. ELB's
  "a listener's certificate is required for HTTPS", ECS's task size combinations (cpu/memory pairs), a security
  group name unique in its VPC, quotas (tags per resource beyond the model's list length, rules per listener). The
  local AWS checks some of these itself.
* Validation AWS performs in the service rather than in the request model (a policy document's grammar, an event
  pattern's syntax, a dashboard body's widgets): only the documented size and character limits are checked.
* The exact wording of a refusal is AWS's where it was seen (``Documented.seen`` names where); otherwise it follows
  the service's documented shape. Java regular expressions of the models are run with ``regex`` as whole-string
  matches (Coral's ``matches()``); a pattern ``regex`` cannot compile is skipped and listed in ``SKIPPED_PATTERNS``.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import importlib.util
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import regex

from tests.support.aws_quirks.iam import tags_of
from tests.support.aws_quirks.wire import protocol_of, service_model

# The code of a request that fails a model constraint, per signing name.
INVALID = {
    # ELBv2, IAM, STS API references, "Common Errors": ValidationError, "The input fails to satisfy the constraints
    # specified by an AWS service" (400).
    "elasticloadbalancing": "ValidationError",
    "iam": "ValidationError",
    "sts": "ValidationError",
    # CloudWatch's model: ValidationException is code ValidationError (the JSON protocol carries it in
    # x-amzn-query-error, botocore reads it there).
    "monitoring": "ValidationError",
    # EC2 API reference, "Error codes for the Amazon EC2 API": InvalidParameterValue, "A value specified in a
    # parameter is not valid, is unsupported, or cannot be used"; MissingParameter for an omitted required one
    # (seen: getmoto/moto#112, "The request must contain the parameter GroupDescription").
    "ec2": "InvalidParameterValue",
    # ECS's model: InvalidParameterException, "The specified parameter isn't valid"; ECS answers it for a value its
    # model refuses (seen: hashicorp/terraform-provider-aws#23342, "include should be one of [...]").
    "ecs": "InvalidParameterException",
    # Lambda's model has no validation error, but Lambda answers the model's constraints with ValidationException
    # (seen: highsource/bitcoin-a-day#1, awslabs/aws-gov-cloud-import#21); its own checks answer
    # InvalidParameterValueException (``DOCUMENTED``).
    "lambda": "ValidationException",
    # CloudWatch Logs' model: InvalidParameterException; seen with the generic message in
    # awslabs/aws-embedded-metrics-node#160 and fluent-plugin-cloudwatch-logs#223.
    "logs": "InvalidParameterException",
    # EventBridge API reference, "Common Errors": ValidationException; seen in aws/aws-sdk-js-v3#2240.
    "events": "ValidationException",
    # ECR's model: InvalidParameterException, with ECR's own message shape (seen: jenkins-x/jx#1344,
    # aws/aws-dotnet-deploy#549): "Invalid parameter at 'repositoryName' failed to satisfy constraint: '...'".
    "ecr": "InvalidParameterException",
}
MISSING = {"ec2": "MissingParameter"}
# Any other service answers as its protocol's family does.
_PROTOCOL_INVALID = {"query": "ValidationError", "ec2": "InvalidParameterValue"}
SKIPPED_PATTERNS: set[str] = set()
# The protocols whose parameters wire.parse_request decodes (rest-xml, S3's and Route 53's, is not: none is checked).
DECODED = ("query", "ec2", "json", "rest-json")


@dataclass(frozen=True)
class Violation:
    """One refused value: where (Coral's member path and the wire's), what it was, which constraint it failed."""

    path: str  # Coral's member path: roleName, tags.1.member.key
    wire: str  # the parameter as sent: GroupDescription, TagSpecification.1.Tag.1.Key
    value: object
    constraint: str  # Coral's wording: "Member must have length less than or equal to 32"
    sensitive: bool = False
    missing: bool = False
    code: str = ""  # a documented rule's own code and message (else the service's generic ones)
    message: str = ""


def invalid_code(service: str) -> str:
    return INVALID.get(service) or _PROTOCOL_INVALID.get(protocol_of(service), "ValidationException")


def _shown(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_shown(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={_shown(item)}" for key, item in value.items()) + "}"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _coral(violation: Violation) -> str:
    if violation.missing or violation.value is None:
        return f"Value null at '{violation.path}' failed to satisfy constraint: {violation.constraint}"
    if violation.sensitive:
        return f"Value at '{violation.path}' failed to satisfy constraint: {violation.constraint}"
    return (
        f"Value '{_shown(violation.value)}' at '{violation.path}' failed to satisfy constraint: {violation.constraint}"
    )


def refusal_of(service: str, violations: list[Violation]) -> tuple[str, str]:
    """AWS's (code, message) for a request that failed ``violations`` (not empty)."""
    first = violations[0]
    if first.message:
        return first.code or invalid_code(service), first.message
    if service == "ec2":
        if first.missing:
            return MISSING["ec2"], f"The request must contain the parameter {first.wire}"
        return "InvalidParameterValue", f"Value ({_shown(first.value)}) for parameter {first.wire} is invalid."
    if service == "ecr":  # "... failed to satisfy constraint: 'must satisfy regular expression '<pattern>''"
        constraint = first.constraint.removeprefix("Member ")
        if constraint.startswith("must satisfy regular expression pattern: "):
            constraint = f"must satisfy regular expression '{constraint.rpartition('pattern: ')[2]}'"
        message = f"Invalid parameter at '{first.path}' failed to satisfy constraint: '{constraint}'"
        return invalid_code(service), message
    shown = violations[:10]
    count = f"{len(shown)} validation error{'s' if len(shown) > 1 else ''} detected: "
    return invalid_code(service), count + "; ".join(_coral(violation) for violation in shown)


# ---------------------------------------------------------------------------------------------------------
# The model's constraints


# Java's \w, \d and \s are ASCII classes (without UNICODE_CHARACTER_CLASS, which Coral does not set); Python's are
# Unicode ones, so "é" would pass [\w+=,.@-]+ here and fail at AWS. \p{L} and the like stay Unicode in both.
_JAVA_CLASSES = {"w": "A-Za-z0-9_", "d": "0-9", "s": " \\t\\n\\x0B\\f\\r"}
_JAVA_NEGATED = {"W": "[^A-Za-z0-9_]", "D": "[^0-9]", "S": "[^ \\t\\n\\x0B\\f\\r]"}


def java_ascii(pattern: str) -> str:
    """``pattern`` with Java's ASCII meaning of ``\\w``, ``\\d``, ``\\s`` (and, outside a class, their negations)."""
    out, in_class, index = [], False, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            escaped = pattern[index + 1]
            if escaped in _JAVA_CLASSES:
                ascii_class = _JAVA_CLASSES[escaped]
                out.append(ascii_class if in_class else f"[{ascii_class}]")
            elif escaped in _JAVA_NEGATED and not in_class:
                out.append(_JAVA_NEGATED[escaped])
            else:
                out.append(char + escaped)
            index += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        index += 1
    return "".join(out)


@cache
def _pattern(pattern: str) -> regex.Pattern | None:
    try:
        return regex.compile(java_ascii(pattern))
    except regex.error:
        SKIPPED_PATTERNS.add(pattern)
        return None


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


class _Walker:
    """Walks an input shape over the parameters as the wire decoder gives them for ``protocol``."""

    def __init__(self, protocol: str):
        self.protocol = protocol
        self.strings = protocol in ("query", "ec2")  # every scalar arrives as text
        self.found: list[Violation] = []

    def wire_name(self, name: str, shape, top: bool) -> str:
        serialization = shape.serialization
        if self.protocol == "ec2":
            if "queryName" in serialization:
                return serialization["queryName"]
            located = serialization.get("name")
            return located[:1].upper() + located[1:] if located else name
        if self.protocol == "rest-json" and top and serialization.get("location") in ("uri", "querystring"):
            return serialization.get("name", name)
        return serialization.get("name", name)

    def structure(self, shape, value, path: str, wire: str, top: bool = False) -> None:
        if value in ("", None) and self.strings:
            value = {}
        if not isinstance(value, dict):
            self.bad_type(shape, value, path, wire)
            return
        payload = shape.serialization.get("payload") if top else None
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            if top and (location in ("header", "headers", "statusCode") or name == payload):
                continue  # not decoded (see the module's docstring)
            key = self.wire_name(name, member, top)
            here = f"{path}.{_lower_first(name)}" if path else _lower_first(name)
            there = f"{wire}.{key}" if wire else key
            if key not in value:
                if name in shape.required_members:
                    self.found.append(Violation(here, there, None, "Member must not be null", missing=True))
                continue
            if payload and location not in ("uri", "querystring"):
                continue  # the body is the payload: its keys are not members
            self.member(member, value[key], here, there)

    def member(self, shape, value, path: str, wire: str) -> None:
        kind = shape.type_name
        if kind == "structure":
            self.structure(shape, value, path, wire)
        elif kind == "list":
            self.list(shape, value, path, wire)
        elif kind == "map":
            self.map(shape, value, path, wire)
        elif kind == "string":
            self.string(shape, value, path, wire)
        elif kind in ("integer", "long", "float", "double"):
            self.number(shape, value, path, wire)
        elif kind == "boolean":
            if not (isinstance(value, bool) or (self.strings and str(value).lower() in ("true", "false"))):
                self.bad_type(shape, value, path, wire)
        elif kind == "blob":
            self.blob(shape, value, path, wire)
        # timestamps: see the module's docstring

    def list(self, shape, value, path: str, wire: str) -> None:
        if value == "" and self.strings:  # botocore sends an empty list as ``Name=``
            value = []
        if not isinstance(value, list):
            self.bad_type(shape, value, path, wire)
            return
        self.lengths(shape, value, len(value), path, wire)
        for index, item in enumerate(value, 1):
            self.member(shape.member, item, f"{path}.{index}.member", f"{wire}.{index}")

    def map(self, shape, value, path: str, wire: str) -> None:
        if self.strings and isinstance(value, list):  # Name.entry.N.key / .value
            key_name = shape.key.serialization.get("name", "key")
            value_name = shape.value.serialization.get("name", "value")
            value = {item.get(key_name): item.get(value_name) for item in value if isinstance(item, dict)}
        if value == "" and self.strings:
            value = {}
        if not isinstance(value, dict):
            self.bad_type(shape, value, path, wire)
            return
        self.lengths(shape, value, len(value), path, wire)
        for key, item in value.items():
            # Coral words a map's failures on the map itself: "Map keys must satisfy constraint: [Member must ...]".
            for part, shape_of, what in ((key, shape.key, "Map keys"), (item, shape.value, "Map value")):
                inner = _Walker(self.protocol)
                inner.member(shape_of, part, path, f"{wire}.{key}")
                sensitive = bool(shape.metadata.get("sensitive") or shape_of.metadata.get("sensitive"))
                self.found += [
                    Violation(
                        path, f"{wire}.{key}", value, f"{what} must satisfy constraint: [{found.constraint}]", sensitive
                    )
                    for found in inner.found
                ]

    def string(self, shape, value, path: str, wire: str) -> None:
        if not isinstance(value, str):
            self.bad_type(shape, value, path, wire)
            return
        sensitive = bool(shape.metadata.get("sensitive"))
        if shape.enum and value not in shape.enum:
            constraint = f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"
            self.found.append(Violation(path, wire, value, constraint, sensitive))
        self.lengths(shape, value, len(value), path, wire)
        pattern = shape.metadata.get("pattern")
        compiled = _pattern(pattern) if pattern else None
        if compiled is not None and compiled.fullmatch(value) is None:
            constraint = f"Member must satisfy regular expression pattern: {pattern}"
            self.found.append(Violation(path, wire, value, constraint, sensitive))

    def number(self, shape, value, path: str, wire: str) -> None:
        integral = shape.type_name in ("integer", "long")
        number = value
        if self.strings and isinstance(value, str):
            try:
                number = int(value) if integral else float(value)
            except ValueError:
                self.bad_type(shape, value, path, wire)
                return
        if isinstance(number, bool) or not isinstance(number, int if integral else int | float):
            self.bad_type(shape, value, path, wire)
            return
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and number < low:
            self.found.append(Violation(path, wire, value, f"Member must have value greater than or equal to {low}"))
        if high is not None and number > high:
            self.found.append(Violation(path, wire, value, f"Member must have value less than or equal to {high}"))

    def blob(self, shape, value, path: str, wire: str) -> None:
        if not isinstance(value, str):
            self.bad_type(shape, value, path, wire)
            return
        try:
            size = len(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            self.bad_type(shape, value, path, wire)
            return
        self.lengths(shape, "(blob)", size, path, wire, sensitive=True)

    def lengths(self, shape, value, size: int, path: str, wire: str, sensitive: bool = False) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        sensitive = sensitive or bool(shape.metadata.get("sensitive"))
        if low is not None and size < low:
            constraint = f"Member must have length greater than or equal to {low}"
            self.found.append(Violation(path, wire, value, constraint, sensitive))
        if high is not None and size > high:
            constraint = f"Member must have length less than or equal to {high}"
            self.found.append(Violation(path, wire, value, constraint, sensitive))

    def bad_type(self, shape, value, path: str, wire: str) -> None:
        kind = {"structure": "a structure", "list": "a list", "map": "a map"}.get(shape.type_name)
        constraint = f"Member must be {kind or 'of type ' + shape.type_name}"
        self.found.append(Violation(path, wire, value, constraint, bool(shape.metadata.get("sensitive"))))


def model_violations(service: str, operation: str, params: dict) -> list[Violation]:
    """What ``params`` of ``service``'s ``operation`` (signing name, operation name) fail of the model's constraints."""
    if protocol_of(service) not in DECODED:
        return []
    model = service_model(service)
    if operation not in model.operation_names:
        return []
    shape = model.operation_model(operation).input_shape
    if shape is None:
        return []
    walker = _Walker(protocol_of(service))
    walker.structure(shape, params, "", "", top=True)
    return walker.found


# ---------------------------------------------------------------------------------------------------------
# What AWS documents and the models do not carry


@cache
def _cfn_schema(resource_type: str) -> dict:
    """cfn-lint's CloudFormation resource schema of ``resource_type`` (us-east-1's)."""
    schemas = Path(importlib.util.find_spec("cfnlint").origin).parent / "data" / "schemas"
    index = json.loads((schemas / "providers" / "us-east-1.json").read_text())
    return json.loads((schemas / "resources" / f"{index[resource_type]}.json").read_text())


def cfn_property(resource_type: str, name: str) -> dict:
    return _cfn_schema(resource_type)["properties"][name]


def cfn_format_pattern(rule: str) -> str:
    """The pattern of one of cfn-lint's format rules (cfnlint.rules.formats.<rule>)."""
    module = importlib.import_module(f"cfnlint.rules.formats.{rule}")
    return getattr(module, rule)().pattern


@dataclass(frozen=True)
class Context:
    """What a documented rule may look at beyond its member: the whole request, the account's inline policies."""

    params: dict
    inline_policies: Callable[[str], dict[str, str]] | None = None  # role name -> {policy name: document}


@dataclass(frozen=True)
class Documented:
    """One rule AWS documents for a member that its model leaves unconstrained."""

    service: str  # the signing name
    operations: tuple[str, ...]  # ("*",): every operation
    member: str  # a path over the decoded parameters: ``Name``, ``Tags[].Key``, ``<tags>`` (keys of any tags)
    rule: str  # the rule as documented
    test: Callable[[object, Context], bool]  # True: the value keeps the rule
    message: str  # AWS's message; {value}, {role} (RoleName) and {json} (the value as JSON) are filled in
    source: str  # the page that documents the rule
    seen: str = ""  # where AWS's wording of ``message`` was seen; "": in the service's documented shape
    code: str = ""  # the code, where it is not the service's ``invalid_code``


def _fits(test: Callable[[object], bool]) -> Callable[[object, Context], bool]:
    return lambda value, _context: test(value)


def _matches(pattern: str) -> Callable[[object], bool]:
    compiled = regex.compile(pattern)
    return lambda value: compiled.fullmatch(str(value)) is not None


def _at_most(limit: int) -> Callable[[object], bool]:
    return lambda value: len(str(value)) <= limit


def _both(*tests: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda value: all(test(value) for test in tests)


def _policy_size(document: str) -> int:
    """A policy's size as IAM counts it against its quotas: its characters, white space not counted."""
    return len(re.sub(r"\s", "", document))


def _role_inline_total(value, context: Context) -> bool:
    """Whether the role's inline policies, with this one put, stay within 10,240 characters."""
    if context.inline_policies is None:
        return _policy_size(str(value)) <= ROLE_INLINE_POLICIES
    role, name = str(context.params.get("RoleName", "")), str(context.params.get("PolicyName", ""))
    others = {key: doc for key, doc in context.inline_policies(role).items() if key != name}
    return _policy_size(str(value)) + sum(_policy_size(doc) for doc in others.values()) <= ROLE_INLINE_POLICIES


def _environment_size(value) -> int:
    """Lambda's measure of a function's environment: the variables as JSON (its message shows that string)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


ROLE_INLINE_POLICIES = 10240
LAMBDA_ENVIRONMENT = 4096
_SG_DESCRIPTION = cfn_property("AWS::EC2::SecurityGroup", "GroupDescription")
_SG_NAME = cfn_format_pattern("SecurityGroupName")
_SG_RULE_OPERATIONS = (
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "UpdateSecurityGroupRuleDescriptionsIngress",
    "UpdateSecurityGroupRuleDescriptionsEgress",
)
_ELB_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ELB_CHARS = r"[A-Za-z0-9-]+"
_ECS_NAME = r"[A-Za-z0-9_-]{1,255}"
_EC2_SG = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html"
_ELB_TG = "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html"
_ELB_LB = "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html"
_TAGS = "https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html"

DOCUMENTED: tuple[Documented, ...] = (
    Documented(
        "ec2",
        ("CreateSecurityGroup",),
        "GroupDescription",
        "at most 255 characters of a-zA-Z0-9. _-:/()#,@[]+=&;{}!$* (cfn-lint: AWS::EC2::SecurityGroup "
        "GroupDescription)",
        _fits(_both(_at_most(_SG_DESCRIPTION["maxLength"]), _matches(_SG_DESCRIPTION["pattern"]))),
        "Invalid security group description. Valid descriptions are strings less than 256 characters from the "
        "following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*",
        _EC2_SG,
        seen="cds-snc/notification-terraform#561",
    ),
    Documented(
        "ec2",
        ("CreateSecurityGroup",),
        "GroupDescription",
        "not empty (EC2 reads an empty description as none)",
        _fits(lambda value: str(value) != ""),
        "The request must contain the parameter GroupDescription",
        _EC2_SG,
        seen='ansible/ansible#19791 ("AWS requires a non-empty description"), getmoto/moto#112 (the message)',
        code="MissingParameter",
    ),
    Documented(
        "ec2",
        ("CreateSecurityGroup",),
        "GroupName",
        "not starting with sg-",
        _fits(lambda value: not str(value).lower().startswith("sg-")),
        "Value ({value}) for parameter GroupName is invalid. Group names may not be in the format sg-*.",
        _EC2_SG,
        seen="pulumi/pulumi-awsx#477",
    ),
    Documented(
        "ec2",
        ("CreateSecurityGroup",),
        "GroupName",
        "at most 255 characters of a-zA-Z0-9 ._-:/()#,@[]+=&;{}!$* (cfn-lint format AWS::EC2::SecurityGroup.Name)",
        _fits(_both(_at_most(255), _matches(_SG_NAME))),
        "Value ({value}) for parameter GroupName is invalid. Valid names are strings less than 256 characters from "
        "the following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*",
        _EC2_SG,
    ),
    *(
        Documented(
            "ec2",
            _SG_RULE_OPERATIONS,
            f"IpPermissions[].{ranges}[].Description",
            "a rule description of at most 255 characters of a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*",
            _fits(_both(_at_most(_SG_DESCRIPTION["maxLength"]), _matches(_SG_DESCRIPTION["pattern"]))),
            "Invalid rule description. Valid descriptions are strings less than 256 characters from the following "
            "set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*",
            "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpRange.html",
            seen="aws-cloudformation/cfn-lint#173",
        )
        for ranges in ("IpRanges", "Ipv6Ranges", "Groups", "PrefixListIds")  # EC2's wire names of the ranges
    ),
    Documented(
        "elasticloadbalancing",
        ("CreateTargetGroup",),
        "Name",
        "at most 32 characters",
        _fits(_at_most(32)),
        "Target group name '{value}' cannot be longer than '32' characters",
        _ELB_TG,
        seen="hashicorp/terraform#11699",
    ),
    Documented(
        "elasticloadbalancing",
        ("CreateTargetGroup",),
        "Name",
        "letters, digits and hyphens only",
        _fits(_matches(_ELB_CHARS)),
        "Target group name '{value}' can only contain characters that are alphanumeric characters or hyphens(-)",
        _ELB_TG,
        seen="moto's elbv2 (copied from AWS)",
    ),
    Documented(
        "elasticloadbalancing",
        ("CreateTargetGroup",),
        "Name",
        "no hyphen at either end",
        _fits(_matches(_ELB_NAME)),
        "Target group name '{value}' cannot begin or end with '-'",
        _ELB_TG,
        seen="moto's elbv2 (copied from AWS)",
    ),
    Documented(
        "elasticloadbalancing",
        ("CreateLoadBalancer",),
        "Name",
        "at most 32 characters",
        _fits(_at_most(32)),
        "LoadBalancer name cannot be longer than 32 characters",
        _ELB_LB,
    ),
    Documented(
        "elasticloadbalancing",
        ("CreateLoadBalancer",),
        "Name",
        "letters, digits and hyphens only, no hyphen at either end",
        _fits(_matches(_ELB_NAME)),
        "LoadBalancer name cannot contain characters that are not letters, digits or hyphens, and cannot begin or "
        "end with a hyphen",
        _ELB_LB,
    ),
    Documented(
        "elasticloadbalancing",
        ("CreateLoadBalancer",),
        "Name",
        "not starting with internal-",
        _fits(lambda value: not str(value).startswith("internal-")),
        "LoadBalancer name cannot begin with 'internal-'",
        _ELB_LB,
    ),
    Documented(
        "iam",
        ("PutRolePolicy",),
        "PolicyDocument",
        "a role's inline policies together at most 10,240 characters, white space not counted",
        _role_inline_total,
        "Maximum policy size of 10240 bytes exceeded for role {role}",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html",
        seen="serverless/serverless#7643 (LimitExceeded, 409)",
        code="LimitExceeded",
    ),
    Documented(
        "lambda",
        ("CreateFunction",),
        "FunctionName",
        "a name (not an ARN) of at most 64 characters",
        _fits(lambda value: ":" in str(value) or len(str(value)) <= 64),
        "1 validation error detected: Value '{value}' at 'functionName' failed to satisfy constraint: Member must "
        "have length less than or equal to 64",
        "https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html",
        seen="aws/aws-cdk#13264",
        code="InvalidParameterValueException",
    ),
    Documented(
        "lambda",
        ("CreateFunction", "UpdateFunctionConfiguration"),
        "Environment.Variables",
        "all environment variables together at most 4 KB",
        _fits(lambda value: _environment_size(value) <= LAMBDA_ENVIRONMENT),
        "Lambda was unable to configure your environment variables because the environment variables you have "
        "provided exceeded the 4KB limit. String measured: {json}",
        "https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html",
        seen="github-aws-runners/terraform-aws-github-runner#3594",
        code="InvalidParameterValueException",
    ),
    Documented(
        "logs",
        ("CreateLogGroup",),
        "logGroupName",
        "not starting with aws/ (reserved for AWS)",
        _fits(lambda value: not str(value).lower().startswith("aws/")),
        "Log groups starting with AWS/ are reserved for AWS.",
        "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html",
        seen="aws-solutions/application-monitoring-with-amazon-cloudwatch#11",
    ),
    Documented(
        "monitoring",
        ("PutDashboard",),
        "DashboardName",
        "1 to 255 characters of A-Za-z0-9 - and _",
        _fits(_matches(r"[A-Za-z0-9_-]{1,255}")),
        "The value for field DashboardName contains invalid characters. It can only contain alphanumerics, dash (-) "
        "and underscore (_).",
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html",
        code="InvalidParameterInput",
    ),
    Documented(
        "monitoring",
        ("PutMetricAlarm", "PutCompositeAlarm"),
        "AlarmName",
        "UTF-8 without ASCII control characters",
        _fits(lambda value: not re.search(r"[\x00-\x1f\x7f]", str(value))),
        "1 validation error detected: Value '{value}' at 'alarmName' failed to satisfy constraint: Member must not "
        "contain ASCII control characters",
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html",
    ),
    Documented(
        "ecs",
        ("CreateCluster",),
        "clusterName",
        "up to 255 letters, digits, hyphens and underscores",
        _fits(_matches(_ECS_NAME)),
        "Cluster name can have up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens.",
        "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateCluster.html",
    ),
    Documented(
        "ecs",
        ("CreateService",),
        "serviceName",
        "up to 255 letters, digits, hyphens and underscores",
        _fits(_matches(_ECS_NAME)),
        "Service name can have up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens.",
        "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html",
    ),
    Documented(
        "ecs",
        ("RegisterTaskDefinition",),
        "family",
        "up to 255 letters, digits, hyphens and underscores",
        _fits(_matches(_ECS_NAME)),
        "Family can have up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens.",
        "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html",
    ),
    *(
        Documented(
            service,
            ("*",),
            "<tags>",
            "tag keys at most 128 characters, values at most 256",
            _fits(lambda tag: len(tag[0]) <= 128 and len(tag[1]) <= 256),
            "Tag key or value too long: '{value}'. Tag keys can be at most 128 characters and values at most 256.",
            _TAGS,
        )
        for service in ("ec2", "ecr")  # the other services' models carry these lengths
    ),
    *(
        Documented(
            service,
            ("*",),
            "<tags>",
            "tag keys not starting with aws: (in any case)",
            _fits(lambda tag: not tag[0].lower().startswith("aws:")),
            "Tag keys starting with 'aws:' are reserved for internal use",
            _TAGS,
            seen="EC2's answer (the same text is used here for every service)",
        )
        for service in INVALID
        if service != "sts"
    ),
)


def _values_at(params, path: str) -> list:
    """The values at ``path`` (``a``, ``a.b``, ``a[]``, ``a[].b``); ``<tags>``: every (key, value) tag pair."""
    if path == "<tags>":
        return list(tags_of(params).items())
    nodes = [params]
    for part in path.split("."):
        many = part.endswith("[]")
        key = part.removesuffix("[]")
        found = []
        for node in nodes:
            value = node.get(key) if isinstance(node, dict) else None
            if value is None:
                continue
            found.extend(value if many and isinstance(value, list) else [value])
        nodes = found
    return nodes


def documented_for(service: str, operation: str) -> list[Documented]:
    return [
        row for row in DOCUMENTED if row.service == service and ("*" in row.operations or operation in row.operations)
    ]


def documented_violations(
    service: str, operation: str, params: dict, context: Context | None = None
) -> list[Violation]:
    """What ``params`` fail of the ``DOCUMENTED`` rules of the operation."""
    context = context or Context(params)
    found = []
    for row in documented_for(service, operation):
        for value in _values_at(params, row.member):
            if row.test(value, context):
                continue
            shown = value[0] if row.member == "<tags>" else value
            filled = {
                "{value}": str(shown),
                "{role}": str(params.get("RoleName", "")),
                "{json}": json.dumps(value, separators=(",", ":")) if isinstance(value, dict) else "",
            }
            message = row.message
            for placeholder, text in filled.items():
                message = message.replace(placeholder, text)
            found.append(Violation(row.member, row.member, shown, row.rule, code=row.code, message=message))
    return found


@dataclass
class Verdict:
    code: str
    message: str
    violations: list[Violation] = field(default_factory=list)


def check(service: str, operation: str, params: dict, context: Context | None = None) -> Verdict | None:
    """AWS's refusal of the request (``None``: AWS takes it). The model's constraints first, as AWS validates the
    request's shape before the service looks at it."""
    found = model_violations(service, operation, params) or documented_violations(service, operation, params, context)
    if not found:
        return None
    code, message = refusal_of(service, found)
    return Verdict(code, message, found)
