"""What the lab (and the test helpers) take from the collection itself, so that nothing of it is copied.

* The standard-library ``module_utils``: ``forward_action`` (the one forward-action codec), ``lambda_zip``
  (reproducible zips) and ``app_lock`` (one resolution of an app's requirements for both runtimes). They are
  loaded from their files: ``python -m lab`` runs from a checkout, where ``ansible_collections.spillover.lambda_ecs``
  is not importable.
* The roles' variables (``defaults/main.yml``, ``vars/main.yml``) and task arguments, rendered with Jinja as
  Ansible renders them: a string that is one ``{{ expression }}`` gives the expression's value (a number, a list,
  a dict), any other string with ``{{`` gives text. The filters are plain Jinja's and those of Ansible's core
  filter plugin that plain Jinja lacks (``combine``, ``regex_replace``, ``hash``...); a variable that needs another
  Ansible plugin (a lookup, a collection's filter) cannot be rendered and says so.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import jinja2
import jinja2.meta
import yaml
from ansible.plugins.filter.core import FilterModule as AnsibleCoreFilters

ROOT = Path(__file__).resolve().parents[1]
MODULE_UTILS = ROOT / "plugins" / "module_utils"
ROLES = ROOT / "roles"
_ONE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expression>(?:(?!\}\}).)*)\}\}\s*$", re.S)
_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
_JINJA.filters.update(
    {name: function for name, function in AnsibleCoreFilters().filters().items() if name not in _JINJA.filters}
)


COLLECTION_MODULE_UTILS = "ansible_collections.spillover.lambda_ecs.plugins.module_utils"


def _module_util(name: str) -> ModuleType:
    """The module_util ``name``, loaded from its file. It is also registered under its collection name, so that a
    module_util importing another of the collection's (``app_lock`` takes ``lambda_zip``'s platform options) gets
    the one loaded here."""
    qualified = f"lab.collection.{name}"
    if qualified not in sys.modules:
        spec = importlib.util.spec_from_file_location(qualified, MODULE_UTILS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[qualified] = module
        sys.modules.setdefault(f"{COLLECTION_MODULE_UTILS}.{name}", module)
        spec.loader.exec_module(module)
    return sys.modules[qualified]


forward_action = _module_util("forward_action")
lambda_zip = _module_util("lambda_zip")
app_lock = _module_util("app_lock")


class RoleRenderError(ValueError):
    """A role variable cannot be rendered here (unknown name, a cycle, or a plugin only Ansible has)."""


class UnsafeText(str):
    """A value tagged ``!unsafe``: Ansible never templates it (a builder's own ``{{.Os}}`` format, say)."""


class _RoleLoader(yaml.SafeLoader):
    """YAML as Ansible reads a role's files: safe, plus the ``!unsafe`` tag."""


_RoleLoader.add_constructor("!unsafe", lambda loader, node: UnsafeText(loader.construct_scalar(node)))


def load_role_yaml(text: str) -> Any:
    """``text`` (a role's YAML) loaded as Ansible loads it, ``!unsafe`` values as :class:`UnsafeText`."""
    return yaml.load(text, Loader=_RoleLoader)


def role_variables(role: str) -> dict[str, Any]:
    """The raw (unrendered) variables of ``role``: its defaults, overridden by its vars, as Ansible merges them."""
    variables: dict[str, Any] = {}
    for part in ("defaults", "vars"):
        path = ROLES / role / part / "main.yml"
        if path.exists():
            variables.update(load_role_yaml(path.read_text()) or {})
    return variables


def _templates(value: Any):
    if isinstance(value, UnsafeText):
        return
    if isinstance(value, str):
        if "{{" in value or "{%" in value:
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _templates(item)
    elif isinstance(value, list):
        for item in value:
            yield from _templates(item)


def referenced_names(value: Any) -> set[str]:
    """The variables the Jinja in ``value`` (a string, or strings nested in lists and dicts) refers to."""
    names: set[str] = set()
    for template in _templates(value):
        names |= jinja2.meta.find_undeclared_variables(_JINJA.parse(template))
    return names


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """``value`` with every Jinja string rendered over ``context`` (see the module's docstring)."""
    if isinstance(value, Mapping):
        return {key: render(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, context) for item in value]
    if not isinstance(value, str) or isinstance(value, UnsafeText) or not ("{{" in value or "{%" in value):
        return value
    one = _ONE_EXPRESSION.match(value)
    if one and "{{" not in one.group("expression"):
        return _JINJA.compile_expression(one.group("expression"), undefined_to_none=False)(**context)
    return _JINJA.from_string(value).render(**context)


def role_magic(role: str) -> dict[str, str]:
    """The magic variables Ansible defines inside ``role`` that its files use (``role_path``)."""
    return {"role_path": str(ROLES / role)}


def render_role(role: str, names: list[str], overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The rendered values of the variables ``names`` of ``role``, with ``overrides`` for some of its defaults.

    Only ``names`` and the variables they refer to are rendered, with Ansible's ``role_path`` defined as in the
    role. An override must name one of the role's variables, so that a typo cannot go unnoticed.
    """
    variables = role_variables(role)
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(variables))
    if unknown:
        raise RoleRenderError(f"role {role} has no variable {', '.join(unknown)} (see roles/{role}/defaults/main.yml)")
    variables.update(overrides)
    rendered: dict[str, Any] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> None:
        if name in rendered:
            return
        if name in chain:
            raise RoleRenderError(f"role {role}: the variables {' -> '.join((*chain, name))} refer to each other")
        if name not in variables:
            raise RoleRenderError(
                f"role {role} has no variable {name} (needed by {' -> '.join(chain) or 'the caller'})"
            )
        raw = variables[name]
        for needed in sorted(referenced_names(raw)):
            if needed in variables:
                resolve(needed, (*chain, name))
        try:
            rendered[name] = render(raw, {**role_magic(role), **rendered})
        except jinja2.TemplateError as error:
            raise RoleRenderError(f"role {role}: {name} cannot be rendered outside Ansible: {error}") from error

    for name in names:
        resolve(name, ())
    return {name: rendered[name] for name in names}


def render_role_template(role: str, template: str, variables: Mapping[str, Any]) -> str:
    """``roles/<role>/templates/<template>`` rendered over ``variables`` (every name it uses must be given)."""
    return _JINJA.from_string((ROLES / role / "templates" / template).read_text()).render(**variables)


def _flat_tasks(tasks: list[dict]):
    """Every task of ``tasks``, those of blocks (``block``, ``rescue``, ``always``) too."""
    for task in tasks or []:
        yield task
        for part in ("block", "rescue", "always"):
            yield from _flat_tasks(task.get(part))


def role_task_arguments(role: str, task_file: str, module: str) -> dict[str, Any]:
    """The raw arguments and loop of the task of ``roles/<role>/tasks/<task_file>`` that calls ``module``."""
    tasks = load_role_yaml((ROLES / role / "tasks" / task_file).read_text())
    found = [task for task in _flat_tasks(tasks) if module in task]
    if len(found) != 1:
        raise RoleRenderError(f"roles/{role}/tasks/{task_file} has {len(found)} tasks of {module}, not one")
    return {"arguments": found[0][module], "loop": found[0].get("loop")}


def role_task_inputs(
    role: str, task_file: str, module: str, keys: tuple[str, ...], overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The arguments ``keys`` of the task of ``roles/<role>/tasks/<task_file>`` that calls ``module``, rendered as
    the role renders them, with ``overrides`` for some of its variables (see :func:`render_role`)."""
    task = role_task_arguments(role, task_file, module)
    arguments = {key: task["arguments"].get(key) for key in keys}
    magic = role_magic(role)
    context = render_role(role, sorted(referenced_names(arguments) - set(magic)), overrides)
    return render(arguments, {**magic, **context})
