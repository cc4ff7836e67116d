"""Run one of the infrastructure roles (network, ecr_push, lambda_function, ecs_service) through Ansible.

``apply_role`` runs tests/integration/playbooks/infra_role.yml, which includes the role with the given variables
against an AWS endpoint, and returns the play recap of localhost and the role's output facts (``<role>__*``).
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.support.ansible_run import ROOT, run_playbook

PLAYBOOK = ROOT / "tests" / "integration" / "playbooks" / "infra_role.yml"
RECAP = re.compile(r"^localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@dataclass
class RoleRun:
    ok: int
    changed: int
    facts: dict
    output: str


def apply_role(role: str, endpoint: str, role_vars: dict, *, check: bool = False, env: dict | None = None) -> RoleRun:
    """Apply ``role`` with ``role_vars``; fails (AssertionError with the output's tail) unless the play succeeded."""
    with tempfile.TemporaryDirectory() as tmp:
        facts_file = Path(tmp) / "facts.json"
        completed = run_playbook(
            PLAYBOOK,
            inventory="localhost,",
            extra_vars={
                "infra_role": role,
                "endpoint": endpoint,
                "infra_facts_file": str(facts_file),
                **role_vars,
            },
            check=check,
            env=env,
        )
        output = completed.stdout + completed.stderr
        recap = RECAP.search(completed.stdout)
        assert completed.returncode == 0 and recap, output[-6000:]
        ok, changed, unreachable, failed = (int(value) for value in recap.groups())
        assert unreachable == failed == 0, output[-6000:]
        facts = json.loads(facts_file.read_text()) if facts_file.exists() else {}
        return RoleRun(ok=ok, changed=changed, facts=facts, output=output)
