"""Unit tests of plugins/module_utils/app_lock.py: one resolution, each runtime's share, the cache, the errors.

pip is replaced by ``FakeIndex``, which answers ``pip install --dry-run --report -`` as pip does (the report on
stdout, warnings on stderr) from a small made-up index; the real pip runs in tests/integration/test_app_lock.py.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import pytest

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.module_utils import app_lock

# name: (version, {dependency}, {architecture: sha256 of its wheel}); one hash for a pure-Python wheel.
INDEX = {
    "bottle": ("0.13.5", set(), {"any": "b" * 64}),
    "apig-wsgi": ("2.20.0", set(), {"any": "a" * 64}),
    "granian": ("2.8.9", {"click"}, {"x86_64": "1" * 64, "arm64": "2" * 64}),
    "click": ("8.5.1", set(), {"any": "c" * 64}),
}
# What pip prints on stderr on this kind of machine, and what a new cryptography makes Python print.
WARNINGS = (
    "WARNING: Location 'file:///opt/pypi/simple/bottle/' is ignored: it is neither a file nor a directory.\n"
    'CryptographyDeprecationWarning: {a warning} that looks like JSON: {"a": 1}\n'
)


class FakeIndex:
    """``python -m pip install --dry-run --report - -r FILE... [-c FILE] --platform ...``, recorded."""

    def __init__(self, missing=()):
        self.calls = []
        self.held = []  # the pins each call was held to (-c)
        self.missing = set(missing)

    def __call__(self, argv, environ_update):
        self.calls.append(argv)
        assert argv[argv.index("--report") + 1] == "-" and "--dry-run" in argv and "--quiet" in argv
        architecture = "arm64" if any("aarch64" in word for word in argv) else "x86_64"
        wanted, held = [], {}
        for option, path in itertools.pairwise(argv):
            lines = read(path).split() if option in ("-r", "-c") else []
            for line in lines:
                name, _, version = line.partition("==")
                if option == "-r":
                    wanted.append(name.split(">")[0])
                elif option == "-c":
                    held[name] = version
        resolved, queue = {}, list(wanted)
        while queue:
            name = queue.pop()
            if name in self.missing:
                return 1, "", WARNINGS + f"ERROR: No matching distribution found for {name}\n"
            version, dependencies, wheels = INDEX[name]
            resolved[name] = (held.get(name, version), wheels.get(architecture, wheels.get("any")))
            queue += sorted(dependencies - set(resolved))
        self.held.append(held)
        report = {
            "version": "1",
            "install": [
                {
                    "metadata": {"name": name, "version": version},
                    "download_info": {
                        "url": f"https://files.example/{name}.whl",
                        "archive_info": {"hashes": {"sha256": sha}},
                    },
                    "requested": name in wanted,
                }
                for name, (version, sha) in sorted(resolved.items())
            ],
        }
        return 0, json.dumps(report), WARNINGS


def read(path):
    return Path(path).read_text()


@pytest.fixture
def files(tmp_path):
    def write(name, text):
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return {
        "app": write("requirements.txt", "bottle>=0.13\n"),
        "entry": write("requirements-wsgi.txt", "apig-wsgi>=2.18\n"),
        "server": write("server.txt", "granian>=2.8\n"),
    }


def targets(files, image_architecture="x86_64"):
    return [
        {"name": "lambda", "python_version": "3.12", "architecture": "x86_64", "requirements_file": [files["entry"]]},
        {
            "name": "image",
            "python_version": "3.12",
            "architecture": image_architecture,
            "requirements_file": [files["server"]],
        },
    ]


def test_one_resolution_gives_each_runtime_its_share_with_the_same_versions(tmp_path, files):
    pip = FakeIndex()
    changed, result = app_lock.ensure_lock([files["app"]], targets(files), str(tmp_path / "cache"), [], pip, "python")
    assert changed
    # One resolution of everything on the function's platform, then each runtime's share held to it.
    assert len(pip.calls) == 3
    first = pip.calls[0]
    assert [first[i + 1] for i, word in enumerate(first) if word == "-r"] == [
        files["app"],
        files["entry"],
        files["server"],
    ]
    assert all("-c" in call for call in pip.calls[1:])
    assert result["packages"] == {"apig-wsgi": "2.20.0", "bottle": "0.13.5", "click": "8.5.1", "granian": "2.8.9"}
    assert result["targets"]["lambda"]["packages"] == {"apig-wsgi": "2.20.0", "bottle": "0.13.5"}
    assert result["targets"]["image"]["packages"] == {"bottle": "0.13.5", "click": "8.5.1", "granian": "2.8.9"}
    share = read(result["targets"]["lambda"]["requirements"])
    assert f"bottle==0.13.5 \\\n    --hash=sha256:{'b' * 64}\n" in share and "granian" not in share
    assert read(result["targets"]["image"]["pins"]) == "bottle==0.13.5\nclick==8.5.1\ngranian==2.8.9\n"
    lock = read(result["lock"])
    assert "    # image, lambda\n" in lock and str(tmp_path) not in lock  # file names only, never where they lie


def test_an_unchanged_input_runs_no_pip_and_a_changed_one_resolves_again(tmp_path, files):
    cache = str(tmp_path / "cache")
    app_lock.ensure_lock([files["app"]], targets(files), cache, [], FakeIndex(), "python")
    again = FakeIndex()
    changed, result = app_lock.ensure_lock([files["app"]], targets(files), cache, [], again, "python")
    assert (changed, again.calls) == (False, [])
    Path(files["app"]).write_text("bottle>=0.13\nclick\n")
    changed, other = app_lock.ensure_lock([files["app"]], targets(files), cache, [], FakeIndex(), "python")
    assert changed and other["lock"] != result["lock"]
    assert other["targets"]["lambda"]["packages"]["click"] == "8.5.1"  # now the app's own, so the zip's too


def test_an_image_of_another_platform_gets_its_own_wheels_of_the_same_versions(tmp_path, files):
    _, result = app_lock.ensure_lock([files["app"]], targets(files, "arm64"), str(tmp_path), [], FakeIndex(), "python")
    lock = read(result["lock"])
    # The function's platform decided the versions; the image's wheels are its own platform's.
    assert f"granian==2.8.9 \\\n    --hash=sha256:{'2' * 64}\n    # image\n" in lock
    image = read(result["targets"]["image"]["requirements"])
    assert "2" * 64 in image and "1" * 64 not in image


def test_the_collections_runtime_requirements_are_held_at_their_locked_versions(tmp_path, files):
    (tmp_path / "server.lock").write_text("granian==2.8.0 \\\n    --hash=sha256:abc\nclick==8.0.0\n")
    pip = FakeIndex()
    _, result = app_lock.ensure_lock([files["app"]], targets(files), str(tmp_path / "cache"), [], pip, "python")
    assert pip.held[0] == {"granian": "2.8.0"}  # only what server.txt names, not its dependencies
    assert result["packages"]["granian"] == "2.8.0"


def test_a_collection_lock_that_misses_a_requirement_says_to_run_make_lock(tmp_path, files):
    (tmp_path / "server.lock").write_text("click==8.0.0\n")
    with pytest.raises(app_lock.AppLockError, match=r"server.lock does not pin granian.*run make lock"):
        app_lock.ensure_lock([files["app"]], targets(files), str(tmp_path / "cache"), [], FakeIndex(), "python")


def test_a_requirement_without_a_wheel_names_the_package_and_the_platform_and_caches_nothing(tmp_path, files):
    cache = tmp_path / "cache"
    with pytest.raises(app_lock.AppLockError) as raised:
        app_lock.ensure_lock([files["app"]], targets(files), str(cache), [], FakeIndex({"bottle"}), "python")
    message = str(raised.value)
    assert message.startswith("bottle has no wheel for CPython 3.12 on manylinux x86_64 (the lambda runtime) (asked as")
    assert list(cache.iterdir()) == []


def test_a_source_without_a_hash_is_refused():
    item = {
        "metadata": {"name": "mine", "version": "1.0"},
        "download_info": {"url": "file:///src/mine", "dir_info": {}},
    }
    with pytest.raises(app_lock.AppLockError, match=r"mine 1\.0 comes from file:///src/mine, which is not a released"):
        app_lock.report_entry(item)


def test_a_report_that_is_not_json_says_what_pip_said(tmp_path, files):
    def broken(argv, environ_update):
        return 0, "Looking in indexes: ...\n{", "WARNING: something\n"

    with pytest.raises(app_lock.AppLockError, match=r"pip's report was not JSON.*WARNING: something"):
        app_lock.ensure_lock([files["app"]], targets(files), str(tmp_path), [], broken, "python")
