"""spillover.lambda_ecs.lambda_zip run by Ansible for real, with pip vendoring requirements/app.txt.

The vendored set is cached in build/test-cache/lambda-zip (keyed by the requirement set), so pip reaches the
package index only on the first run of a fresh clone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.ansible_run import ROOT, run_module
from tests.support.app_support import APP_DIR, APP_EXTRA_FILES, ENTRY_DIR, ZIP_CACHE
from tests.support.scaler_stack import SCALER_DIR, SCALER_EXTRA_FILES

pytestmark = pytest.mark.integration

# The demo app's own requirements and those of the collection's entry that serves a WSGI app (as lambda_function packs).
REQUIREMENTS = [str(APP_DIR / "requirements.txt"), str(ENTRY_DIR / "requirements-wsgi.txt")]
# What the lambda_function role packs beside the app: the entry and the EMF emitter it imports.
ENTRY = [str(path) for path in APP_EXTRA_FILES]

# Run as python -I -S with the zip (a path to it) first on sys.path, APP_CALLABLE/APP_INTERFACE in the environment,
# as the function's handler spillover_entry.handler; argv: zip path, request path, modules that must come from the zip.
SERVE_FROM_ZIP_ONLY = """
import importlib, json, sys
zip_path, path, modules = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
sys.path.insert(0, zip_path)
import spillover_entry
event = {
    "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/a/b"}},
    "httpMethod": "GET", "path": path, "queryStringParameters": {}, "headers": {"host": "alb"},
    "isBase64Encoded": False, "body": "",
}
response = spillover_entry.handler(event, None)
for module in ["spillover_entry", *modules]:
    assert importlib.import_module(module).__file__.startswith(zip_path), module
print("RESPONSE " + json.dumps(response))
"""


def zip_args(src, dest, **extra):
    return {
        "src": str(src),
        "dest": str(dest),
        "requirements_file": REQUIREMENTS,
        "extra_files": ENTRY,
        "cache_dir": str(ZIP_CACHE),
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
    assert "spillover_entry.py" in built["diff"]["after"]["entries"]
    assert built["diff"]["before"] == {}
    assert "app.py" in built["diff"]["after"]["entries"]
    with zipfile.ZipFile(dest) as archive:
        listed = archive.namelist()
    assert built["entries"] == len(listed)
    assert {"app.py", "spillover_entry.py", "spillover_metrics.py", "bottle.py", "apig_wsgi/__init__.py"} <= set(listed)
    assert not {"Dockerfile", "requirements.txt", ".dockerignore"} & set(listed)
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
        assert archive.namelist() == ["forward_action.py", "scaler.py", "spillover_metrics.py", "target_health.py"]
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


def serve_from_zip(dest, tmp_path, path, modules, callable_="app:app", interface="wsgi") -> tuple[dict, list[str]]:
    """Unpack the zip as Lambda does (/var/task) and serve one ALB event through spillover_entry.handler in a fresh
    interpreter with -I -S: no site-packages, no user site, no PYTHONPATH, so the app's requirements and the entry's
    can only come from the zip."""
    task = tmp_path / "task"
    with zipfile.ZipFile(dest) as archive:
        archive.extractall(task)
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", SERVE_FROM_ZIP_ONLY, str(task), path, ",".join(modules)],
        capture_output=True,
        text=True,
        cwd=task,
        env={"PATH": os.environ["PATH"], "APP_CALLABLE": callable_, "APP_INTERFACE": interface},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    return json.loads(next(line for line in lines if line.startswith("RESPONSE "))[len("RESPONSE ") :]), lines


def test_zip_alone_imports_and_serves_an_alb_event_in_a_fresh_interpreter(tmp_path):
    dest = tmp_path / "app.zip"
    assert not run_module("lambda_zip", zip_args(APP_DIR, dest), endpoint="unused").get("failed")
    response, lines = serve_from_zip(dest, tmp_path, "/pong", ["app", "apig_wsgi", "bottle", "spillover_metrics"])
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert json.loads(response["body"]) == {"message": "ping"}
    log = json.loads(lines[0])
    assert (log["path"], log["status"]) == ("/pong", 200)
    emf = json.loads(lines[1])  # the invocation's metrics line, by the emitter packed in the zip
    assert (emf["Invocations"], emf["ColdStart"]) == (1, 1)


def test_a_fastapi_zip_gets_the_compiled_pydantic_core_of_the_lambda_platform_and_serves_from_the_zip(tmp_path):
    """FastAPI needs pydantic-core, a compiled wheel: the zip gets the manylinux x86_64 one for CPython 3.12."""
    app_dir = ROOT / "examples" / "fastapi"
    dest = tmp_path / "api.zip"
    requirements = [str(app_dir / "requirements.txt"), str(ENTRY_DIR / "requirements-asgi.txt")]
    built = run_module("lambda_zip", zip_args(app_dir, dest, requirements_file=requirements), endpoint="unused")
    assert not built.get("failed"), built
    assert {"fastapi", "pydantic_core", "mangum"} <= {name.split("==")[0] for name in built["vendored"]}
    with zipfile.ZipFile(dest) as archive:
        compiled = [name for name in archive.namelist() if name.endswith(".so")]
    assert any(name.startswith("pydantic_core/") and "cpython-312-x86_64-linux-gnu" in name for name in compiled)
    # Larger than the demo app's (under Lambda's 50 MB zipped / 250 MB unzipped, which lambda_zip enforces).
    print(f"FastAPI example zip: {built['size'] / 1e6:.1f} MB, {built['entries']} entries")
    assert 1024 * 1024 < built["size"] < 50 * 1024 * 1024

    response, _ = serve_from_zip(
        dest, tmp_path, "/items/1", ["main", "fastapi", "pydantic_core", "mangum"], "main:api", "asgi"
    )
    assert (response["statusCode"], json.loads(response["body"])["name"]) == (200, "kettle")


def test_one_lock_gives_the_zip_and_the_image_the_same_versions_and_the_zip_vendors_exactly_its_share(tmp_path):
    """app_lock with the real pip and index: FastAPI's lock for an x86_64 function and an arm64 image."""
    app_dir = ROOT / "examples" / "fastapi"
    lock_args = {
        "requirements_file": [str(app_dir / "requirements.txt")],
        "lambda": {"requirements_file": [str(ENTRY_DIR / "requirements-asgi.txt")], "architecture": "x86_64"},
        "image": {
            "requirements_file": [str(ROOT / "files" / "container" / "requirements.txt")],
            "platform": "linux/arm64",
        },
        "cache_dir": str(tmp_path / "locks"),
    }
    locked = run_module("app_lock", lock_args, endpoint="unused")
    assert not locked.get("failed"), locked
    assert locked["changed"] and run_module("app_lock", lock_args, endpoint="unused")["changed"] is False
    shared = set(locked["lambda"]["packages"]) & set(locked["image"]["packages"])
    assert {"fastapi", "pydantic-core", "starlette"} <= shared
    assert "granian" not in locked["lambda"]["packages"] and "mangum" not in locked["image"]["packages"]
    assert all(locked["lambda"]["packages"][name] == locked["image"]["packages"][name] for name in shared)
    # The same pydantic-core version, a wheel of each platform: two hashes in the lock, one in each share.
    lock = (tmp_path / "locks").glob("*/requirements.lock")
    (text,) = [path.read_text() for path in lock]
    entry = text.split(f"pydantic-core=={locked['packages']['pydantic-core']} \\\n", 1)[1].split("\n    #", 1)[0]
    assert entry.count("--hash=sha256:") == 2

    dest = tmp_path / "api.zip"
    args = {"src": str(app_dir), "dest": str(dest), "requirements_lock": locked["lambda"]["requirements"]}
    built = run_module(
        "lambda_zip", {**args, "extra_files": ENTRY, "cache_dir": str(tmp_path / "zip")}, endpoint="unused"
    )
    assert not built.get("failed"), built
    vendored = dict(item.split("==") for item in built["vendored"])
    assert {app_lock_name(name): version for name, version in vendored.items()} == locked["lambda"]["packages"]


def app_lock_name(name: str) -> str:
    """A dist-info directory's name as the lock names the distribution (PEP 503)."""
    return name.replace("_", "-").replace(".", "-").lower()


def sha256_of(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def lock_and_zip(app_dir, tmp_path, requirements=(), cache="locks"):
    """The app's lock (app_lock with its directory, as the spillover_app role makes it) and the zip of its Lambda
    share (as the lambda_function role builds it): ``(app_lock's result, lambda_zip's result, the zip's path)``."""
    lock_args = {
        "src": str(app_dir),
        "requirements_file": [str(path) for path in requirements],
        "lambda": {"requirements_file": [str(ENTRY_DIR / "requirements-wsgi.txt")]},
        "image": {"requirements_file": [str(ROOT / "files" / "container" / "requirements.txt")]},
        "cache_dir": str(tmp_path / cache),
    }
    locked = run_module("app_lock", lock_args, endpoint="unused")
    assert not locked.get("failed"), locked
    dest = tmp_path / f"{app_dir.name}.zip"
    zip_args = {
        "src": str(app_dir),
        "dest": str(dest),
        "requirements_lock": locked["lambda"]["requirements"],
        "extra_files": ENTRY,
        "cache_dir": str(tmp_path / "zip"),
    }
    built = run_module("lambda_zip", zip_args, endpoint="unused")
    assert not built.get("failed"), built
    return locked, built, dest


def test_an_app_of_requirements_only_is_locked_zipped_and_served_from_its_package(tmp_path):
    """httpbin's app:app is a package of the index: the directory holds its requirements.txt and nothing else."""
    app_dir = tmp_path / "httpbin"
    app_dir.mkdir()
    (app_dir / "requirements.txt").write_text("httpbin>=0.10,<0.11\n")
    locked, _, dest = lock_and_zip(app_dir, tmp_path, [app_dir / "requirements.txt"])
    assert (locked["layout"], locked["project"]) == ("requirements", None)
    assert locked["image"]["packages"]["httpbin"] == locked["lambda"]["packages"]["httpbin"]
    with zipfile.ZipFile(dest) as archive:
        assert "httpbin/core.py" in archive.namelist() and "requirements.txt" not in archive.namelist()
    response, _ = serve_from_zip(dest, tmp_path, "/json", ["httpbin", "flask", "apig_wsgi"], "httpbin:app")
    assert (response["statusCode"], "slideshow" in json.loads(response["body"])) == (200, True)


ORDERS_PROJECT = {
    "pyproject.toml": (
        '[build-system]\nrequires = ["setuptools>=70"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "orders"\nversion = "1.4.0"\ndependencies = ["bottle>=0.13,<0.14"]\n\n'
        '[tool.setuptools.package-data]\norders = ["static/*"]\n'
    ),
    "src/orders/__init__.py": (
        "import pathlib\n\nimport bottle\n\napp = bottle.Bottle()\n\n\n"
        "@app.get('/logo')\ndef logo():\n"
        "    return (pathlib.Path(__file__).parent / 'static' / 'logo.svg').read_text()\n"
    ),
    "src/orders/static/logo.svg": "<svg/>\n",
}


def test_a_python_project_is_built_into_one_wheel_that_the_lock_holds_for_both_runtimes_and_the_zip_serves(tmp_path):
    app_dir = tmp_path / "orders"
    for relative, text in ORDERS_PROJECT.items():
        (app_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (app_dir / relative).write_text(text)
    locked, built, dest = lock_and_zip(app_dir, tmp_path)
    assert locked["layout"] == "package"
    assert (locked["project"]["name"], locked["project"]["version"]) == ("orders", "1.4.0")
    # The same wheel (one hash) in both shares, found beside each; its dependency resolved with the runtimes'.
    wheel_hash = sha256_of(locked["project"]["wheel"])
    for share in ("lambda", "image"):
        text = Path(locked[share]["requirements"]).read_text()
        assert "\n--find-links wheels\n" in text and f"orders==1.4.0 \\\n    --hash=sha256:{wheel_hash}\n" in text
        assert locked[share]["packages"]["bottle"] == locked["packages"]["bottle"]
    assert "orders==1.4.0" in built["vendored"]
    with zipfile.ZipFile(dest) as archive:
        listed = archive.namelist()
    assert {"orders/__init__.py", "orders/static/logo.svg"} <= set(listed)
    assert not {"pyproject.toml", "src/"} & set(listed)  # the package, not its sources
    # The build ran on a copy: the app's directory holds what it held.
    assert sorted(path.relative_to(app_dir).as_posix() for path in app_dir.rglob("*") if path.is_file()) == sorted(
        ORDERS_PROJECT
    )
    response, _ = serve_from_zip(dest, tmp_path, "/logo", ["orders", "bottle"], "orders:app")
    assert (response["statusCode"], response["body"]) == (200, "<svg/>\n")

    # Unchanged sources: nothing built or resolved again; another cache (another machine) builds the same bytes.
    again = run_module(
        "app_lock",
        {"src": str(app_dir), "lambda": {}, "image": {}, "cache_dir": str(tmp_path / "other")},
        endpoint="unused",
    )
    assert not again.get("failed"), again
    assert sha256_of(again["project"]["wheel"]) == wheel_hash
    assert lock_and_zip(app_dir, tmp_path)[0]["changed"] is False


def test_a_directory_with_nothing_to_deploy_is_refused_by_the_lock_and_by_the_zip(tmp_path):
    empty = tmp_path / "docs-only"
    empty.mkdir()
    (empty / "README.md").write_text("# an app, some day\n")
    locked = run_module("app_lock", {"src": str(empty), "lambda": {}, "cache_dir": str(tmp_path)}, endpoint="unused")
    assert locked["failed"] and locked["problem"] == "src"
    assert f"src {empty} holds nothing to package: no Python file" in locked["msg"]
    zipped = run_module("lambda_zip", {"src": str(empty), "dest": str(tmp_path / "x.zip")}, endpoint="unused")
    assert zipped["failed"] and "holds nothing to package" in zipped["msg"]
