"""spillover.lambda_ecs.lambda_zip run by Ansible for real, with pip vendoring requirements/app.txt.

The vendored set is cached in build/test-cache/lambda-zip (keyed by the requirement set), so pip reaches the
package index only on the first run of a fresh clone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.support.ansible_run import ROOT, run_module
from tests.support.app_support import APP_DIR, APP_EXTRA_FILES, ZIP_CACHE
from tests.support.scaler_stack import SCALER_DIR, SCALER_EXTRA_FILES

pytestmark = pytest.mark.integration

REQUIREMENTS = ROOT / "requirements" / "app.txt"

SERVE_FROM_ZIP_ONLY = """
import json, sys
zip_path = sys.argv[1]
sys.path.insert(0, zip_path)
import app, apig_wsgi, bottle, metrics
for module in (app, apig_wsgi, bottle, metrics):
    assert module.__file__.startswith(zip_path), module.__file__
event = {
    "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/a/b"}},
    "httpMethod": "GET", "path": "/pong", "queryStringParameters": {}, "headers": {"host": "alb"},
    "isBase64Encoded": False, "body": "",
}
print("RESPONSE " + json.dumps(app.lambda_handler(event, None)))
"""


def zip_args(src, dest, **extra):
    """The app's build as roles/lambda_function runs it: the sources, requirements/app.txt, APP_EXTRA_FILES."""
    return {
        "src": str(src),
        "dest": str(dest),
        "requirements_file": str(REQUIREMENTS),
        "cache_dir": str(ZIP_CACHE),
        "extra_files": [str(path) for path in APP_EXTRA_FILES],
        **extra,
    }


def test_build_check_mode_idempotence_and_diff(tmp_path):
    dest = tmp_path / "out" / "app.zip"  # its parent does not exist yet

    checked = run_module("lambda_zip", zip_args(APP_DIR, dest), endpoint="unused", check=True)
    assert not checked.get("failed"), checked
    assert checked["changed"] is True
    assert not dest.exists()

    built = run_module("lambda_zip", zip_args(APP_DIR, dest), endpoint="unused", diff=True)
    assert not built.get("failed"), built
    data = dest.read_bytes()
    assert built["changed"] is True
    assert built["sha256"] == checked["sha256"] == hashlib.sha256(data).hexdigest()
    assert base64.b64decode(built["code_sha256"]) == hashlib.sha256(data).digest()
    assert built["size"] == len(data) < 1024 * 1024  # the Lambda zip stays under 1 MB
    assert {name.split("==")[0] for name in built["vendored"]} == {"bottle", "apig_wsgi"}
    assert built["diff"]["before"] == {}
    assert "app.py" in built["diff"]["after"]["entries"]
    with zipfile.ZipFile(dest) as archive:
        listed = archive.namelist()
    assert built["entries"] == len(listed)
    assert {"app.py", "metrics.py", "bottle.py", "apig_wsgi/__init__.py"} <= set(listed)
    assert not {"Dockerfile", "serve.py", "requirements.txt", ".dockerignore"} & set(listed)
    assert not [name for name in listed if name.startswith("bin/") or name.endswith(("RECORD", ".pyc"))]

    inode, mtime = dest.stat().st_ino, dest.stat().st_mtime_ns
    again = run_module("lambda_zip", zip_args(APP_DIR, dest), endpoint="unused", diff=True)
    assert again["changed"] is False
    assert again["sha256"] == built["sha256"]
    assert again["diff"]["before"] == again["diff"]["after"]
    assert (dest.stat().st_ino, dest.stat().st_mtime_ns) == (inode, mtime)  # not rewritten

    # Another build of the same sources elsewhere: the same bytes.
    other = tmp_path / "other.zip"
    assert run_module("lambda_zip", zip_args(APP_DIR, other), endpoint="unused")["sha256"] == built["sha256"]
    assert other.read_bytes() == data


def test_changed_source_changes_the_zip_and_check_mode_leaves_the_old_one(tmp_path):
    src = tmp_path / "app"
    shutil.copytree(APP_DIR, src, ignore=shutil.ignore_patterns("__pycache__"))
    dest = tmp_path / "app.zip"
    first = run_module("lambda_zip", zip_args(src, dest), endpoint="unused")
    assert first["changed"] is True
    old = dest.read_bytes()

    with (src / "app.py").open("a") as handle:
        handle.write("\n# a change\n")
    checked = run_module("lambda_zip", zip_args(src, dest), endpoint="unused", check=True, diff=True)

    assert checked["changed"] is True
    assert checked["sha256"] != first["sha256"]
    assert dest.read_bytes() == old  # check mode wrote nothing
    before, after = checked["diff"]["before"]["entries"], checked["diff"]["after"]["entries"]
    assert {name for name in after if before.get(name) != after[name]} == {"app.py"}


def test_the_scaler_zip_with_its_extra_files_is_byte_identical_on_a_re_run(tmp_path):
    """The scaler's build as roles/scaler runs it: files/scaler plus the collection's codec, health count and EMF
    emitter."""
    args = {"src": str(SCALER_DIR), "dest": str(tmp_path / "scaler.zip"), "cache_dir": str(ZIP_CACHE)}
    args["extra_files"] = [str(path) for path in SCALER_EXTRA_FILES]
    built = run_module("lambda_zip", args, endpoint="unused")
    assert not built.get("failed"), built
    data = (tmp_path / "scaler.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "scaler.zip") as archive:
        assert archive.namelist() == ["forward_action.py", "metrics.py", "scaler.py", "target_health.py"]
        for path in SCALER_EXTRA_FILES:
            assert archive.read(path.name) == path.read_bytes()

    again = run_module("lambda_zip", args, endpoint="unused", diff=True)
    assert (again["changed"], again["sha256"]) == (False, built["sha256"])
    assert (tmp_path / "scaler.zip").read_bytes() == data

    elsewhere = run_module("lambda_zip", {**args, "dest": str(tmp_path / "again" / "scaler.zip")}, endpoint="unused")
    assert elsewhere["sha256"] == built["sha256"]
    assert (tmp_path / "again" / "scaler.zip").read_bytes() == data


def test_refusals_are_clear(tmp_path):
    missing = run_module("lambda_zip", zip_args(tmp_path / "absent", tmp_path / "x.zip"), endpoint="unused")
    assert missing["failed"] is True
    assert "is not a directory" in missing["msg"]

    both = run_module(
        "lambda_zip", {**zip_args(APP_DIR, tmp_path / "x.zip"), "requirements": ["bottle"]}, endpoint="unused"
    )
    assert both["failed"] is True
    assert "mutually exclusive" in both["msg"]
    assert not (tmp_path / "x.zip").exists()

    clash = run_module(
        "lambda_zip",
        {**zip_args(APP_DIR, tmp_path / "x.zip"), "extra_files": [str(APP_DIR / "app.py")]},
        endpoint="unused",
    )
    assert clash["failed"] is True
    assert (
        clash["msg"]
        == "app.py is in extra_files and also in src or the vendored requirements; rename or exclude one of them"
    )
    assert not (tmp_path / "x.zip").exists()


def test_zip_alone_imports_and_serves_an_alb_event_in_a_fresh_interpreter(tmp_path):
    dest = tmp_path / "app.zip"
    assert not run_module("lambda_zip", zip_args(APP_DIR, dest), endpoint="unused").get("failed")

    # -I -S: no site-packages, no user site, no PYTHONPATH: bottle and apig_wsgi can only come from the zip.
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", SERVE_FROM_ZIP_ONLY, str(dest)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    response = json.loads(next(line for line in lines if line.startswith("RESPONSE "))[len("RESPONSE ") :])
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert json.loads(response["body"]) == {"message": "ping"}
    log = json.loads(lines[0])
    assert (log["path"], log["status"]) == ("/pong", 200)
    emf = json.loads(lines[1])  # the invocation's metrics line, by the metrics module packed in the zip
    assert (emf["Invocations"], emf["ColdStart"]) == (1, 1)
