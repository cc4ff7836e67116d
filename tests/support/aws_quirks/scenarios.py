"""The re-runs ``make aws-quirks`` makes of a deployed stack under the enforced deployer policy (issue 19).

A first ``site.yml`` and a second one with nothing changed leave out every update path of the modules: a new zip
(``UpdateFunctionCode``, and the ``function_updated`` waiter's ``GetFunctionConfiguration``), a new image and task
definition, a changed function setting (``UpdateFunctionConfiguration``), tags added to and removed from resources
that exist (``TagResource``/``CreateTags``/``AddTags``, ``UntagResource``/``DeleteTags``/``RemoveTags``) and a
listener added with a certificate while HTTP turns into a redirect. Each scenario re-runs ``site.yml`` with one of
those changes, checks in the account that the change was made, and names the calls it expects the IAM engine to have
checked against the deployer's policy (and, for the certificate, the scaler's). Its verdict line is
``scenario <name>: checked <n> calls, survived`` (or ``FAILED: <why>``): a denial, a refusal of the strict layer, a
failed play or a change that did not happen fails it.

This module holds what does not need the run: the verdict, the summaries of the IAM engine's log and the
expectations, the listeners' weights, a certificate to import. ``runner.Run`` drives the scenarios.
"""

from __future__ import annotations

import datetime as _datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tests.support.aws_quirks.rules import Checked

# The tag the settings scenario adds through every *_tags variable and the tag scenario drops again.
SCENARIO_TAG = ("quirks:scenario", "dropped-later")
TAG_VARIABLES = ("lambda_function_tags", "scaler_tags", "alb_tags", "network_tags", "ecs_service_tags")
# The calls that remove tags, per service (amazon.aws's tag handling and the collection's ECS module).
UNTAGGING = (
    "ec2:DeleteTags",
    "lambda:UntagResource",
    "elasticloadbalancing:RemoveTags",
    "iam:UntagRole",
    "logs:UntagLogGroup",
    "logs:UntagResource",
    "ecs:UntagResource",
)
TAGGING = (
    "ec2:CreateTags",
    "lambda:TagResource",
    "elasticloadbalancing:AddTags",
    "iam:TagRole",
    "logs:TagLogGroup",
    "logs:TagResource",
    "ecs:TagResource",
)
LAST_MOVE_TAG = "spillover:last-move"


@dataclass
class Scenario:
    """One re-run and its verdict."""

    name: str
    description: str
    started: float = 0.0  # the layer's clock (time.monotonic) at its start and end
    ended: float = 0.0
    failures: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    # Per enforced role (its rule's name), the calls it expects the IAM engine to have checked:
    # {action: [resources each must have been checked on]} (an empty list: the action on anything).
    expected: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    # Per enforced role, what the IAM engine checked during the scenario (summarize()).
    called: dict[str, dict[str, dict]] = field(default_factory=dict)
    strict: dict[str, dict[str, int]] = field(default_factory=dict)  # {"checked": {service: n}, "refused": ...}

    @property
    def survived(self) -> bool:
        return not self.failures

    @property
    def checked(self) -> int:
        """The calls the IAM engine checked during the scenario (each call once, whatever it implied)."""
        return sum(entry["calls"] for summary in self.called.values() for entry in summary.values())

    def expect(self, role: str, action: str, resources: Iterable[str] = ()) -> None:
        self.expected.setdefault(role, {}).setdefault(action, []).extend(resources)

    def line(self) -> str:
        state = "survived" if self.survived else "FAILED: " + "; ".join(self.failures)
        return f"scenario {self.name}: checked {self.checked} calls, {state}"


def summarize(log: Iterable[Checked], started: float, ended: float) -> dict[str, dict]:
    """What the IAM engine checked between ``started`` and ``ended``, per action checked: ``calls`` (requests of
    that action), ``implied`` (checks another call implied: iam:PassRole, tag-on-create), ``denied``, the resources
    (sorted) and whether any check of it fell back to the action alone (``action_level``)."""
    summary: dict[str, dict] = {}
    for check in log:
        if not started <= check.at <= ended:
            continue
        entry = summary.setdefault(
            check.action, {"calls": 0, "implied": 0, "denied": 0, "resources": set(), "action_level": False}
        )
        if check.call == check.action:
            entry["calls"] += 1
        else:
            entry["implied"] += 1
        entry["denied"] += not check.allowed
        entry["resources"].update(check.resources)
        entry["action_level"] = entry["action_level"] or not check.derived
    return {action: {**entry, "resources": sorted(entry["resources"])} for action, entry in sorted(summary.items())}


def denials(summary: Mapping[str, dict]) -> list[str]:
    return [f"{action} ({entry['denied']}x)" for action, entry in summary.items() if entry["denied"]]


def missing(summary: Mapping[str, dict], expected: Mapping[str, list[str]]) -> list[str]:
    """The expected checks the summary lacks: an action never checked, or not on each of its resources."""
    problems = []
    for action, resources in expected.items():
        entry = summary.get(action)
        if entry is None:
            problems.append(f"{action} was never checked")
            continue
        if entry["action_level"] and resources:
            continue  # checked on the action alone: no resource to compare
        absent = [resource for resource in resources if resource not in entry["resources"]]
        if absent:
            problems.append(f"{action} was not checked on {', '.join(absent)}")
    return problems


def describe(summary: Mapping[str, dict], actions: Iterable[str]) -> list[str]:
    """One line per action of ``actions`` that was checked: how often, on what, and that the policy allowed it."""
    lines = []
    for action in actions:
        entry = summary.get(action)
        if entry is None:
            continue
        how = "on the action alone" if entry["action_level"] else "on " + ", ".join(entry["resources"])
        times = entry["calls"] or entry["implied"]
        verdict = f"{entry['denied']} denied" if entry["denied"] else "allowed"
        lines.append(f"{action} checked {times}x {how}: {verdict}")
    return lines


def strict_delta(before: Mapping[str, Mapping[str, int]], after: Mapping[str, Mapping[str, int]]) -> dict:
    """The strict layer's counts of a scenario: ``after`` less ``before``, per service, zeros left out."""
    delta: dict[str, dict[str, int]] = {}
    for kind in ("checked", "refused"):
        counts = {
            service: after.get(kind, {}).get(service, 0) - before.get(kind, {}).get(service, 0)
            for service in after.get(kind, {})
        }
        delta[kind] = {service: count for service, count in sorted(counts.items()) if count}
    return delta


def listener_weights(listener: Mapping, lambda_group: str, ecs_group: str) -> dict[str, int] | None:
    """``{"lambda": weight, "ecs": weight}`` of a listener whose default action is the weighted forward to the two
    groups; ``None`` for any other listener (a redirect)."""
    forward = next((action for action in listener.get("DefaultActions", []) if action.get("Type") == "forward"), None)
    if forward is None:
        return None
    groups = forward.get("ForwardConfig", {}).get("TargetGroups") or [
        {"TargetGroupArn": forward.get("TargetGroupArn"), "Weight": 1}
    ]
    weights = {group["TargetGroupArn"]: int(group.get("Weight", 1)) for group in groups}
    if set(weights) != {lambda_group, ecs_group}:
        return None
    return {"lambda": weights[lambda_group], "ecs": weights[ecs_group]}


def redirect_of(listener: Mapping) -> dict | None:
    """The RedirectConfig of a listener whose default action redirects, else ``None``."""
    actions = listener.get("DefaultActions", [])
    return actions[0].get("RedirectConfig") if len(actions) == 1 and actions[0].get("Type") == "redirect" else None


def weight_problems(
    listeners: Iterable[Mapping], lambda_group: str, ecs_group: str, want: Mapping[str, int], when: str
) -> list[str]:
    """Every forwarding listener must have ``want``; there must be one at least."""
    problems = []
    forwarding = 0
    for listener in listeners:
        weights = listener_weights(listener, lambda_group, ecs_group)
        if weights is None:
            continue
        forwarding += 1
        if weights != dict(want):
            problems.append(f"{when}, listener {listener['Port']} has {weights}, not {dict(want)}")
    if not forwarding:
        problems.append(f"{when}, no listener forwards to the two target groups")
    return problems


def self_signed_certificate(domain: str, days: int = 30) -> tuple[bytes, bytes]:
    """A certificate for ``domain`` and its key, PEM, as a user would import into ACM (imported: ISSUED at once)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = _datetime.datetime.now(_datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _datetime.timedelta(days=1))
        .not_valid_after(now + _datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return (
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ),
    )


def changed_app(source, dest):
    """A copy of the app in ``source`` at ``dest`` with one file changed (a line appended to its first module):
    new code for the zip and the image, the same requirements (the app's lock is not resolved again)."""
    import shutil

    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    module = sorted(dest.glob("*.py"))[0]
    module.write_text(module.read_text() + "\n# Changed by make aws-quirks: new code, same requirements.\n")
    return module
