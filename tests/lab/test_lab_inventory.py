"""The lab reads its inventory from ansible-inventory's stdout, whatever Python prints on stderr."""

from __future__ import annotations

import subprocess

import pytest

from lab import cli
from tests.support.ansible_run import STARTUP_WARNING, warning_python_path

pytestmark = pytest.mark.integration


def test_the_inventory_is_read_from_stdout_while_python_warns_on_stderr(tmp_path, monkeypatch):
    """ansible-inventory --list started by a Python that warns at start (as a new cryptography makes it do): the
    lab parses its stdout, the JSON document, and the warning is still printed, on stderr (not silenced)."""
    monkeypatch.setenv("PYTHONPATH", warning_python_path(tmp_path / "site"))
    completed = []
    run = subprocess.run

    def recorded(*args, **kwargs):
        completed.append(run(*args, **kwargs))
        return completed[-1]

    monkeypatch.setattr(cli.subprocess, "run", recorded)
    assert cli.inventory_host("lab")["spillover_stack_name"] == "spillover-lab"
    assert cli.inventory_stack_name("lab-aws") == "spillover-lab-aws"
    assert [STARTUP_WARNING in done.stderr for done in completed] == [True, True]
