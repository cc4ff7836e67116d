"""Unit tests of plugins/module_utils/lambda_zip.py: determinism, exclusion, vendoring cache (pip faked here).

pip itself is replaced by ``FakePip``, which writes what ``pip install --target`` writes (a module, a
``*.dist-info`` with machine-specific RECORD/INSTALLER/REQUESTED files and a ``bin/`` script); the real pip
runs in tests/integration/test_lambda_zip.py.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import stat
import sys
import zipfile

import pytest

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.module_utils import lambda_zip as lz

APP_SOURCES = {
    "app.py": "import bottle\napp = bottle.Bottle()\n",
    "pkg/__init__.py": "",
    "pkg/helpers.py": "VALUE = 1\n",
    "Dockerfile": "FROM scratch\n",
    "serve.py": "# an app module of that name is the app's, not a server to leave out\n",
    "requirements.txt": "bottle\n",
    ".dockerignore": "*\n",
    "tests/test_app.py": "def test(): pass\n",
    "__pycache__/app.cpython-312.pyc": "compiled",
    "pkg/__pycache__/helpers.cpython-312.pyc": "compiled",
}


class FakePip:
    """Stands in for ``python -m pip install --target DIR ...``; records each call."""

    def __init__(self, rc=0, extra_files=None, machine="controller-a"):
        self.calls = []
        self.rc = rc
        self.extra_files = extra_files or {}
        self.machine = machine

    def __call__(self, argv, environ_update):
        self.calls.append(argv)
        if self.rc:
            return self.rc, "", "ERROR: No matching distribution found for nothing-here"
        target = argv[argv.index("--target") + 1]
        files = {
            "bottle.py": "# bottle\n",
            "bottle-0.13.4.dist-info/METADATA": "Name: bottle\nVersion: 0.13.4\n",
            "bottle-0.13.4.dist-info/RECORD": f"bottle.py,sha256=x,9\n../../bin/bottle.py,{self.machine}\n",
            "bottle-0.13.4.dist-info/INSTALLER": "pip\n",
            "bottle-0.13.4.dist-info/REQUESTED": "",
            "bottle-0.13.4.dist-info/direct_url.json": f'{{"url": "file:///{self.machine}"}}',
            "bin/bottle.py": f"#!/home/{self.machine}/.venv/bin/python\n",
            **self.extra_files,
        }
        write_tree(target, files)
        return 0, "Successfully installed bottle-0.13.4", ""


def write_tree(root, files):
    for relative, content in files.items():
        path = os.path.join(root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(content)


def build(src, cache_dir, requirements=("bottle>=0.13,<0.14",), run_command=None, exclude=None, extra_files=()):
    data, _vendored, _vendor_dir = lz.build_package(
        src=str(src),
        requirements=list(requirements),
        exclude=lz.DEFAULT_EXCLUDE if exclude is None else exclude,
        cache_dir=str(cache_dir),
        python_version="3.12",
        pip_args=[],
        run_command=run_command or FakePip(),
        python=sys.executable,
        extra_files=[str(path) for path in extra_files],
    )
    return data


@pytest.fixture
def src(tmp_path):
    root = tmp_path / "src"
    write_tree(root, APP_SOURCES)
    return root


def names(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [info.filename for info in archive.infolist()]


def test_same_sources_give_the_same_bytes_whatever_the_file_times_modes_and_machine(tmp_path, src):
    first = build(src, tmp_path / "cache-a", run_command=FakePip(machine="controller-a"))

    copy = tmp_path / "copy"
    shutil.copytree(src, copy)
    for path in copy.rglob("*"):
        os.utime(path, (1_900_000_000, 1_900_000_000))
    (copy / "app.py").chmod(0o700)
    second = build(copy, tmp_path / "cache-b", run_command=FakePip(machine="controller-b"))

    assert first == second


def test_a_changed_source_changes_the_zip(tmp_path, src):
    before = build(src, tmp_path / "cache")
    (src / "pkg" / "helpers.py").write_text("VALUE = 2\n")
    assert build(src, tmp_path / "cache") != before


def test_entries_are_sorted_dated_1980_with_fixed_modes_and_directory_entries(tmp_path, src):
    data = build(src, tmp_path / "cache")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
    listed = [info.filename for info in infos]

    assert listed == sorted(listed)
    assert {"pkg/", "bottle-0.13.4.dist-info/"} <= set(listed)
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        mode = info.external_attr >> 16
        if info.filename.endswith("/"):
            assert (stat.S_ISDIR(mode), stat.S_IMODE(mode)) == (True, 0o755)
        else:
            assert (stat.S_ISREG(mode), stat.S_IMODE(mode)) == (True, 0o644)
            assert info.compress_type == zipfile.ZIP_DEFLATED


def test_only_the_runtime_files_go_in(tmp_path, src):
    assert set(names(build(src, tmp_path / "cache"))) == {
        "app.py",
        "pkg/",
        "pkg/__init__.py",
        "pkg/helpers.py",
        "serve.py",
        "bottle.py",
        "bottle-0.13.4.dist-info/",
        "bottle-0.13.4.dist-info/METADATA",
    }


def test_bytecode_is_excluded_even_when_exclude_is_empty(tmp_path, src):
    listed = names(build(src, tmp_path / "cache", exclude=[]))
    assert "Dockerfile" in listed and "tests/test_app.py" in listed
    assert not [name for name in listed if "__pycache__" in name or name.endswith(".pyc")]


@pytest.mark.parametrize(
    ("relative", "patterns", "excluded"),
    [
        ("pkg/tests/test_x.py", ["tests"], True),
        ("pkg/data/table.csv", ["pkg/data/*.csv"], True),
        ("pkg/data/table.csv", ["*.json"], False),
        ("README.md", ["readme.md"], False),  # case-sensitive
        ("deep/__pycache__/x.cpython-312.pyc", [], True),
    ],
)
def test_exclude_patterns_match_the_whole_path_or_one_component(relative, patterns, excluded):
    assert lz.is_excluded(relative, patterns) is excluded


def test_requirements_are_installed_once_per_set(tmp_path, src):
    pip = FakePip()
    build(src, tmp_path / "cache", requirements=["b", "a"], run_command=pip)
    build(src, tmp_path / "cache", requirements=["a", "b"], run_command=pip)  # same set, other order
    assert len(pip.calls) == 1
    build(src, tmp_path / "cache", requirements=["a", "b", "c"], run_command=pip)
    assert len(pip.calls) == 2
    assert not [name for name in os.listdir(tmp_path / "cache") if name.startswith(".")]  # no staging left


def test_pip_is_asked_for_wheels_of_the_lambda_runtime_whatever_the_controller_is():
    argv = lz.pip_command("/usr/bin/python3", "/tmp/t", ["b", "a", "a"], "3.12", ["--no-index"])
    assert argv[:4] == ["/usr/bin/python3", "-m", "pip", "install"]
    assert argv[argv.index("--target") + 1] == "/tmp/t"
    assert "--no-compile" in argv and "--only-binary=:all:" in argv  # never an sdist built for the controller
    assert argv[argv.index("--implementation") + 1] == "cp"
    assert argv[argv.index("--python-version") + 1] == "3.12"
    values = {
        option: [argv[i + 1] for i, item in enumerate(argv) if item == option] for option in ("--abi", "--platform")
    }
    assert values["--abi"] == ["cp312", "abi3", "none"]
    # Amazon Linux 2023 (glibc 2.34): every manylinux wheel from glibc 2.17 to 2.34 runs there, no later one.
    assert {"manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64"} <= set(
        values["--platform"]
    )
    assert "manylinux_2_35_x86_64" not in values["--platform"]
    assert argv[-3:] == ["--no-index", "a", "b"]


def test_pip_selects_arm_wheels_for_arm64_and_refuses_an_unknown_architecture():
    argv = lz.pip_command("python", "/tmp/t", ["a"], "3.13", [], "arm64")
    platforms = [argv[i + 1] for i, item in enumerate(argv) if item == "--platform"]
    assert platforms and all(tag.endswith("_aarch64") for tag in platforms)
    assert "cp313" in argv
    with pytest.raises(
        lz.LambdaZipError, match=r"architecture 'sparc' is not a Lambda architecture; use one of x86_64, arm64"
    ):
        lz.pip_command("python", "/tmp/t", ["a"], "3.12", [], "sparc")


def test_pip_for_the_controller_itself_has_no_platform_options():
    argv = lz.pip_command("python", "/tmp/t", ["a"], None, [])
    assert not {"--platform", "--abi", "--implementation", "--python-version"} & set(argv)


def test_cache_key_depends_on_the_set_the_python_and_pip_options_only():
    key = lz.requirements_key(["a", "b"], "3.12", [])
    assert key == lz.requirements_key([" b", "a ", "a"], "3.12", [])
    assert key != lz.requirements_key(["a", "b"], "3.13", [])
    assert key != lz.requirements_key(["a", "b"], "3.12", ["--no-index"])
    assert key != lz.requirements_key(["a"], "3.12", [])
    assert key != lz.requirements_key(["a", "b"], "3.12", [], "arm64")
    assert key != lz.requirements_key(["a", "b"], None, [])  # the controller's own Python: another set


def test_pip_failure_is_one_clear_error_and_leaves_no_cache_entry(tmp_path, src):
    with pytest.raises(lz.LambdaZipError, match=r"pip could not vendor nothing-here.*No matching distribution"):
        build(src, tmp_path / "cache", requirements=["nothing-here"], run_command=FakePip(rc=1))
    assert os.listdir(tmp_path / "cache") == []


def test_compiled_extensions_of_the_lambda_platform_are_packaged(tmp_path, src):
    pip = FakePip(extra_files={"fast/_speedups.cpython-312-x86_64-linux-gnu.so": "ELF"})
    listed = names(build(src, tmp_path / "cache", run_command=pip))
    assert "fast/_speedups.cpython-312-x86_64-linux-gnu.so" in listed


def test_a_package_over_lambdas_size_limits_is_refused_with_its_sizes(tmp_path, src, monkeypatch):
    (src / "data.bin").write_bytes(os.urandom(64 * 1024))
    monkeypatch.setattr(lz, "MAX_ZIPPED_BYTES", 32 * 1024)
    with pytest.raises(lz.LambdaZipError, match=r"zipped.*Lambda takes at most 0 MB zipped.*largest files: data\.bin"):
        build(src, tmp_path / "cache", requirements=())
    monkeypatch.setattr(lz, "MAX_ZIPPED_BYTES", 50 * 1024 * 1024)
    monkeypatch.setattr(lz, "MAX_UNZIPPED_BYTES", 16 * 1024)
    with pytest.raises(lz.LambdaZipError, match=r"unzipped"):
        build(src, tmp_path / "cache", requirements=())


def test_a_source_file_that_a_requirement_also_provides_is_refused(tmp_path, src):
    (src / "bottle.py").write_text("# my own bottle\n")
    with pytest.raises(lz.LambdaZipError, match=r"bottle\.py is both in src and in the vendored requirements"):
        build(src, tmp_path / "cache")


def test_extra_files_go_to_the_zip_root_under_their_names_and_keep_the_zip_reproducible(tmp_path, src):
    shared = tmp_path / "elsewhere" / "deep"
    write_tree(shared, {"codec.py": "X = 1\n", "tests/test_codec.py": "def test(): pass\n"})
    without = build(src, tmp_path / "cache")
    first = build(src, tmp_path / "cache", extra_files=[shared / "codec.py", shared / "tests" / "test_codec.py"])

    assert set(names(first)) == set(names(without)) | {"codec.py", "test_codec.py"}, "named files skip exclude"
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.read("codec.py") == b"X = 1\n"
        info = archive.getinfo("codec.py")
        assert (info.date_time, info.external_attr >> 16) == (lz.ZIP_DATE, stat.S_IFREG | lz.FILE_MODE)

    os.utime(shared / "codec.py", (1_900_000_000, 1_900_000_000))
    (shared / "codec.py").chmod(0o700)
    again = build(src, tmp_path / "cache", extra_files=[shared / "codec.py", shared / "tests" / "test_codec.py"])
    assert again == first, "a re-run gives the same bytes"


def test_extra_files_that_clash_or_are_missing_are_refused(tmp_path, src):
    (tmp_path / "app.py").write_text("# another app\n")
    with pytest.raises(lz.LambdaZipError, match=r"app\.py is in extra_files and also in src"):
        build(src, tmp_path / "cache", extra_files=[tmp_path / "app.py"])
    (tmp_path / "bottle.py").write_text("# my own bottle\n")
    with pytest.raises(lz.LambdaZipError, match=r"bottle\.py is in extra_files and also in src or the vendored"):
        build(src, tmp_path / "cache", extra_files=[tmp_path / "bottle.py"])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "app.py").write_text("")
    with pytest.raises(lz.LambdaZipError, match=r"two extra files are named app\.py"):
        build(
            src, tmp_path / "cache", requirements=(), extra_files=[tmp_path / "other" / "app.py", tmp_path / "app.py"]
        )
    with pytest.raises(lz.LambdaZipError, match=r"extra file .*absent\.py is not a file"):
        build(src, tmp_path / "cache", extra_files=[tmp_path / "absent.py"])


def test_missing_or_empty_src_is_refused(tmp_path):
    with pytest.raises(lz.LambdaZipError, match="is not a directory"):
        build(tmp_path / "absent", tmp_path / "cache", requirements=())
    (tmp_path / "only-tests" / "tests").mkdir(parents=True)
    (tmp_path / "only-tests" / "tests" / "test_x.py").write_text("")
    with pytest.raises(lz.LambdaZipError, match="holds nothing to package: no Python file once exclude patterns"):
        build(tmp_path / "only-tests", tmp_path / "cache", requirements=())


def test_a_directory_of_requirements_only_packs_them_alone(tmp_path):
    """An app that is a package of the index (httpbin's app:app) has nothing of its own but its requirements."""
    src = tmp_path / "only-requirements"
    write_tree(src, {"requirements.txt": "bottle\n"})
    assert lz.app_layout(str(src), has_requirements=True) == "requirements"
    assert set(names(build(src, tmp_path / "cache"))) == {
        "bottle.py",
        "bottle-0.13.4.dist-info/",
        "bottle-0.13.4.dist-info/METADATA",
    }


@pytest.mark.parametrize(
    ("files", "project"),
    [
        ({"setup.py": "from setuptools import setup\nsetup()\n"}, "setup.py"),
        ({"pyproject.toml": '[project]\nname = "orders"\nversion = "1.0"\n'}, "pyproject.toml"),
        ({"pyproject.toml": '[build-system]\nrequires = ["hatchling"]\n'}, "pyproject.toml"),
        ({"pyproject.toml": "[tool.ruff]\nline-length = 120\n", "app.py": ""}, None),
        ({"app.py": ""}, None),
    ],
    ids=["setup-py", "pyproject-project", "pyproject-build-system", "pyproject-of-tools-only", "modules"],
)
def test_a_python_project_is_a_setup_py_or_a_pyproject_with_a_project_or_build_system(tmp_path, files, project):
    write_tree(tmp_path, files)
    found = lz.app_project(str(tmp_path))
    assert (found and os.path.basename(found)) == project
    assert lz.app_layout(str(tmp_path), has_requirements=False) == ("package" if project else "files")


def test_a_pyproject_that_is_not_toml_is_refused_with_its_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project\n")
    with pytest.raises(lz.LambdaZipError, match=r"cannot read .*pyproject.toml: .*line 1"):
        lz.app_project(str(tmp_path))


def test_a_project_packs_its_wheel_from_the_lock_and_none_of_its_sources(tmp_path):
    src = tmp_path / "orders"
    write_tree(src, {"pyproject.toml": '[project]\nname = "orders"\n', "orders/__init__.py": "app = None\n"})
    lock = tmp_path / "lambda.txt"
    lock.write_text("orders==1.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    pip = FakePip(extra_files={"orders/__init__.py": "app = 'from the wheel'\n"})
    data, _, _ = lz.build_package(
        str(src), lz.LockFile(str(lock)), lz.DEFAULT_EXCLUDE, str(tmp_path / "cache"), "3.12", [], pip, "python"
    )
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.read("orders/__init__.py") == b"app = 'from the wheel'\n"  # no clash with the sources
        assert "pyproject.toml" not in archive.namelist()
    assert pip.calls[0][-3:] == ["--require-hashes", "-r", str(lock)]

    with pytest.raises(lz.LambdaZipError, match=r"is a Python project \(pyproject.toml\).*give requirements_lock"):
        build(src, tmp_path / "cache")


def test_requirements_file_follows_includes_and_refuses_pip_options(tmp_path):
    (tmp_path / "base.txt").write_text("# base\nbottle>=0.13,<0.14  # web\n\n-r more.txt\n")
    (tmp_path / "more.txt").write_text("apig-wsgi>=2.18,<3\n--requirement base.txt\n")
    assert lz.read_requirements_file(str(tmp_path / "base.txt")) == ["bottle>=0.13,<0.14", "apig-wsgi>=2.18,<3"]

    (tmp_path / "index.txt").write_text("--index-url https://example.com/simple\nbottle\n")
    with pytest.raises(lz.LambdaZipError, match=r"pip option .*--index-url.* pip_args"):
        lz.read_requirements_file(str(tmp_path / "index.txt"))
    with pytest.raises(lz.LambdaZipError, match="cannot read requirements file"):
        lz.read_requirements_file(str(tmp_path / "absent.txt"))


def test_the_repository_requirements_files_parse():
    from tests.support.ansible_run import ROOT

    # requirements/app.txt includes the demo app's file and the Lambda entry's, relative to itself.
    assert [line.split(">=")[0] for line in lz.read_requirements_file(str(ROOT / "requirements" / "app.txt"))] == [
        "bottle",
        "apig-wsgi",
        "mangum",
    ]


def test_digest_gives_lambdas_code_sha256():
    data = b"zip bytes"
    result = lz.digest(data)
    assert result["sha256"] == hashlib.sha256(data).hexdigest()
    assert base64.b64decode(result["code_sha256"]) == hashlib.sha256(data).digest()
    assert result["size"] == len(data)


def test_zip_listing_names_entries_with_their_crc_and_tolerates_non_zips(tmp_path, src):
    listing = lz.zip_listing(build(src, tmp_path / "cache"))
    assert listing["pkg/helpers.py"] == f"crc32:{zipfile.crc32(b'VALUE = 1\n'):08x}"
    assert lz.zip_listing(b"not a zip") is None


def test_vendored_distributions_are_named_from_dist_info(tmp_path):
    for name in ("bottle-0.13.4.dist-info", "apig_wsgi-2.20.0.dist-info", "apig_wsgi"):
        (tmp_path / name).mkdir()
    assert lz.vendored_distributions(str(tmp_path)) == ["apig_wsgi==2.20.0", "bottle==0.13.4"]
