#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: app_lock
version_added: 0.2.0
short_description: Resolve an app's pip requirements once, into one lock for its Lambda zip and its image
description:
  - Resolves the app's requirements (O(requirements_file)) with every runtime's own (O(lambda.requirements_file),
    O(image.requirements_file)) once, with pip, for the function's platform (the first of O(lambda) and O(image)
    given), that is CPython of that C(python_version), manylinux, of that architecture. Each runtime's share is then
    read for its own platform, held to exactly those versions, so the zip and the image install the same versions.
  - Writes the lock (C(name==version) and the SHA-256 of every wheel, with the runtimes that need each package)
    and each runtime's share into a directory of O(cache_dir) named by a hash of everything that decides them, the
    requirement files' bytes (with their includes), the targets, the collection's pinned versions and O(pip_args).
    An unchanged input finds its lock there and runs no pip.
  - Wheels only (C(--only-binary=:all:)). A requirement with no wheel for a runtime's platform fails with the
    package's name and the platform, before anything is built or deployed.
  - A runtime requirements file with a C(.lock) file beside it (the collection's own, written by C(make lock)) is
    held at that lock's versions of the packages it names.
  - With O(src), an app directory that is a Python project (a C(setup.py), or a C(pyproject.toml) with a
    C([build-system]) or C([project]) table) is built into a wheel (C(pip wheel --no-deps), on a copy of its sources,
    with C(SOURCE_DATE_EPOCH) at 1980-01-01), which must be pure Python, and locked with its dependencies. The lock
    keeps that wheel in C(wheels/) beside itself, and each share finds it there (C(--find-links wheels)). A change of
    the project's sources is a new lock.
  - With O(src), a directory that holds no Python file (once M(spillover.lambda_ecs.lambda_zip)'s default excludes
    apply), has no requirements and is no Python project is refused.
  - pip's report is read from its standard output only; pip's warnings, on standard error, never reach the parse.
  - Runs where the task runs (usually the controller); makes no AWS call.
author:
  - spillover.lambda_ecs maintainers (@spillover)
options:
  src:
    description:
      - The app's directory. A Python project there is built into a wheel and locked; see the description.
      - Without it, only the requirement files are locked.
    type: path
  requirements_file:
    description:
      - The app's pip requirements files, as one set. Any pip requirements file works (C(-r)/C(-c) includes, index
        options); pin or hash versions there to hold them across machines.
    type: list
    elements: path
    default: []
  lambda:
    description:
      - The Lambda runtime. Given, it decides the versions.
    type: dict
    suboptions:
      requirements_file:
        description: The requirement files of the collection's Lambda entry for the app's interface.
        type: list
        elements: path
        default: []
      python_version:
        description: The function's Python version (C(major.minor)).
        type: str
        default: "3.12"
      architecture:
        description: The function's instruction set.
        type: str
        choices: [x86_64, arm64]
        default: x86_64
  image:
    description:
      - The container image. Its base image must run the same Python as O(image.python_version).
    type: dict
    suboptions:
      requirements_file:
        description: The requirement files of the image's server.
        type: list
        elements: path
        default: []
      python_version:
        description: The image's Python version (C(major.minor)); the function's, for one set of wheels.
        type: str
        default: "3.12"
      platform:
        description: The image's platform.
        type: str
        choices: [linux/amd64, linux/arm64]
        default: linux/amd64
  cache_dir:
    description:
      - Directory of the locks, one subdirectory per input. Safe to delete (the next run resolves again).
    type: path
    default: ~/.cache/spillover.lambda_ecs/app_lock
  pip_args:
    description:
      - Extra arguments for pip, for example V([--index-url, https://pypi.example.com/simple]). Part of the key.
    type: list
    elements: str
    default: []
notes:
  - Supports check mode. A lock that is not in O(cache_dir) yet is still written there in check mode, since what
    the runtimes would install cannot be known without it. RV(ignore:changed) says a new lock was written.
seealso:
  - module: spillover.lambda_ecs.lambda_zip
"""

EXAMPLES = r"""
- name: Lock the app for both runtimes
  spillover.lambda_ecs.app_lock:
    requirements_file: [examples/flask/requirements.txt]
    lambda:
      requirements_file: ["{{ collection_files }}/lambda_entry/requirements-wsgi.txt"]
      python_version: "3.12"
      architecture: x86_64
    image:
      requirements_file: ["{{ collection_files }}/container/requirements.txt"]
      python_version: "3.12"
      platform: linux/amd64
  delegate_to: localhost
  register: app_lock

- name: Lock an app that is a Python project (pyproject.toml), its wheel with its dependencies
  spillover.lambda_ecs.app_lock:
    src: services/orders
    lambda:
      requirements_file: ["{{ collection_files }}/lambda_entry/requirements-wsgi.txt"]
  delegate_to: localhost

- name: Vendor exactly the lambda's share into the zip
  spillover.lambda_ecs.lambda_zip:
    src: examples/flask
    requirements_lock: "{{ app_lock.lambda.requirements }}"
    dest: build/app.zip
"""

RETURN = r"""
problem:
  description: On failure, what is at fault, V(src) (the app's directory or its project) or V(requirements).
  returned: on failure
  type: str
  sample: src
lock:
  description: Path of the lock file.
  returned: always
  type: str
  sample: /home/user/.cache/spillover.lambda_ecs/app_lock/4164fa96.../requirements.lock
lock_sha256:
  description: SHA-256 of the lock file, hexadecimal.
  returned: always
  type: str
  sample: d637daf68db528b56598f885eb7fe4c526714f1118cf434919316ead3a1f0979
layout:
  description:
    - How the app in O(src) is deployed, V(files) (its files, with its requirements), V(requirements) (no file to
      package, only requirements, such as an app that is a package from an index) or V(package) (a Python project
      installed from its wheel; its sources are not deployed); null without O(src).
  returned: always
  type: str
  sample: package
project:
  description: The app's own project (its canonical name, version and wheel in the lock's directory); null without.
  returned: always
  type: dict
  sample: {"name": "orders", "version": "1.4.0",
           "wheel": "/home/user/.cache/spillover.lambda_ecs/app_lock/4164fa96.../wheels/orders-1.4.0-py3-none-any.whl"}
packages:
  description: The locked version of every package, by canonical name.
  returned: always
  type: dict
  sample: {"apig-wsgi": "2.20.0", "bottle": "0.13.5", "click": "8.5.1", "granian": "2.8.9"}
lambda:
  description:
    - The Lambda runtime's share, C(requirements) a file for C(pip install --no-deps --require-hashes -r), C(pins)
      the same versions without hashes (for a pip on another platform, such as the controller's), and C(packages)
      its versions.
  returned: when O(lambda) is given
  type: dict
  sample: {"requirements": "/home/user/.cache/spillover.lambda_ecs/app_lock/4164fa96.../lambda.txt",
           "pins": "/home/user/.cache/spillover.lambda_ecs/app_lock/4164fa96.../lambda-pins.txt",
           "packages": {"apig-wsgi": "2.20.0", "bottle": "0.13.5"}}
image:
  description: The image's share, like RV(lambda).
  returned: when O(image) is given
  type: dict
  sample: {"requirements": "/home/user/.cache/spillover.lambda_ecs/app_lock/4164fa96.../image.txt",
           "pins": "/home/user/.cache/spillover.lambda_ecs/app_lock/4164fa96.../image-pins.txt",
           "packages": {"bottle": "0.13.5", "click": "8.5.1", "granian": "2.8.9"}}
"""

import sys

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.app_lock import PLATFORM_ARCHITECTURES
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.app_lock import AppLockError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.app_lock import ensure_lock
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run


def targets_of(params):
    """The runtimes to lock for, the function's first: its platform decides the versions."""
    targets = []
    if params["lambda"] is not None:
        targets.append(dict(params["lambda"], name="lambda"))
    if params["image"] is not None:
        image = dict(params["image"], name="image")
        image["architecture"] = PLATFORM_ARCHITECTURES[image.pop("platform")]
        targets.append(image)
    return targets


def lock_app(module):
    params = module.params

    def run_command(argv, environ_update):
        return module.run_command(argv, environ_update=environ_update)

    targets = targets_of(params)
    if not targets:
        raise SpilloverError("give lambda, image or both: the runtimes the lock is for")
    try:
        changed, result = ensure_lock(
            params["requirements_file"],
            targets,
            params["cache_dir"],
            params["pip_args"],
            run_command,
            sys.executable,
            src=params["src"],
        )
    except AppLockError as error:
        raise SpilloverError(str(error), problem=error.problem) from error
    result.update(result.pop("targets"))
    return changed, result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type="path"),
            requirements_file=dict(type="list", elements="path", default=[]),
            cache_dir=dict(type="path", default="~/.cache/spillover.lambda_ecs/app_lock"),
            pip_args=dict(type="list", elements="str", default=[]),
            **{
                "lambda": dict(
                    type="dict",
                    options=dict(
                        requirements_file=dict(type="list", elements="path", default=[]),
                        python_version=dict(type="str", default="3.12"),
                        architecture=dict(type="str", default="x86_64", choices=["x86_64", "arm64"]),
                    ),
                ),
                "image": dict(
                    type="dict",
                    options=dict(
                        requirements_file=dict(type="list", elements="path", default=[]),
                        python_version=dict(type="str", default="3.12"),
                        platform=dict(type="str", default="linux/amd64", choices=sorted(PLATFORM_ARCHITECTURES)),
                    ),
                ),
            },
        ),
        supports_check_mode=True,
    )
    run(module, lambda: lock_app(module))


if __name__ == "__main__":
    main()
