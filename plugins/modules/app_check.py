#!/usr/bin/python

# Copyright: Contributors to the spillover.lambda_ecs collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: app_check
version_added: 0.1.0
short_description: Check that a directory holds a WSGI or ASGI app that imports with its requirements and is healthy
description:
  - Before anything is deployed, checks the app the collection is about to put on Lambda and ECS, in a fresh
    interpreter that sees only the app's directory and its requirements (C(python -I -S)), as the runtimes will.
  - Installs O(requirements_file) with pip for the Python that runs this module, once per requirement set into
    O(cache_dir) (as M(spillover.lambda_ecs.lambda_zip) does for Lambda), then runs the collection's Lambda entry
    (C(spillover_entry.py check) in O(runtime_dir)) on the app. It imports O(callable), tells a WSGI callable
    C((environ, start_response)) from an ASGI one (a coroutine C((scope, receive, send))), and sends an ALB event
    C(GET) O(health_path) with the C(Host) header O(health_host) through the same handler the function runs.
  - With O(ecs_health_host), it then sends C(GET) O(health_path) as the load balancer's health check asks an ECS task,
    with that C(Host) (the task's private IP and the container's port) and no C(X-Forwarded-*) headers. An app that
    checks C(Host) headers (Django's C(ALLOWED_HOSTS)) must accept it on the health path, or no task ever turns
    healthy.
  - When O(src) is a Python project (a C(setup.py), or a C(pyproject.toml) with a C([build-system]) or C([project])
    table), its sources are not on the path. The app is imported from its wheel among O(requirements_file) (the
    lock's pins that M(spillover.lambda_ecs.app_lock) writes name it), as the zip and the image install it.
  - Fails when O(src) is not a directory, a requirements file is missing, the callable does not import (with the
    app's own traceback), is not of O(interface), or does not answer O(health_path) with 200 to either request.
    RV(problem) says which.
  - Runs where the task runs (usually the controller, with C(delegate_to=localhost)); makes no AWS call and changes
    nothing but the requirements cache.
author:
  - spillover.lambda_ecs maintainers (@spillover)
options:
  src:
    description: The app's directory (imported from, as the zip's root and the image's C(/var/task)).
    type: path
    required: true
  callable:
    description: The app's C(module:attribute); the attribute may be dotted.
    type: str
    required: true
  interface:
    description: The app's interface.
    type: str
    choices: [wsgi, asgi]
    required: true
  requirements_file:
    description:
      - pip requirements files installed for the check, as one set (the app's own and the Lambda entry's).
    type: list
    elements: path
    default: []
  runtime_dir:
    description: The directory of the collection's Lambda entry, C(spillover_entry.py).
    type: path
    required: true
  health_path:
    description: The path that must answer C(GET) with 200.
    type: str
    default: /health
  health_host:
    description:
      - The C(Host) header of the check's request, the one a client's request through the load balancer has (your
        domain, for an app that allows only its own).
    type: str
    default: spillover-check.invalid
  ecs_health_host:
    description:
      - The C(Host) header of a second request, as the load balancer's health check of an ECS task sends it (the
        task's private IP and port, such as V(10.0.1.10:8080)); empty for none.
    type: str
    default: ""
  cache_dir:
    description: Directory of the installed requirement sets, one subdirectory per set; safe to delete.
    type: path
    default: ~/.cache/spillover.lambda_ecs/lambda_zip
  pip_args:
    description: Extra arguments for C(pip install), for example a private index. Part of the cache key.
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds the check may take (the import and the health request), pip excepted.
    type: int
    default: 60
notes:
  - Supports check mode (it only reads, but for the requirements cache); never reports a change.
seealso:
  - module: spillover.lambda_ecs.lambda_zip
"""

EXAMPLES = r"""
- name: Check the FastAPI example before deploying it
  spillover.lambda_ecs.app_check:
    src: examples/fastapi
    callable: main:api
    interface: asgi
    requirements_file:
      - examples/fastapi/requirements.txt
      - "{{ role_path }}/../../files/lambda_entry/requirements-asgi.txt"
    runtime_dir: "{{ role_path }}/../../files/lambda_entry"
    health_path: /health
    health_host: api.example.com
    ecs_health_host: 10.0.1.10:8080
  delegate_to: localhost
"""

RETURN = r"""
interface:
  description: The interface the callable has (V(wsgi) or V(asgi)); the declared one when its signature says neither.
  returned: when the callable imported
  type: str
  sample: asgi
status:
  description: The status the health path answered.
  returned: when the health request was sent
  type: int
  sample: 200
problem:
  description:
    - What is wrong, on failure, V(src), V(requirements), V(callable), V(interface), V(health) (the request with
      O(health_host)) or V(ecs_health) (the request with O(ecs_health_host)); null on success.
  returned: always
  type: str
  sample: health
app_output:
  description: What the app and the check wrote to stderr (its traceback on an import error), at most 4000 characters.
  returned: always
  type: str
  sample: "Traceback (most recent call last): ..."
vendored:
  description: The distributions installed for the check, as C(name==version).
  returned: when the requirements were installed
  type: list
  elements: str
  sample: ["fastapi==0.115.0", "mangum==0.19.0", "pydantic_core==2.27.1"]
"""

import json
import os
import sys
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import SpilloverError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.common import run_info
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_zip import LambdaZipError
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_zip import app_project
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_zip import read_requirements_file
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_zip import vendor_requirements
from ansible_collections.spillover.lambda_ecs.plugins.module_utils.lambda_zip import vendored_distributions

ENTRY = "spillover_entry.py"
OUTPUT_LIMIT = 4000


def refusal(problem, message, app_output="", vendored=(), **found):
    """The check's failure: ``problem`` names what is wrong (RETURN's ``problem``)."""
    return SpilloverError(message, problem=problem, app_output=app_output, vendored=list(vendored), **found)


def install_requirements(module):
    """The requirement set of the check installed for this Python; ``(directory, vendored)``."""
    params = module.params
    requirements = []
    for path in params["requirements_file"]:
        if not os.path.isfile(path):
            raise refusal("requirements", f"requirements file {path} does not exist")
        try:
            requirements += read_requirements_file(path)
        except LambdaZipError as error:
            raise refusal("requirements", str(error)) from error
    if not requirements:
        return None, []

    def run_command(argv, environ_update):
        return module.run_command(argv, environ_update=environ_update)

    try:
        directory = vendor_requirements(
            requirements, params["cache_dir"], None, params["pip_args"], run_command, sys.executable
        )
    except LambdaZipError as error:
        raise refusal("requirements", str(error)) from error
    return directory, vendored_distributions(directory)


def run_entry_check(module, vendor_dir):
    """``python -I -S spillover_entry.py check`` on the app; returns ``(result, stderr)``."""
    params = module.params
    entry = os.path.join(params["runtime_dir"], ENTRY)
    if not os.path.isfile(entry):
        raise refusal("src", f"the collection's Lambda entry {entry} is missing")
    try:
        project = app_project(params["src"])
    except LambdaZipError as error:
        raise refusal("src", str(error)) from error
    # A project's sources are not deployed: its wheel is installed with the requirements, as in the zip's root.
    paths = ([] if project else [os.path.abspath(params["src"])]) + ([vendor_dir] if vendor_dir else [])
    if not paths:
        raise refusal("src", f"{params['src']} is a Python project, but no requirements file installs its wheel")
    environment = {"APP_CALLABLE": params["callable"], "APP_INTERFACE": params["interface"]}
    with tempfile.TemporaryDirectory(prefix="spillover-check-") as scratch:
        result_file = os.path.join(scratch, "result.json")
        hosts = [f"--host={params['health_host']}"]
        if params["ecs_health_host"]:
            hosts.append(f"--ecs-host={params['ecs_health_host']}")
        argv = [sys.executable, "-I", "-S", entry, "check", *hosts, result_file, params["health_path"], *paths]
        # -I -S: no PYTHON* variable, user site or site-packages of the controller's Python reaches the app.
        rc, _stdout, stderr = module.run_command(
            ["timeout", str(params["timeout"]), *argv], environ_update=environment, cwd=paths[0]
        )
        output = (stderr or "")[-OUTPUT_LIMIT:]
        if not os.path.exists(result_file):
            reason = f"did not finish within {params['timeout']} s" if rc == 124 else f"exited with {rc}"
            raise refusal("callable", f"importing and calling {params['callable']} {reason}", app_output=output)
        with open(result_file) as handle:
            return json.load(handle), output


def check_app(module):
    params = module.params
    if not os.path.isdir(params["src"]):
        raise refusal("src", f"{params['src']} is not a directory")
    vendor_dir, vendored = install_requirements(module)
    result, output = run_entry_check(module, vendor_dir)
    found = {key: result[key] for key in ("interface", "status") if key in result}
    if not result["ok"]:
        raise refusal(result["problem"], result["message"], app_output=output, vendored=vendored, **found)
    return dict(problem=None, app_output=output, vendored=vendored, **found)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type="path", required=True),
            callable=dict(type="str", required=True),
            interface=dict(type="str", required=True, choices=["wsgi", "asgi"]),
            requirements_file=dict(type="list", elements="path", default=[]),
            runtime_dir=dict(type="path", required=True),
            health_path=dict(type="str", default="/health"),
            health_host=dict(type="str", default="spillover-check.invalid"),
            ecs_health_host=dict(type="str", default=""),
            cache_dir=dict(type="path", default="~/.cache/spillover.lambda_ecs/lambda_zip"),
            pip_args=dict(type="list", elements="str", default=[]),
            timeout=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    run_info(module, lambda: check_app(module))


if __name__ == "__main__":
    main()
