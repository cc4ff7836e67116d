"""Unit tests of plugins/module_utils/app_lock.py: one resolution, each runtime's share, the cache, the errors.

pip is replaced by ``FakeIndex``, which answers ``pip install --dry-run --report -`` as pip does (the report on
stdout, warnings on stderr) from a small made-up index, and ``pip wheel`` of a project with a wheel of its sources;
the real pip runs in tests/integration/test_lambda_zip_module.py.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
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


# The dependencies of the app's own project (a wheel file given to pip, not a package of the index).
PROJECT_DEPENDENCIES = {"orders": {"bottle"}}


class FakeIndex:
    """``python -m pip install --dry-run --report - -r FILE... [-c FILE] [WHEEL...] --platform ...``, and ``python -m
    pip wheel --no-deps --wheel-dir DIR PROJECT``, recorded."""

    def __init__(self, missing=(), wheel_tags="py3-none-any"):
        self.calls = []
        self.built = []  # (the project directory pip built, its environment) of each pip wheel
        self.held = []  # the pins each call was held to (-c)
        self.missing = set(missing)
        self.wheel_tags = wheel_tags

    def build_wheel(self, argv, environ_update):
        """A wheel whose bytes are the project's sources, as a reproducible build gives."""
        project, wheel_dir = Path(argv[-1]), Path(argv[argv.index("--wheel-dir") + 1])
        self.built.append((project, environ_update))
        sources = sorted(path for path in project.rglob("*") if path.is_file())
        content = b"".join(path.relative_to(project).as_posix().encode() + path.read_bytes() for path in sources)
        wheel_dir.mkdir(parents=True, exist_ok=True)
        (wheel_dir / f"orders-1.4.0-{self.wheel_tags}.whl").write_bytes(content)
        return 0, "Successfully built orders", ""

    def __call__(self, argv, environ_update):
        self.calls.append(argv)
        if argv[3] == "wheel":
            return self.build_wheel(argv, environ_update)
        assert argv[argv.index("--report") + 1] == "-" and "--dry-run" in argv and "--quiet" in argv
        architecture = "arm64" if any("aarch64" in word for word in argv) else "x86_64"
        wanted, held = [], {}
        files = {}  # name: (version, sha256) of the wheel files given
        for word in argv:
            if word.endswith(".whl"):
                name, version = os.path.basename(word).split("-")[:2]
                files[name] = (version, hashlib.sha256(Path(word).read_bytes()).hexdigest())
                wanted.append(name)
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
            if name in files:
                resolved[name] = files[name]
                queue += sorted(PROJECT_DEPENDENCIES[name] - set(resolved))
                continue
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


def write_tree(root, files):
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(root)


ORDERS = {
    "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\n[project]\nname = "orders"\nversion = "1.4.0"\n',
    "src/orders/__init__.py": "app = None\n",
    "src/orders/static/logo.svg": "<svg/>\n",
    # What tools and an earlier build left in the directory: not the project's sources.
    "build/lib/orders/__init__.py": "stale\n",
    "src/orders.egg-info/PKG-INFO": "stale\n",
    ".venv/bin/python": "",
    "src/orders/__pycache__/__init__.cpython-312.pyc": "compiled",
}


def test_a_project_is_built_once_into_a_wheel_that_both_shares_install_from_beside_the_lock(tmp_path, files):
    src = write_tree(tmp_path / "orders", ORDERS)
    pip = FakeIndex()
    changed, result = app_lock.ensure_lock([], targets(files), str(tmp_path / "cache"), [], pip, "python", src=src)
    assert changed and result["layout"] == "package"
    # pip built a copy of the sources, without the leftovers, at the zip's time; the app's directory is untouched.
    [(built, environment)] = pip.built
    assert not str(built).startswith(src) and environment["SOURCE_DATE_EPOCH"] == "315532800"
    assert pip.calls[0][3:5] == ["wheel", "--no-deps"] and pip.calls[0][-1] == str(built)
    wheel = Path(result["project"]["wheel"])
    assert (result["project"]["name"], result["project"]["version"]) == ("orders", "1.4.0")
    assert wheel.parent == Path(result["lock"]).parent / "wheels"
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert b"build/lib" not in wheel.read_bytes() and b"stale" not in wheel.read_bytes()
    # The wheel is locked with its dependencies, for both runtimes, and each share finds it beside itself.
    assert result["targets"]["lambda"]["packages"] == {"apig-wsgi": "2.20.0", "bottle": "0.13.5", "orders": "1.4.0"}
    assert result["targets"]["image"]["packages"]["orders"] == "1.4.0"
    for share in (result["targets"]["lambda"]["requirements"], result["targets"]["image"]["requirements"]):
        text = read(share)
        assert "\n--find-links wheels\n" in text and f"orders==1.4.0 \\\n    --hash=sha256:{digest}\n" in text
    # A pip on another platform (the deploy check's) takes the wheel by its place.
    assert f"orders @ file://{wheel}\n" in read(result["targets"]["lambda"]["pins"])
    assert sorted(os.listdir(src)) == [".venv", "build", "pyproject.toml", "src"]

    again = FakeIndex()
    changed, same = app_lock.ensure_lock([], targets(files), str(tmp_path / "cache"), [], again, "python", src=src)
    assert (changed, again.calls, same["lock"]) == (False, [], result["lock"])
    (Path(src) / "build" / "lib" / "orders" / "__init__.py").write_text("another leftover\n")
    assert not app_lock.ensure_lock([], targets(files), str(tmp_path / "cache"), [], again, "python", src=src)[0]
    (Path(src) / "src" / "orders" / "static" / "logo.svg").write_text("<svg></svg>\n")
    changed, other = app_lock.ensure_lock(
        [], targets(files), str(tmp_path / "cache"), [], FakeIndex(), "python", src=src
    )
    assert changed and other["lock_sha256"] != result["lock_sha256"]


def test_a_project_that_builds_a_wheel_for_this_machine_only_is_refused(tmp_path, files):
    src = write_tree(tmp_path / "orders", ORDERS)
    pip = FakeIndex(wheel_tags="cp312-cp312-linux_x86_64")
    with pytest.raises(app_lock.AppLockError) as raised:
        app_lock.ensure_lock([], targets(files), str(tmp_path / "cache"), [], pip, "python", src=src)
    assert "builds orders-1.4.0-cp312-cp312-linux_x86_64.whl, a wheel for this machine only" in str(raised.value)
    assert raised.value.problem == "src" and list((tmp_path / "cache").iterdir()) == []


def test_a_project_that_does_not_build_shows_pips_words(tmp_path, files):
    src = write_tree(tmp_path / "orders", ORDERS)

    def failing(argv, environ_update):
        return 1, "", "error: Multiple top-level packages discovered in a flat-layout\n"

    with pytest.raises(app_lock.AppLockError, match=r"could not build the app's project in .*flat-layout") as raised:
        app_lock.ensure_lock([], targets(files), str(tmp_path / "cache"), [], failing, "python", src=src)
    assert raised.value.problem == "src"


@pytest.mark.parametrize(
    ("tree", "requirements", "layout"),
    [({"app.py": ""}, True, "files"), ({"requirements.txt": "bottle\n"}, True, "requirements")],
    ids=["files", "requirements-only"],
)
def test_the_layout_of_an_app_without_a_project_is_its_files_or_its_requirements(
    tmp_path, files, tree, requirements, layout
):
    src = write_tree(tmp_path / "app", tree)
    app = [files["app"]] if requirements else []
    _, result = app_lock.ensure_lock(app, targets(files), str(tmp_path / "cache"), [], FakeIndex(), "python", src=src)
    assert (result["layout"], result["project"]) == (layout, None)
    assert "--find-links" not in read(result["lock"])


def test_a_directory_with_no_code_no_requirements_and_no_project_is_refused_before_pip(tmp_path, files):
    src = write_tree(tmp_path / "app", {"README.md": "# nothing\n", "tests/test_app.py": ""})
    pip = FakeIndex()
    with pytest.raises(app_lock.AppLockError, match=r"holds nothing to package: no Python file .*requirements") as err:
        app_lock.ensure_lock([], targets(files), str(tmp_path / "cache"), [], pip, "python", src=src)
    assert (err.value.problem, pip.calls) == ("src", [])
