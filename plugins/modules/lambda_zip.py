#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: lambda_zip
version_added: 0.1.0
short_description: Build a reproducible AWS Lambda deployment package (zip) from sources and pip requirements
description:
  - Packs the files of the directory O(src) and, optionally, pip requirements vendored into the zip root, into the
    zip file O(dest), for the C(Code.ZipFile) of a Lambda function.
  - The same inputs give the same bytes, so an unchanged function is not re-deployed. Entries are sorted, every
    entry is dated 1980-01-01 00:00:00, files have mode 0644 and directories 0755 (each directory has its own
    entry), and nothing that depends on the build machine or time is packaged (C(__pycache__), C(*.pyc),
    pip's C(bin/) scripts and the C(RECORD), C(INSTALLER), C(REQUESTED) and C(direct_url.json) files of
    C(*.dist-info) directories).
  - Requirements are installed with C(python -m pip install --target) of the Python that runs this module,
    C(--no-compile), as wheels for the Lambda runtime whatever the controller is, that is pure-Python wheels and
    compiled ones for CPython O(python_version) on Amazon Linux 2023 (C(manylinux) for glibc 2.17 to 2.34) of
    O(architecture), never an sdist. They go into a directory of O(cache_dir) named by a hash of the requirement
    set, O(python_version), O(architecture) and O(pip_args). Later builds of the same set reuse that directory
    without running pip, so version ranges resolve once per cache. Pin exact versions (C(name==version)) for
    identical packages on different machines.
  - An O(src) with no Python file of its own (an app that is a package from an index, such as C(httpbin)) packs its
    other files, if any, and its requirements. An O(src) with no Python file and no requirements is refused.
  - An O(src) that is a Python project (a C(setup.py), or a C(pyproject.toml) with a C([build-system]) or C([project])
    table) packs none of its files; pip installs it as a package from O(requirements_lock), which must carry its
    wheel (M(spillover.lambda_ecs.app_lock) with C(src) builds it).
  - A package over Lambda's limits (50 MB zipped, 250 MB unzipped) is refused with its sizes and largest files.
  - O(dest) is only written when its bytes would change; when it already holds the same bytes the result is
    C(changed=false) and the file is left untouched.
  - This module runs where the task runs (usually the controller, with C(delegate_to=localhost)); it makes no AWS
    call. Compressed bytes depend on the zlib library, so machines with different zlib builds may produce
    different (equally valid) zips from the same inputs.
author:
  - spillover.lambda_ecs maintainers (@spillover)
options:
  src:
    description:
      - Directory whose files are packaged, at the root of the zip (C(src/app.py) becomes C(app.py)).
      - Symbolic links to files are packaged as the files they point to; links to directories are not followed.
    type: path
    required: true
  dest:
    description:
      - Path of the zip file to write. Missing parent directories are created.
    type: path
    required: true
  extra_files:
    description:
      - Files packed at the root of the zip under their own names, beside the files of O(src), for example a
        module that the function shares with other code without copying it into O(src).
      - O(exclude) does not apply to them. A name that O(src) or the vendored requirements also provide is
        refused, and so are two files of the same name.
    type: list
    elements: path
    default: []
  requirements:
    description:
      - pip requirement strings to vendor into the zip root, for example V(bottle>=0.13,<0.14).
      - Mutually exclusive with O(requirements_file) and O(requirements_lock).
    type: list
    elements: str
  requirements_file:
    description:
      - A pip requirements file, or a list of them, to vendor into the zip root as one requirement set (for
        example an app's own file and the file of the handler that serves it). C(-r)/C(--requirement) includes
        are followed; comments and blank lines are ignored; other pip options are refused (use O(pip_args)).
      - Mutually exclusive with O(requirements) and O(requirements_lock).
    type: list
    elements: path
  requirements_lock:
    description:
      - A complete lock to vendor exactly as it is (C(pip install --no-deps --require-hashes -r)), every package
        with its version and the hashes of its wheels, as M(spillover.lambda_ecs.app_lock) writes a runtime's share.
        Nothing is resolved, so the zip holds the lock's versions and wheels and no others.
      - The cache key is the lock's SHA-256 (with O(python_version), O(architecture) and O(pip_args)).
      - Mutually exclusive with O(requirements) and O(requirements_file).
    type: path
    version_added: 0.2.0
  exclude:
    description:
      - Glob patterns (C(fnmatch), case-sensitive) of paths not to package, from O(src) and from the vendored
        requirements. A pattern excludes a path when it matches the whole path relative to its root (for example
        V(pkg/data/*.csv)) or any one component of it (for example V(tests) excludes every C(tests) directory).
      - Setting this replaces the default list. C(__pycache__), C(*.pyc) and C(*.pyo) are always excluded.
    type: list
    elements: str
    default: [".*", "*.egg-info", "tests", "test_*.py", "conftest.py", "Dockerfile", "requirements*.txt"]
  cache_dir:
    description:
      - Directory of the vendored requirement sets, one subdirectory per set. Safe to share between builds and
        to delete at any time (the next build runs pip again).
    type: path
    default: ~/.cache/spillover.lambda_ecs/lambda_zip
  python_version:
    description:
      - Python version (C(major.minor)) of the Lambda runtime, for which pip selects the requirement versions
        and wheels (C(pip --python-version)).
    type: str
    default: "3.12"
  architecture:
    description:
      - Instruction set of the Lambda function, for which compiled wheels are selected.
    type: str
    choices: [x86_64, arm64]
    default: x86_64
  pip_args:
    description:
      - Extra arguments for C(pip install), for example V([--index-url, https://pypi.example.com/simple]) or
        V([--no-index, --find-links, /srv/wheels]). They are part of the cache key.
    type: list
    elements: str
    default: []
notes:
  - Supports check mode and diff mode. In check mode O(dest) is never written, but a requirement set that is not
    in O(cache_dir) yet is still installed there, since the checksum of the zip cannot be known without it.
  - The diff lists the zip entries with their CRC-32 before and after.
seealso:
  - module: amazon.aws.lambda
"""

EXAMPLES = r"""
- name: Package the app with Bottle and apig-wsgi vendored, and the collection's handler beside it
  spillover.lambda_ecs.lambda_zip:
    src: "{{ role_path }}/../../files/app"
    requirements:
      - bottle>=0.13.0,<0.14.0
      - apig-wsgi>=2.18.0,<3.0.0
    extra_files:
      - "{{ role_path }}/../../files/lambda_entry/spillover_entry.py"
    dest: "{{ playbook_dir }}/build/lambda/app.zip"
  delegate_to: localhost
  register: app_zip

- name: Deploy the package; an unchanged zip has the same checksum and leaves the function alone
  amazon.aws.lambda:
    name: app
    runtime: python3.12
    handler: spillover_entry.handler
    role: "{{ lambda_role_arn }}"
    environment_variables:
      APP_CALLABLE: app:app
      APP_INTERFACE: wsgi
    zip_file: "{{ app_zip.dest }}"

- name: Package the scaler with the collection's forward-action codec and target-health counting beside it
  spillover.lambda_ecs.lambda_zip:
    src: "{{ role_path }}/../../files/scaler"
    extra_files:
      - "{{ role_path }}/../../plugins/module_utils/forward_action.py"
      - "{{ role_path }}/../../plugins/module_utils/target_health.py"
    dest: /tmp/scaler.zip

- name: Vendor an app's requirements (FastAPI's compiled pydantic-core too) and the handler's, for arm64
  spillover.lambda_ecs.lambda_zip:
    src: examples/fastapi
    requirements_file:
      - examples/fastapi/requirements.txt
      - "{{ role_path }}/../../files/lambda_entry/requirements-asgi.txt"
    extra_files:
      - "{{ role_path }}/../../files/lambda_entry/spillover_entry.py"
    architecture: arm64
    dest: build/api.zip

- name: Vendor exactly the Lambda share of the app's lock (spillover.lambda_ecs.app_lock)
  spillover.lambda_ecs.lambda_zip:
    src: examples/flask
    requirements_lock: "{{ app_lock.lambda.requirements }}"
    extra_files:
      - "{{ role_path }}/../../files/lambda_entry/spillover_entry.py"
    dest: build/flask.zip

- name: Vendor from a requirements file through a private index
  spillover.lambda_ecs.lambda_zip:
    src: files/app
    requirements_file: files/app/requirements.txt
    pip_args: [--index-url, "https://pypi.example.com/simple"]
    dest: build/app.zip
"""

RETURN = r"""
dest:
  description: Path of the zip file.
  returned: always
  type: str
  sample: /home/user/build/lambda/app.zip
sha256:
  description: SHA-256 of the zip, hexadecimal.
  returned: always
  type: str
  sample: 6e1f8f2f3b3d4b7f0a0c5d0e9c1b2a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b
code_sha256:
  description: SHA-256 of the zip, base64-encoded, as AWS Lambda reports it in C(CodeSha256).
  returned: always
  type: str
  sample: bh+PLzs9S38KDF0OnBsqP05dbHuKnw4dLDtKX2590Js=
size:
  description: Size of the zip in bytes.
  returned: always
  type: int
  sample: 118243
entries:
  description: Number of entries (files and directories) in the zip.
  returned: always
  type: int
  sample: 21
vendored:
  description: The distributions vendored from the requirements, as C(name==version).
  returned: always
  type: list
  elements: str
  sample: ["apig_wsgi==2.20.0", "bottle==0.13.4"]
requirements_dir:
  description: The cache directory the requirements were vendored from; null without requirements.
  returned: always
  type: str
  sample: /home/user/.cache/spillover.lambda_ecs/lambda_zip/0b6f2a...
"""

import os
import sys

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_zip import DEFAULT_EXCLUDE
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_zip import LockFile
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_zip import LambdaZipError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_zip import build_package
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_zip import digest
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_zip import read_requirements_file
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_zip import zip_listing


def read_existing(path):
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as handle:
        return handle.read()


def write_atomically(module, path, data):
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    staging = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(staging, "wb") as handle:
        handle.write(data)
    os.chmod(staging, 0o644)
    module.atomic_move(staging, path)


def ensure_zip(module):
    """Build the zip and write it when its bytes change; returns ``(changed, result, diff)``."""
    params = module.params
    dest = os.path.abspath(params["dest"])

    def run_command(argv, environ_update):
        return module.run_command(argv, environ_update=environ_update)

    try:
        requirements = params["requirements"] or []
        for path in params["requirements_file"] or []:
            requirements = requirements + read_requirements_file(path)
        if params["requirements_lock"]:
            requirements = LockFile(params["requirements_lock"])
        data, vendored, vendor_dir = build_package(
            src=params["src"],
            requirements=requirements,
            exclude=params["exclude"],
            cache_dir=params["cache_dir"],
            python_version=params["python_version"],
            pip_args=params["pip_args"],
            run_command=run_command,
            python=sys.executable,
            extra_files=params["extra_files"],
            architecture=params["architecture"],
        )
    except LambdaZipError as error:
        raise SpilloverError(str(error)) from error
    try:
        existing = read_existing(dest)
        changed = existing != data
        if changed and not module.check_mode:
            write_atomically(module, dest, data)
    except OSError as error:
        raise SpilloverError(f"cannot write {dest}: {error}") from error

    result = dict(dest=dest, entries=len(zip_listing(data)), vendored=vendored, requirements_dir=vendor_dir)
    result.update(digest(data))
    before = {"entries": zip_listing(existing)} if existing is not None else {}
    if existing is not None:
        before.update(digest(existing))
    after = {"entries": zip_listing(data)}
    after.update(digest(data))
    return changed, result, {"before": before, "after": after, "before_header": dest, "after_header": dest}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type="path", required=True),
            dest=dict(type="path", required=True),
            extra_files=dict(type="list", elements="path", default=[]),
            requirements=dict(type="list", elements="str"),
            requirements_file=dict(type="list", elements="path"),
            requirements_lock=dict(type="path"),
            exclude=dict(type="list", elements="str", default=list(DEFAULT_EXCLUDE)),
            cache_dir=dict(type="path", default="~/.cache/spillover.lambda_ecs/lambda_zip"),
            python_version=dict(type="str", default="3.12"),
            architecture=dict(type="str", default="x86_64", choices=["x86_64", "arm64"]),
            pip_args=dict(type="list", elements="str", default=[]),
        ),
        mutually_exclusive=[["requirements", "requirements_file", "requirements_lock"]],
        supports_check_mode=True,
    )
    run(module, lambda: ensure_zip(module))


if __name__ == "__main__":
    main()
