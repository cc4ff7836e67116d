"""Least-privilege checks of the roles' IAM policies: parliament's findings, and what a policy grants on what."""

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
