"""Run this collection's modules and playbooks for real, through ansible-playbook.

The collection is visible to Ansible through the committed link
``collections/ansible_collections/spillover/lambda_ecs`` -> repository root (the collections path of the committed
ansible.cfg and of the Makefile), so what runs is the working tree, not an installed copy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.local_aws import CREDENTIALS, REGION

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / "collections"
VENV_BIN = Path(sys.executable).parent


def link_collection() -> Path:
    target = COLLECTIONS / "ansible_collections" / "spillover" / "lambda_ecs"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_symlink():
        target.symlink_to(ROOT, target_is_directory=True)
    return COLLECTIONS


def ansible_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    link_collection()
    env = {
        **os.environ,
        **CREDENTIALS,
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.update(extra or {})
    return env


# What a new cryptography makes ansible-core print on stderr at every start (a CryptographyDeprecationWarning), in
# its shape: a warning of Python's warnings module over several lines, braces and text in them.
STARTUP_WARNING = (
    "sitecustomize.py:8: CryptographyDeprecationWarning: DSA is deprecated and support will be removed in a future "
    'release.\n  {"from": "cryptography.hazmat.primitives.asymmetric.dsa import ("}\n  warnings.warn(\n'
)
_WARNING_SITECUSTOMIZE = """\
import warnings


class CryptographyDeprecationWarning(UserWarning):
    pass


warnings.warn(
    "DSA is deprecated and support will be removed in a future release.\\n"
    '  {"from": "cryptography.hazmat.primitives.asymmetric.dsa import ("}',
    CryptographyDeprecationWarning,
)
"""


def warning_python_path(directory: Path) -> str:
    """A PYTHONPATH (``directory``, then the caller's own) whose sitecustomize makes every Python started with it
    print ``STARTUP_WARNING`` on stderr as it starts, as a new cryptography makes ansible-playbook do."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sitecustomize.py").write_text(_WARNING_SITECUSTOMIZE)
    return os.pathsep.join(filter(None, [str(directory), os.environ.get("PYTHONPATH")]))


def _run_task(
    task: dict, *, endpoint: str, region: str, check: bool, diff: bool, variables: dict, saved: str = "result"
):
    """Run one task on localhost against ``endpoint`` (errors ignored) and return what ``saved`` holds after it."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        playbook = [
            {
                "hosts": "localhost",
                "gather_facts": False,
                "connection": "local",
                "vars": {"ansible_python_interpreter": sys.executable, **variables},
                "module_defaults": {"group/spillover.lambda_ecs.aws": {"endpoint_url": endpoint, "region": region}},
                "tasks": [
                    {"name": "Run the module", **task, "register": "result", "ignore_errors": True},
                    {
                        "name": "Save the result",
                        "ansible.builtin.copy": {"content": f"{{{{ {saved} | to_json }}}}", "dest": str(out)},
                        "check_mode": False,
                        "diff": False,
                    },
                ],
            }
        ]
        play_path = Path(tmp) / "play.yml"
        play_path.write_text(json.dumps(playbook))
        command = [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(play_path)]
        if check:
            command.append("--check")
        if diff:
            command.append("--diff")
        completed = subprocess.run(command, env=ansible_env(), capture_output=True, text=True, timeout=600)
        if not out.exists():
            raise AssertionError(f"ansible-playbook did not run the task:\n{completed.stdout}\n{completed.stderr}")
        return json.loads(out.read_text())


def _qualified(module: str) -> str:
    if module.startswith(("spillover.", "amazon.", "community.", "ansible.")):
        return module
    return f"spillover.lambda_ecs.{module}"


def run_module(
    module: str,
    args: dict,
    *,
    endpoint: str,
    check: bool = False,
    diff: bool = False,
    region: str = REGION,
) -> dict:
    """Run one module task on localhost against ``endpoint`` and return its registered result.

    The result always comes back (the task ignores errors); assert on ``failed``/``msg`` yourself.
    """
    task = {_qualified(module): args}
    return _run_task(task, endpoint=endpoint, region=region, check=check, diff=diff, variables={})


def run_module_each(module: str, runs: list[dict], *, endpoint: str, region: str = REGION) -> list[dict]:
    """Run the module once per argument dict, in one ansible-playbook (a loop), and return each result."""
    keys = sorted({key for args in runs for key in args})
    task = {
        _qualified(module): {key: f"{{{{ item['{key}'] | default(omit) }}}}" for key in keys},
        "loop": "{{ runs }}",
    }
    variables = {"runs": runs}
    return _run_task(
        task, endpoint=endpoint, region=region, check=False, diff=False, variables=variables, saved="result.results"
    )


def run_playbook(
    playbook: str | Path,
    *,
    inventory: str | Path,
    extra_vars: dict | None = None,
    check: bool = False,
    env: dict[str, str] | None = None,
    timeout: int = 1200,
) -> subprocess.CompletedProcess:
    command = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    if check:
        command.append("--check")
    return subprocess.run(command, env=ansible_env(env), capture_output=True, text=True, timeout=timeout, cwd=ROOT)
