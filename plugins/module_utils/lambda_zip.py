# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Reproducible AWS Lambda deployment packages (zip files) from a source directory and pip requirements.

The same sources and requirement set give the same bytes: entries are sorted, every timestamp is
1980-01-01 00:00:00, files are 0644 and directories 0755, and nothing that records the build machine or
time goes in (``__pycache__``, ``*.pyc``, pip's ``bin/`` scripts and the ``RECORD``, ``INSTALLER``,
``REQUESTED`` and ``direct_url.json`` files of ``*.dist-info``). Requirements are vendored once per
requirement set into a cache directory keyed by its hash, so a later build does not resolve again.

An app comes in one of three layouts (:func:`app_layout`): its files (Python code of its own, static files), packed as
they are with its requirements vendored beside them; only its requirements (an app that is a package from an index,
such as ``httpbin``); or a Python project that pip installs as a package (``pyproject.toml`` or ``setup.py``), whose
sources are not packed: the lock that app_lock builds carries its wheel.
"""

import base64
import fnmatch
import hashlib
import io
import json
import os
import shutil
import stat
import tempfile
import tomllib
import zipfile

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# ZIP_DATE in seconds since the epoch: Lambda unpacks the zip in UTC, so the app's files bear this time there; the
# image's recipe dates its /var/task the same (files/container/file_times.py), and app_lock builds an app's own wheel
# at it (SOURCE_DATE_EPOCH), so the same sources give the same wheel.
ZIP_EPOCH = 315532800
FILE_MODE = 0o644
DIR_MODE = 0o755
CACHE_FORMAT = 2
# Lambda's limits for a zip uploaded with the function (Lambda quotas: deployment package size).
MAX_ZIPPED_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
# pip's machine name of each Lambda architecture, and the glibc of the Lambda Python runtimes (python3.12 and later
# run on Amazon Linux 2023, glibc 2.34): a wheel tagged manylinux for glibc 2.17 to 2.34 runs there.
ARCHITECTURES = {"x86_64": "x86_64", "arm64": "aarch64"}
LAMBDA_GLIBC_MINORS = range(17, 35)

# Never packaged, whatever ``exclude`` says: byte code is machine- and time-dependent.
ALWAYS_EXCLUDE = ("__pycache__", "*.pyc", "*.pyo")
DEFAULT_EXCLUDE = [
    ".*",
    "*.egg-info",
    "tests",
    "test_*.py",
    "conftest.py",
    "Dockerfile",
    "requirements*.txt",
]
# pip's per-installation records: they name the installing machine's paths and tools, not the package.
DIST_INFO_DROP = ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")
# The tables of a pyproject.toml that make its directory a project pip builds (PEP 518 and PEP 621); a file with only
# tools' settings ([tool.ruff]) does not.
PROJECT_TABLES = ("build-system", "project")


class LambdaZipError(Exception):
    """A package cannot be built; the message says why and what to change."""


def is_excluded(relative_path, patterns):
    """True when a pattern matches the whole relative path (posix) or any one of its components."""
    parts = relative_path.split("/")
    for pattern in tuple(ALWAYS_EXCLUDE) + tuple(patterns):
        if fnmatch.fnmatchcase(relative_path, pattern):
            return True
        if any(fnmatch.fnmatchcase(part, pattern) for part in parts):
            return True
    return False


def collect_files(root, patterns):
    """``{relative posix path: absolute path}`` of the regular files under ``root`` that are not excluded.

    Symbolic links to files are packaged as the files they point to; directory links are not followed.
    """
    files = {}
    for directory, subdirs, names in os.walk(root):
        relative_dir = os.path.relpath(directory, root).replace(os.sep, "/")
        prefix = "" if relative_dir == "." else relative_dir + "/"
        subdirs[:] = [name for name in subdirs if not is_excluded(prefix + name, patterns)]
        for name in names:
            path = os.path.join(directory, name)
            relative = prefix + name
            if os.path.isfile(path) and not is_excluded(relative, patterns):
                files[relative] = path
    return files


def app_project(src):
    """The file that makes the directory ``src`` a Python project pip installs as a package, or None: a ``setup.py``,
    or a ``pyproject.toml`` with a ``[build-system]`` or ``[project]`` table."""
    setup = os.path.join(src, "setup.py")
    if os.path.isfile(setup):
        return setup
    pyproject = os.path.join(src, "pyproject.toml")
    if not os.path.isfile(pyproject):
        return None
    try:
        with open(pyproject, "rb") as handle:
            tables = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise LambdaZipError(f"cannot read {pyproject}: {error}") from error
    return pyproject if any(table in tables for table in PROJECT_TABLES) else None


def app_layout(src, has_requirements, exclude=tuple(DEFAULT_EXCLUDE)):
    """How the app in ``src`` is packaged: ``package`` (a project, :func:`app_project`: pip installs it, its sources
    are not packed), ``files`` (Python code of its own, packed as it is with its other files) or ``requirements``
    (no code of its own, only requirements: an app that is a package from an index; its other files are packed too).
    A directory with no code, no requirements and no project is refused."""
    if not os.path.isdir(src):
        raise LambdaZipError(f"src {src} is not a directory")
    if app_project(src):
        return "package"
    if any(relative.endswith(".py") for relative in collect_files(src, exclude)):
        return "files"
    if has_requirements:
        return "requirements"
    raise LambdaZipError(
        f"src {src} holds nothing to package: no Python file once exclude patterns are applied, no requirements and "
        "no Python project (pyproject.toml or setup.py); give the app's code, a requirements file that installs it, "
        "or both"
    )


def is_vendored_record(relative_path):
    parts = relative_path.split("/")
    if parts[0] == "bin":
        return True
    return len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] in DIST_INFO_DROP


def read_requirements_file(path, _seen=None):
    """The requirement strings of a pip requirements file, following ``-r``/``--requirement`` includes."""
    seen = _seen if _seen is not None else set()
    path = os.path.abspath(path)
    if path in seen:
        return []
    seen.add(path)
    try:
        with open(path) as handle:
            lines = handle.read().splitlines()
    except OSError as error:
        raise LambdaZipError(f"cannot read requirements file {path}: {error}") from error
    requirements = []
    for line in lines:
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        for option in ("-r ", "--requirement ", "--requirement="):
            if line.startswith(option):
                included = line[len(option) :].strip()
                requirements.extend(read_requirements_file(os.path.join(os.path.dirname(path), included), seen))
                break
        else:
            if line.startswith("-"):
                raise LambdaZipError(
                    f"{path}: pip option {line!r} is not supported in a requirements file here; "
                    "pass pip options in pip_args"
                )
            requirements.append(line)
    return requirements


class LockFile:
    """A complete lock (``name==version`` and hashes, as the app_lock module writes them), installed as it is."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        try:
            with open(self.path, "rb") as handle:
                self.sha256 = hashlib.sha256(handle.read()).hexdigest()
        except OSError as error:
            raise LambdaZipError(f"cannot read the requirements lock {path}: {error}") from error

    def __bool__(self):
        return True

    def __str__(self):
        return self.path


def requirements_key(requirements, python_version, pip_args, architecture="x86_64"):
    """The cache key of a requirement set (or of a ``LockFile``'s bytes): the same set, target and pip options give
    the same key.

    ``python_version`` None is the Python that runs pip (its own platform), not a Lambda runtime.
    """
    if isinstance(requirements, LockFile):
        wanted = {"lock_sha256": requirements.sha256}
    else:
        wanted = sorted(set(requirement.strip() for requirement in requirements))
    identity = {
        "format": CACHE_FORMAT,
        "requirements": wanted,
        "python_version": python_version,
        "architecture": architecture if python_version else None,
        "pip_args": list(pip_args),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()


def platform_options(python_version, architecture):
    """pip's options that select wheels for a Lambda runtime: CPython ``python_version`` on Amazon Linux 2023.

    Compiled wheels (manylinux, glibc 2.17 to 2.34, of the architecture) and pure-Python ones; never an sdist,
    which would be built for the controller rather than for Lambda.
    """
    if architecture not in ARCHITECTURES:
        raise LambdaZipError(
            f"architecture {architecture!r} is not a Lambda architecture; use one of {', '.join(ARCHITECTURES)}"
        )
    machine = ARCHITECTURES[architecture]
    abi = "cp" + python_version.replace(".", "")
    platforms = [f"manylinux2014_{machine}"] + [f"manylinux_2_{minor}_{machine}" for minor in LAMBDA_GLIBC_MINORS]
    options = ["--only-binary=:all:", "--implementation", "cp", "--python-version", python_version]
    for tag in (abi, "abi3", "none"):
        options += ["--abi", tag]
    for tag in platforms:
        options += ["--platform", tag]
    return options


def pip_command(python, target, requirements, python_version, pip_args, architecture="x86_64"):
    """``pip install --target`` of ``requirements`` for a Lambda runtime (or, ``python_version`` None, for
    ``python`` itself). A ``LockFile`` installs exactly the lock: no resolution, every wheel's hash checked."""
    selection = platform_options(python_version, architecture) if python_version else []
    if isinstance(requirements, LockFile):
        wanted = ["--no-deps", "--require-hashes", "-r", requirements.path]
    else:
        wanted = sorted(set(requirements))
    return [
        *(python, "-m", "pip", "install", "--target", target, "--no-compile", "--no-input"),
        *selection,
        *pip_args,
        *wanted,
    ]


def vendor_requirements(requirements, cache_dir, python_version, pip_args, run_command, python, architecture="x86_64"):
    """The directory holding ``requirements`` installed with pip, filled on the first call for this set.

    ``run_command(argv, environ_update)`` runs a command and returns ``(rc, stdout, stderr)``. A new set is
    installed into a temporary directory beside its final place and renamed into it, so concurrent builds
    never see a half-filled cache entry.
    """
    key = requirements_key(requirements, python_version, pip_args, architecture)

    def install(staging):
        argv = pip_command(python, staging, requirements, python_version, pip_args, architecture)
        rc, stdout, stderr = run_command(
            argv, {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONDONTWRITEBYTECODE": "1", "PIP_NO_INPUT": "1"}
        )
        if rc != 0:
            target = (
                f"wheels for Lambda's Python {python_version} on {architecture}"
                if python_version
                else f"the Python of {python}"
            )
            wanted = str(requirements) if isinstance(requirements, LockFile) else ", ".join(sorted(requirements))
            raise LambdaZipError(f"pip could not vendor {wanted} ({target}): {(stderr or stdout).strip()[-2000:]}")

    return cache_entry(cache_dir, key, install, LambdaZipError)[0]


def cache_entry(cache_dir, key, fill, error=LambdaZipError):
    """``(directory, created)``: the directory ``key`` of ``cache_dir``, filled by ``fill(directory)`` on first use.

    It is filled in a temporary directory beside its final place and renamed into it, so concurrent builds never
    see a half-filled entry; a failed ``fill`` leaves nothing. ``error`` is the exception a cache that cannot be
    created raises.
    """
    final = os.path.join(cache_dir, key)
    if os.path.isdir(final):
        return final, False
    try:
        os.makedirs(cache_dir, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=cache_dir)
    except OSError as problem:
        raise error(f"cannot create the cache in {cache_dir}: {problem}") from problem
    try:
        fill(staging)
        try:
            os.rename(staging, final)
        except OSError:
            if not os.path.isdir(final):  # not lost to a concurrent build of the same entry
                raise
            return final, False
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging, ignore_errors=True)
    return final, True


def vendored_distributions(vendor_dir):
    """``name==version`` of each distribution pip installed, from the ``*.dist-info`` directory names."""
    found = []
    for name in sorted(os.listdir(vendor_dir)):
        if name.endswith(".dist-info"):
            found.append("==".join(name[: -len(".dist-info")].rsplit("-", 1)))
    return found


def zip_bytes(files):
    """A deterministic zip of ``{archive name: bytes}`` with an explicit entry for every directory."""
    directories = set()
    for name in files:
        parts = name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            directories.add("/".join(parts[:depth]) + "/")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(set(files) | directories):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.create_system = 3  # Unix, so that external_attr carries the mode bits
            if name in directories:
                info.external_attr = ((stat.S_IFDIR | DIR_MODE) << 16) | 0x10  # 0x10: MS-DOS directory flag
                archive.writestr(info, b"", compress_type=zipfile.ZIP_STORED)
            else:
                info.external_attr = (stat.S_IFREG | FILE_MODE) << 16
                archive.writestr(info, files[name], compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buffer.getvalue()


def digest(data):
    """``sha256`` (hex), ``code_sha256`` (base64 of the SHA-256, as Lambda's ``CodeSha256``) and ``size``."""
    sha = hashlib.sha256(data)
    return {
        "sha256": sha.hexdigest(),
        "code_sha256": base64.b64encode(sha.digest()).decode("ascii"),
        "size": len(data),
    }


def zip_listing(data):
    """``{entry name: "crc32:xxxxxxxx"}`` of a zip, for diffs; None when ``data`` is not a zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return dict((info.filename, f"crc32:{info.CRC:08x}") for info in archive.infolist())
    except zipfile.BadZipFile:
        return None


def read_extra_files(paths):
    """``{file name: bytes}`` of files named one by one, to pack at the zip root under their own names."""
    contents = {}
    for path in paths:
        name = os.path.basename(path)
        if not os.path.isfile(path):
            raise LambdaZipError(f"extra file {path} is not a file")
        if name in contents:
            raise LambdaZipError(f"two extra files are named {name}; a zip root holds one file of a name")
        with open(path, "rb") as handle:
            contents[name] = handle.read()
    return contents


def check_size(contents, data):
    """Refuse a package that Lambda would refuse: over 50 MB zipped or 250 MB unzipped."""
    unzipped = sum(len(item) for item in contents.values())
    if len(data) > MAX_ZIPPED_BYTES or unzipped > MAX_UNZIPPED_BYTES:
        largest = sorted(contents, key=lambda name: len(contents[name]), reverse=True)[:3]
        raise LambdaZipError(
            "the package is {:.1f} MB zipped and {:.1f} MB unzipped; Lambda takes at most {} MB zipped and {} MB "
            "unzipped (largest files: {}): trim the requirements or exclude what the function does not need".format(
                len(data) / 1e6,
                unzipped / 1e6,
                MAX_ZIPPED_BYTES // (1024 * 1024),
                MAX_UNZIPPED_BYTES // (1024 * 1024),
                ", ".join(largest),
            )
        )


def build_package(
    src,
    requirements,
    exclude,
    cache_dir,
    python_version,
    pip_args,
    run_command,
    python,
    extra_files=(),
    architecture="x86_64",
):
    """Build the package; returns ``(zip bytes, vendored distributions, vendor directory or None)``.

    ``extra_files`` are paths of files packed at the zip root under their own names (``exclude`` does not apply).
    Requirements are vendored as wheels for Lambda's ``python_version`` on ``architecture``. A ``src`` of the
    ``package`` layout (:func:`app_layout`) packs none of its files: its wheel comes with the lock (``LockFile``).
    """
    layout = app_layout(src, bool(requirements), exclude)
    if layout == "package" and not isinstance(requirements, LockFile):
        raise LambdaZipError(
            f"src {src} is a Python project ({os.path.basename(app_project(src))}) that pip installs as a package: "
            "give requirements_lock, a lock that app_lock made with src, which builds the project's wheel and locks it"
        )
    contents = {}
    if layout != "package":
        for relative, path in collect_files(src, exclude).items():
            with open(path, "rb") as handle:
                contents[relative] = handle.read()
    vendor_dir, vendored = None, []
    if requirements:
        vendor_dir = vendor_requirements(
            requirements, cache_dir, python_version, pip_args, run_command, python, architecture
        )
        vendored = vendored_distributions(vendor_dir)
        for relative, path in collect_files(vendor_dir, exclude).items():
            if is_vendored_record(relative):
                continue
            if relative in contents:
                raise LambdaZipError(
                    f"{relative} is both in src and in the vendored requirements; rename or exclude one of them"
                )
            with open(path, "rb") as handle:
                contents[relative] = handle.read()
    for name, data in read_extra_files(extra_files).items():
        if name in contents:
            raise LambdaZipError(
                f"{name} is in extra_files and also in src or the vendored requirements; rename or exclude one of them"
            )
        contents[name] = data
    data = zip_bytes(contents)
    check_size(contents, data)
    return data, vendored, vendor_dir
