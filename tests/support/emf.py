"""AWS's embedded metric format (EMF), as checks for the lines the collection's Lambda code writes.

The specification's rules ("Specification: Embedded metric format", CloudWatch user guide) are transcribed once, in
lab/emf.py (``EMF_SCHEMA`` and ``target_member_problems``), where the lab's extraction of the app's metrics applies
them as CloudWatch Logs does; the tests of the app's emitter (files/lambda_entry/spillover_metrics.py) and of the
scaler's decision line use the same.
"""

from __future__ import annotations

import json

from lab.emf import EMF_SCHEMA, target_member_problems

__all__ = ["EMF_SCHEMA", "emf_documents", "target_member_problems"]


def emf_documents(output: str) -> list[dict]:
    """The EMF documents among the JSON lines of ``output``."""
    documents = [json.loads(line) for line in output.splitlines()]
    return [document for document in documents if "_aws" in document]
