"""Least-privilege checks of the collection's IAM policies: parliament's findings, and what a policy grants on what.

``parliament_findings(policy)`` is parliament's findings less one false positive of parliament itself. AWS lists both
an ALB and an NLB resource type for some ELB actions (``listener/app*`` and ``listener/net*`` for ModifyListener and
DeleteListener, ``listener-rule/...`` for ModifyRule): either one, depending on the load balancer. Parliament requires
a resource of *each* type, so the exact ALB ARN always draws a RESOURCE_MISMATCH naming only the NLB format.
Widening the ARN (``listener/*/...``) would silence it; the exact ARN is the least privilege.
"""

from __future__ import annotations

import json
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament imports the deprecated pkg_resources
    import parliament


def findings(policy: dict) -> list[tuple[str, object]]:
    """``(issue, detail)`` of every parliament finding on ``policy``."""
    return [
        (finding.issue, finding.detail) for finding in parliament.analyze_policy_string(json.dumps(policy)).findings
    ]


def _nlb_alternative_only(finding) -> bool:
    details = finding.detail if isinstance(finding.detail, list) else []
    return (
        finding.issue == "RESOURCE_MISMATCH"
        and bool(details)
        and all(
            item["action"].startswith("elasticloadbalancing:") and "/net/" in item["required_format"]
            for item in details
        )
    )


def parliament_findings(policy: dict, community: bool = True) -> list:
    """Parliament's findings of ``policy`` (with its community auditors unless ``community`` is false), less the
    NLB-alternative false positive; everything else counts."""
    analyzed = parliament.analyze_policy_string(json.dumps(policy), include_community_auditors=community)
    return [finding for finding in analyzed.findings if not _nlb_alternative_only(finding)]


def grants(policy: dict) -> dict[str, set[str]]:
    """``{action: resources}`` of a policy of Allow statements with no wildcard action (asserted)."""
    granted: dict[str, set[str]] = {}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        resources = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
        for action in actions:
            assert "*" not in action
            granted.setdefault(action, set()).update(resources)
    return granted
