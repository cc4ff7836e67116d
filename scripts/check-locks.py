"""Check that lock files still satisfy the requirements files they were made from (scripts/lock.sh makes them).

    python scripts/check-locks.py                       every lock of the project against its requirements file
    python scripts/check-locks.py REQUIREMENTS LOCK...  the pairs given

A requirements file's ``-r`` includes are followed; comments and other options are ignored. Every requirement must be
pinned in the lock (``name==version``) with a version inside its range, in every environment a universal lock is for
(Python 3.12 to 3.14 on Linux, macOS and Windows, on their usual machines) where the requirement's marker holds: the
lock's entries count where their markers hold. A requirements file edited and not locked again (a raised lower bound,
a new package) fails here, before anything is installed, with a line naming the file, the requirement and the locked
version. Exit status 1 then, 0 when every lock matches.

The standard library and ``packaging`` only: the ``packaging`` that pip vendors when there is no other (make venv runs
this with a new venv's Python, before it installs anything).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

try:
    from packaging.markers import Marker
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version
except ImportError:  # a bare venv: the packaging that pip vendors
    from pip._vendor.packaging.markers import Marker
    from pip._vendor.packaging.requirements import InvalidRequirement, Requirement
    from pip._vendor.packaging.utils import canonicalize_name
    from pip._vendor.packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent

# Each lock of the project and the requirements file it is made from (scripts/lock.sh).
PAIRS = [
    ("requirements/pip.txt", "requirements/pip.lock"),
    ("requirements/dev.txt", "requirements/dev.lock"),
    ("requirements/importer.txt", "requirements/importer.lock"),
    ("requirements/runtime.txt", "requirements/runtime.lock"),
    ("requirements/execution-environment.txt", "requirements/execution-environment.lock"),
    ("files/lambda_entry/requirements-wsgi.txt", "files/lambda_entry/requirements-wsgi.lock"),
    ("files/lambda_entry/requirements-asgi.txt", "files/lambda_entry/requirements-asgi.lock"),
    ("files/container/requirements.txt", "files/container/requirements.lock"),
]

# The environments a universal lock serves: Python 3.12 and later, each OS on its usual machines.
_PLATFORMS = [
    ("linux", "Linux", "posix", "x86_64"),
    ("linux", "Linux", "posix", "aarch64"),
    ("darwin", "Darwin", "posix", "x86_64"),
    ("darwin", "Darwin", "posix", "arm64"),
    ("win32", "Windows", "nt", "AMD64"),
    ("win32", "Windows", "nt", "ARM64"),
]
ENVIRONMENTS = [
    {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "sys_platform": sys_platform,
        "platform_system": system,
        "os_name": os_name,
        "platform_machine": machine,
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_version": "",
        "implementation_version": f"{python}.0",
        "extra": "",
    }
    for python in ("3.12", "3.13", "3.14")
    for sys_platform, system, os_name, machine in _PLATFORMS
]

_COMMENT = re.compile(r"(^|\s)#.*$")
_HASH = re.compile(r"\s--hash[=\s]\S+")


@dataclass(frozen=True)
class Wanted:
    """One requirement line of a requirements file."""

    requirement: Requirement
    text: str  # as written
    source: Path  # the file the line is in (an included one too)
    line: int


@dataclass(frozen=True)
class Pin:
    """One entry of a lock: name==version, maybe under a marker."""

    name: str
    version: Version
    marker: Marker | None
    text: str


def logical_lines(path: Path):
    """(line number, text) of a pip requirements file: continuations joined, comments and blank lines dropped."""
    pending, start = "", 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not pending:
            start = number
        line = _COMMENT.sub("", raw).rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            yield start, line
    if pending.strip():
        yield start, pending.strip()


def read_requirements(path: Path, seen: frozenset[Path] = frozenset()) -> list[Wanted]:
    """The requirements of a requirements file, its ``-r``/``--requirement`` includes followed (relative to it)."""
    path = path.resolve()
    if path in seen:
        return []
    found = []
    for number, line in logical_lines(path):
        include = re.match(r"^(-r|--requirement)(\s+|=)(\S+)$", line)
        if include:
            found += read_requirements(path.parent / include.group(3), seen | {path})
        elif line.startswith("-"):
            continue  # another option (-c, --index-url, ...): not a requirement
        else:
            try:
                found.append(Wanted(Requirement(line), line, path, number))
            except InvalidRequirement as error:
                raise SystemExit(
                    f"check-locks: {shown(path)}:{number}: not a requirement: {line!r} ({error})"
                ) from None
    return found


def read_lock(path: Path) -> list[Pin]:
    """The pins of a lock file (``name==version ; marker`` with its ``--hash`` options)."""
    pins = []
    for number, line in logical_lines(path):
        line = _HASH.sub("", " " + line).strip()
        if not line or line.startswith("-"):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            raise SystemExit(f"check-locks: {shown(path)}:{number}: not a pin: {line!r} ({error})") from None
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator not in ("==", "==="):
            raise SystemExit(f"check-locks: {shown(path)}:{number}: not a name==version pin: {line!r}")
        pins.append(
            Pin(canonicalize_name(requirement.name), Version(specifiers[0].version), requirement.marker, line.strip())
        )
    return pins


def describe(environment: dict[str, str]) -> str:
    return f"Python {environment['python_version']} on {environment['sys_platform']} {environment['platform_machine']}"


def shown(path: Path) -> str:
    """A path as the user would write it: relative to the current directory when it is under it."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def check(requirements_file: Path, lock_file: Path) -> list[str]:
    """The problems of one pair: a line each, naming the requirements file, the requirement and the locked version."""
    wanted = read_requirements(requirements_file)
    pins = read_lock(lock_file)
    problems: list[str] = []
    for item in wanted:
        name = canonicalize_name(item.requirement.name)
        where = shown(item.source)
        if item.source != requirements_file.resolve():
            where += f" (through {shown(requirements_file)})"
        where += f":{item.line}"
        text = item.text
        of_name = [pin for pin in pins if pin.name == name]
        if not of_name:
            problems.append(f"{where}: {text} is not in {shown(lock_file)}: run `make lock`")
            continue
        for environment in ENVIRONMENTS:
            if item.requirement.marker is not None and not item.requirement.marker.evaluate(environment):
                continue
            active = [pin for pin in of_name if pin.marker is None or pin.marker.evaluate(environment)]
            if not active:
                problem = f"{where}: {text}: {shown(lock_file)} pins no {name} for {describe(environment)}"
            elif len(active) > 1:
                pinned = ", ".join(pin.text for pin in active)
                problem = f"{where}: {text}: {shown(lock_file)} pins {name} twice for {describe(environment)}: {pinned}"
            elif not item.requirement.specifier.contains(active[0].version, prereleases=True):
                problem = f"{where}: {text} but {shown(lock_file)} pins {name}=={active[0].version}: run `make lock`"
            else:
                continue
            if problem not in problems:
                problems.append(problem)
    return problems


def main(argv: list[str]) -> int:
    if len(argv) % 2:
        print("usage: python scripts/check-locks.py [REQUIREMENTS LOCK]...", file=sys.stderr)
        return 2
    pairs = list(zip(argv[::2], argv[1::2], strict=True)) or [(ROOT / txt, ROOT / lock) for txt, lock in PAIRS]
    problems = []
    for requirements_file, lock_file in pairs:
        requirements_file, lock_file = Path(requirements_file), Path(lock_file)
        if not requirements_file.is_file():
            problems.append(f"{shown(requirements_file)} is missing")
        if not lock_file.is_file():
            problems.append(f"{shown(lock_file)} is missing: run `make lock`")
        if requirements_file.is_file() and lock_file.is_file():
            problems += check(requirements_file, lock_file)
    for problem in problems:
        print(f"check-locks: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"check-locks: {len(pairs)} locks satisfy their requirements")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
