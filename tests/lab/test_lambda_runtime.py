"""The lab's Lambda execution environments see what a Lambda runtime's do: the function's code, then the runtime's
own packages (the AWS SDK) and the standard library; not the site-packages of the Python that runs the lab."""

from __future__ import annotations

import importlib.metadata

import pytest

from lab.lambda_runtime import LambdaRuntime, runtime_packages
from lab.stack import Function

HANDLERS = {
    # bottle is in the lab's own environment, not in this code: on AWS the import fails.
    "needs_bottle.py": "import bottle\n\ndef handler(event, context):\n    return {}\n",
    "uses_the_sdk.py": (
        "import os, sys\nimport boto3\n\ndef handler(event, context):\n"
        "    return {'boto3': boto3.__version__, 'from': boto3.__file__, 'path': sys.path, 'cwd': os.getcwd()}\n"
    ),
}


def function(handler: str) -> Function:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:isolated"
    return Function("isolated", arn, handler, "python3.12", 10, {}, 1, "")


@pytest.mark.integration
def test_a_function_imports_its_code_and_the_runtimes_sdk_but_nothing_of_the_labs_environment(tmp_path):
    importlib.metadata.version("bottle")  # the lab's environment has it, so the failure below is the isolation's
    code = tmp_path / "code"
    code.mkdir()
    for name, text in HANDLERS.items():
        (code / name).write_text(text)

    failing = LambdaRuntime(function("needs_bottle.handler"), code, tmp_path / "failing.log")
    try:
        result = failing.invoke({})
    finally:
        failing.close()
    assert (result.outcome, result.error) == (
        "error",
        "Runtime.ImportModuleError: ModuleNotFoundError: No module named 'bottle'",
    )

    working = LambdaRuntime(function("uses_the_sdk.handler"), code, tmp_path / "working.log")
    try:
        result = working.invoke({})
        runtime_dir = working.environment["PYTHONPATH"]
    finally:
        working.close()
    assert result.outcome == "ok", result.error
    answer = result.payload
    assert answer["boto3"] == importlib.metadata.version("boto3")
    assert answer["from"].startswith(runtime_dir)
    # The code first, as /var/task; then the runtime's packages; no site-packages at all.
    assert answer["path"][:2] == [str(code), runtime_dir] and answer["cwd"] == str(code)
    assert not [entry for entry in answer["path"] if "site-packages" in entry]


def test_the_runtimes_packages_are_the_sdk_and_what_it_requires(tmp_path):
    found = {path.name for path in runtime_packages(tmp_path).iterdir() if not path.name.endswith(".dist-info")}
    assert {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py"} <= found
    assert "bottle.py" not in found and "flask" not in found
