"""meta/runtime.yml: every module of the collection that calls AWS is in its action group, so that the one
``module_defaults: group/spillover.lambda_ecs.aws`` block of a play (the connection: endpoint, region, the assumed
role of the stack's account) reaches it."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]


def test_every_module_built_on_ansible_aws_module_is_in_the_aws_action_group():
    calls_aws = {
        path.stem for path in (ROOT / "plugins" / "modules").glob("*.py") if "AnsibleAWSModule(" in path.read_text()
    }
    group = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())["action_groups"]["aws"]
    listed = {entry for entry in group if isinstance(entry, str)}
    assert "alb_path_rules" in calls_aws
    assert calls_aws - listed == set()
    assert listed - calls_aws == set()  # and nothing else
