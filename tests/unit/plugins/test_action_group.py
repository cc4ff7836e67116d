"""meta/runtime.yml: every module of the collection that calls AWS is in its action group, so that the one
``module_defaults: group/spillover.lambda_ecs.aws`` block of a play (the connection: endpoint, region, the assumed
role of the stack's account) reaches it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
UTILS = re.compile(r"^from ansible_collections\.spillover\.lambda_ecs\.plugins\.module_utils\.(\w+) import", re.M)


def builds_an_aws_module(path: Path) -> bool:
    """Whether the module constructs AnsibleAWSModule itself or through one of the collection's module_utils."""
    text = path.read_text()
    utils = (ROOT / "plugins" / "module_utils" / f"{name}.py" for name in UTILS.findall(text))
    return "AnsibleAWSModule(" in text or any("AnsibleAWSModule(" in util.read_text() for util in utils)


def test_every_module_built_on_ansible_aws_module_is_in_the_aws_action_group():
    calls_aws = {path.stem for path in (ROOT / "plugins" / "modules").glob("*.py") if builds_an_aws_module(path)}
    group = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())["action_groups"]["aws"]
    listed = {entry for entry in group if isinstance(entry, str)}
    assert {"alb_path_rules", "elb_target_group_attributes"} <= calls_aws
    assert "lambda_zip" not in calls_aws  # builds a zip, calls no AWS
    assert calls_aws - listed == set()
    assert listed - calls_aws == set()  # and nothing else
