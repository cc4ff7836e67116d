# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One resolution of an app's requirements for both runtimes: a lock that the Lambda zip and the image install.

The versions are resolved once, by pip, for the function's platform (CPython ``python_version``, manylinux,
``architecture``) from the app's requirements and every runtime's own (the Lambda entry's, the container
server's). Each runtime's share is then read with pip again, held to exactly those versions, for its own platform:
that gives its closure (the zip does not carry the container's server) and the hashes of its wheels. The lock
lists every package once, ``name==version`` with the hashes of all its wheels, and the runtimes that need it.

The collection's own runtime requirements (``requirements-wsgi.txt`` and the like) are held at the versions of the
lock file beside them (``requirements-wsgi.lock``, written by ``make lock``): the versions the collection is
tested with. The app's requirements are resolved as they are written: pin them, or hash them, to hold them too.

An app directory that is a Python project (``pyproject.toml`` or ``setup.py``, :func:`lambda_zip.app_project`) is built
once into a wheel (``pip wheel --no-deps``, on a copy of its sources, at the zip's fixed time), which must be pure
Python, and locked with its dependencies like any package: the lock holds it in ``wheels/`` beside itself and its
shares find it there (``--find-links wheels``, relative to the share), so the zip and the image install the same wheel.

A lock is written into the cache directory under a key of everything that decides it (the requirement files'
bytes, the targets, the pinned versions, pip's options), so an unchanged app resolves nothing and rebuilds
nothing. pip's JSON report is read from its standard output only; its warnings go to standard error, for the log.
"""

import hashlib
import json
import os
import re
import shutil

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_zip import ZIP_EPOCH
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_zip import LambdaZipError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_zip import app_layout
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_zip import cache_entry
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_zip import collect_files
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_zip import platform_options

LOCK_FORMAT = 2
LOCK_NAME = "requirements.lock"
# Where a lock keeps the wheel of the app's own project, beside its shares (which name it relative to themselves).
WHEELS = "wheels"
# Not a project's sources: what tools and builds leave in it (anywhere), and a build's outputs (at its root).
PROJECT_LEFTOVERS = (".*", "*.egg-info")
PROJECT_OUTPUTS = ("build", "dist")
PIP_ENVIRONMENT = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "PYTHONDONTWRITEBYTECODE": "1"}
# An image's platform (OCI) and the Lambda architecture whose wheels it takes.
PLATFORM_ARCHITECTURES = {"linux/amd64": "x86_64", "linux/arm64": "arm64"}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")
_INCLUDE = re.compile(r"^(?:-r|--requirement|-c|--constraint)(?:\s+|=)(\S+)")
_NO_DISTRIBUTION = re.compile(r"No matching distribution found for ([^\s;]+)")


class AppLockError(Exception):
    """A lock cannot be made; the message says why and what to change, ``problem`` whether the app's directory
    (``src``) or its requirements (``requirements``) are at fault."""

    def __init__(self, message, problem="requirements"):
        super().__init__(message)
        self.problem = problem


def canonical_name(name):
    """A distribution's name as the index and pip compare it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def describe_target(target):
    return "CPython {} on manylinux {} (the {} runtime)".format(
        target["python_version"], target["architecture"], target["name"]
    )


def file_bytes(path, _seen=None):
    """The bytes of a requirements file and of every file it includes (``-r``, ``-c``), in order."""
    seen = _seen if _seen is not None else set()
    path = os.path.abspath(path)
    if path in seen:
        return b""
    seen.add(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise AppLockError(f"cannot read requirements file {path}: {error}") from error
    parts = [data]
    for line in data.decode("utf-8", "replace").splitlines():
        match = _INCLUDE.match(line.strip())
        if match:
            parts.append(file_bytes(os.path.join(os.path.dirname(path), match.group(1)), seen))
    return b"\n".join(parts)


def requirement_names(path):
    """The canonical names a requirements file asks for directly (its includes too)."""
    names = []
    for line in file_bytes(path).decode("utf-8", "replace").splitlines():
        line = line.split("#", 1)[0].strip()
        match = _NAME.match(line)
        if match and not line.startswith("-"):
            names.append(canonical_name(match.group(1)))
    return names


def read_pins(lock_path):
    """``{canonical name: version}`` of a lock file (pip-compile's or uv's, or this module's)."""
    pins = {}
    with open(lock_path) as handle:
        for line in handle:
            match = _PIN.match(line.strip())
            if match:
                pins[canonical_name(match.group(1))] = match.group(2)
    return pins


def collection_pins(requirement_files):
    """The versions that hold the collection's runtime requirements: for each file with a ``.lock`` beside it, the
    locked version of every package the file names."""
    pins = {}
    for path in requirement_files:
        lock = os.path.splitext(path)[0] + ".lock"
        if not os.path.isfile(lock):
            continue
        locked = read_pins(lock)
        for name in requirement_names(path):
            if name not in locked:
                raise AppLockError(f"{lock} does not pin {name}, which {path} asks for: run make lock")
            pins[name] = locked[name]
    return pins


def project_files(src):
    """``{relative path: path}`` of a project's sources: the files of ``src`` but for tools' and builds' leftovers."""
    return {
        relative: path
        for relative, path in collect_files(src, PROJECT_LEFTOVERS).items()
        if relative.split("/", 1)[0] not in PROJECT_OUTPUTS
    }


def project_digest(src):
    """SHA-256 of a project's sources: every file's relative path and bytes."""
    digest = hashlib.sha256()
    for relative, path in sorted(project_files(src).items()):
        with open(path, "rb") as handle:
            digest.update(f"{relative}\0{hashlib.sha256(handle.read()).hexdigest()}\n".encode())
    return digest.hexdigest()


def wheel_identity(path):
    """``(canonical name, version, tags)`` of a wheel from its file name (PEP 427)."""
    parts = os.path.basename(path)[: -len(".whl")].split("-")
    return canonical_name(parts[0]), parts[1], "-".join(parts[-3:])


def build_project(src, wheel_dir, scratch, run_command, python, pip_args):
    """The path of the pure-Python wheel of the project in ``src``, built by pip into ``wheel_dir``.

    pip builds a copy of the sources (a build writes ``build/`` and ``*.egg-info`` into its source tree, which must
    stay the user's), with ``SOURCE_DATE_EPOCH`` at the zip's time, so the same sources give the same wheel.
    """
    copy = os.path.join(scratch, "project")
    for relative, path in project_files(src).items():
        destination = os.path.join(copy, *relative.split("/"))
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        shutil.copyfile(path, destination)
    argv = [python, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", wheel_dir, *pip_args, copy]
    rc, stdout, stderr = run_command(argv, dict(PIP_ENVIRONMENT, SOURCE_DATE_EPOCH=str(ZIP_EPOCH)))
    shutil.rmtree(copy, ignore_errors=True)
    if rc != 0:
        raise AppLockError(
            "pip could not build the app's project in {} into a wheel: {}".format(
                src, (stderr or stdout or "").strip()[-2000:]
            ),
            problem="src",
        )
    [wheel] = [os.path.join(wheel_dir, name) for name in os.listdir(wheel_dir) if name.endswith(".whl")]
    tags = wheel_identity(wheel)[2]
    if not tags.endswith("-none-any"):
        raise AppLockError(
            f"the app's project in {src} builds {os.path.basename(wheel)}, a wheel for this machine only ({tags}): "
            "the function and the image need a pure-Python wheel of the app. Put its compiled code in a package of "
            "its own that publishes manylinux wheels, and require that package",
            problem="src",
        )
    return wheel


def lock_key(app_files, targets, pins, pip_args, project=None):
    identity = {
        "format": LOCK_FORMAT,
        "app": [hashlib.sha256(file_bytes(path)).hexdigest() for path in app_files],
        "project": project,
        "targets": [
            {
                "name": target["name"],
                "python_version": target["python_version"],
                "architecture": target["architecture"],
                "requirements": [hashlib.sha256(file_bytes(path)).hexdigest() for path in target["requirements_file"]],
            }
            for target in targets
        ],
        "pins": pins,
        "pip_args": list(pip_args),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()


def explain_pip_failure(stderr, target, files):
    """AppLockError of a failed resolution: the package without a wheel for the target, or pip's own words."""
    missing = _NO_DISTRIBUTION.search(stderr or "")
    if missing:
        asked = missing.group(1)
        name = _NAME.match(asked).group(1) if _NAME.match(asked) else asked
        return AppLockError(
            "{name} has no wheel for {target} (asked as {asked}): the lock takes wheels only, the ones the function's "
            "runtime and the image can install. Choose a version of {name} that publishes one (a pure-Python wheel, "
            "or a manylinux wheel for that Python and machine), or change the runtime or architecture. "
            "Requirements: {files}".format(
                name=name, target=describe_target(target), asked=asked, files=", ".join(files)
            )
        )
    return AppLockError(
        "pip could not resolve {} for {}: {}".format(
            ", ".join(files), describe_target(target), (stderr or "").strip()[-2000:]
        )
    )


def pip_report(run_command, python, scratch, files, constraint, target, pip_args, wheels=()):
    """The ``install`` entries of pip's installation report for ``files`` (and the wheel files ``wheels``) on
    ``target``'s platform."""
    argv = [python, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", "-"]
    argv += ["--target", os.path.join(scratch, "target")]
    argv += platform_options(target["python_version"], target["architecture"])
    argv += list(pip_args)
    argv += list(wheels)
    for path in files:
        argv += ["-r", path]
    if constraint:
        argv += ["-c", constraint]
    rc, stdout, stderr = run_command(argv, PIP_ENVIRONMENT)
    if rc != 0:
        raise explain_pip_failure(stderr, target, files)
    try:
        report = json.loads(stdout)  # stdout only: pip writes its warnings to stderr
    except ValueError as error:
        raise AppLockError(f"pip's report was not JSON ({error}); pip said: {(stderr or '').strip()[-500:]}") from error
    return report.get("install", [])


def report_entry(item):
    """``(canonical name, version, sha256)`` of one entry of pip's report; refuses a source without a hash."""
    name, version = canonical_name(item["metadata"]["name"]), item["metadata"]["version"]
    info = item.get("download_info", {})
    sha256 = info.get("archive_info", {}).get("hashes", {}).get("sha256")
    if not sha256:
        raise AppLockError(
            f"{name} {version} comes from {info.get('url', 'an unknown source')}, which is not a released archive "
            "with a hash: a lock needs a wheel from an index (or a local wheel file)"
        )
    return name, version, sha256


def write_pins(path, pins, direct=None):
    """``name==version`` a line, or ``name @ URL`` for the names of ``direct`` (a wheel of no index)."""
    direct = direct or {}
    with open(path, "w") as handle:
        handle.write(
            "".join(
                f"{name} @ {direct[name]}\n" if name in direct else f"{name}=={version}\n"
                for name, version in sorted(pins.items())
            )
        )


def render_lock(key, targets, packages, only=None, project=None):
    """The text of the lock (``only`` None) or of one target's share: ``name==version`` and its hashes; with the app's
    ``project`` (its name), the place of its wheel, relative to the file."""
    lines = [
        "# spillover.lambda_ecs.app_lock: the app's requirements resolved once for both runtimes; do not edit.",
        f"# key {key}",
    ]
    for target in targets:
        if only in (None, target["name"]):
            lines.append(
                "# {}: {}, from {}".format(target["name"], describe_target(target), ", ".join(target["files"]))
            )
    if project:
        lines.append(f"# {project}: the app's own project, built from its directory into {WHEELS}/")
        lines.append(f"--find-links {WHEELS}")
    for name in sorted(packages):
        package = packages[name]
        if only is not None and only not in package["targets"]:
            continue
        hashes = sorted(package["hashes"] if only is None else package["target_hashes"][only])
        lines.append(f"{name}=={package['version']} \\")
        lines.extend(
            f"    --hash=sha256:{value}" + (" \\" if i < len(hashes) - 1 else "") for i, value in enumerate(hashes)
        )
        if only is None:
            lines.append("    # " + ", ".join(sorted(package["targets"])))
    return "\n".join(lines) + "\n"


def resolve(app_files, targets, pins, pip_args, run_command, python, scratch, wheels=()):
    """``{name: {version, hashes, targets, target_hashes}}``: one resolution, then each target's share (``wheels``:
    wheel files that every target installs, the app's own project)."""
    constraint = None
    if pins:
        constraint = os.path.join(scratch, "collection-pins.txt")
        write_pins(constraint, pins)
    everything = list(app_files) + [path for target in targets for path in target["requirements_file"]]
    primary = targets[0]
    versions = {}
    for item in pip_report(run_command, python, scratch, everything, constraint, primary, pip_args, wheels):
        name, version = report_entry(item)[:2]
        versions[name] = version
    held = os.path.join(scratch, "resolved-pins.txt")
    write_pins(held, versions)
    packages = {}
    for target in targets:
        files = list(app_files) + list(target["requirements_file"])
        for item in pip_report(run_command, python, scratch, files, held, target, pip_args, wheels):
            name, version, sha256 = report_entry(item)
            if versions.get(name, version) != version:  # pip holds the constraint; a mismatch is pip's bug, not ours
                raise AppLockError(f"{name}: {target['name']} got {version}, the resolution {versions[name]}")
            package = packages.setdefault(name, {"version": version, "hashes": set(), "targets": set()})
            package.setdefault("target_hashes", {}).setdefault(target["name"], set()).add(sha256)
            package["hashes"].add(sha256)
            package["targets"].add(target["name"])
    return packages


def ensure_lock(app_files, targets, cache_dir, pip_args, run_command, python, src=None):
    """The lock of ``app_files`` for ``targets`` (lambda first: the function's platform decides the versions).

    ``targets``: dicts of ``name``, ``python_version``, ``architecture`` and ``requirements_file`` (the runtime's own
    requirement files). ``src``: the app's directory; a Python project there is built into a wheel and locked with
    the requirements, and a directory with nothing to deploy (:func:`lambda_zip.app_layout`) is refused. Returns
    ``(changed, result)``: ``result`` names the lock, its SHA-256, each target's share (a file that ``pip install
    --no-deps --require-hashes -r`` takes), the versions, the app's ``layout`` and its ``project`` (None without).
    """
    if not targets:
        raise AppLockError("a lock needs at least one target (lambda or image)")
    try:
        layout = app_layout(src, bool(app_files)) if src else None
    except LambdaZipError as error:
        raise AppLockError(str(error), problem="src") from error
    pins = collection_pins([path for target in targets for path in target["requirements_file"]])
    key = lock_key(app_files, targets, pins, pip_args, project_digest(src) if layout == "package" else None)
    final_dir = os.path.abspath(os.path.join(cache_dir, key))

    def write_lock(staging):
        wheels, project, direct = [], None, {}
        if layout == "package":
            wheel_dir = os.path.join(staging, WHEELS)
            os.makedirs(wheel_dir)
            wheels.append(build_project(src, wheel_dir, staging, run_command, python, pip_args))
            project = wheel_identity(wheels[0])[0]
            # The pins serve a pip on another platform, which finds the wheel of no index only by its place.
            direct[project] = "file://" + os.path.join(final_dir, WHEELS, os.path.basename(wheels[0]))
        packages = resolve(app_files, targets, pins, pip_args, run_command, python, staging, wheels)
        # Files by name only: the lock's bytes must not depend on where the app or the collection lies.
        shown = [
            dict(target, files=[os.path.basename(path) for path in list(app_files) + target["requirements_file"]])
            for target in targets
        ]
        with open(os.path.join(staging, LOCK_NAME), "w") as handle:
            handle.write(render_lock(key, shown, packages, project=project))
        for target in targets:
            with open(os.path.join(staging, f"{target['name']}.txt"), "w") as handle:
                handle.write(render_lock(key, shown, packages, only=target["name"], project=project))
            share = {
                name: package["version"] for name, package in packages.items() if target["name"] in package["targets"]
            }
            write_pins(os.path.join(staging, f"{target['name']}-pins.txt"), share, direct)
        shutil.rmtree(os.path.join(staging, "target"), ignore_errors=True)

    final, changed = cache_entry(cache_dir, key, write_lock, AppLockError)
    return changed, describe_lock(final, targets, layout)


def describe_lock(directory, targets, layout=None):
    lock = os.path.join(directory, LOCK_NAME)
    with open(lock, "rb") as handle:
        data = handle.read()
    wheel_dir = os.path.join(directory, WHEELS)
    wheels = sorted(name for name in os.listdir(wheel_dir) if name.endswith(".whl")) if os.path.isdir(wheel_dir) else []
    project = None
    if wheels:
        name, version = wheel_identity(wheels[0])[:2]
        project = {"name": name, "version": version, "wheel": os.path.join(wheel_dir, wheels[0])}
    result = {
        "lock": lock,
        "lock_sha256": hashlib.sha256(data).hexdigest(),
        "packages": read_pins(lock),
        "layout": layout,
        "project": project,
        "targets": {},
    }
    for target in targets:
        share = os.path.join(directory, f"{target['name']}.txt")
        result["targets"][target["name"]] = {
            "requirements": share,
            # The same versions without hashes, for a pip on another platform (the controller's import check).
            "pins": os.path.join(directory, f"{target['name']}-pins.txt"),
            "packages": read_pins(share),
        }
    return result
