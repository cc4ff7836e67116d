"""The routes an app answers, read from the app itself, for ``python -m lab parity``'s default requests.

Run by :mod:`lab.parity` as ``python -S parity_routes.py CODE_DIR RESULT_FILE`` on the unpacked Lambda zip in
CODE_DIR (the app, its vendored requirements and the collection's entry, which imports the app APP_CALLABLE names):
it writes one JSON list of ``[method, path template, framework]`` to RESULT_FILE (the app may print as it imports).
Standard library only, as it runs beside the app and nothing else. The frameworks read are the ones whose routing
tables say it all: Flask (Werkzeug's ``url_map``), Starlette and FastAPI (``routes``, through mounts and middleware)
and Bottle (``routes``); for any other app the list is empty and the parity check says so.
"""

from __future__ import annotations

import json
import os
import sys

# HEAD and OPTIONS are answered by the frameworks themselves for every route.
SKIPPED_METHODS = {"HEAD", "OPTIONS"}


def _flask(app) -> list[tuple[str, str]]:
    return [
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in sorted(set(rule.methods or ()) - SKIPPED_METHODS)
    ]


def _starlette(routes, prefix: str = "") -> list[tuple[str, str]]:
    found = []
    for route in routes:
        path = prefix + getattr(route, "path", "")
        if getattr(route, "routes", None) is not None and getattr(route, "methods", None) is None:  # a Mount
            found += _starlette(route.routes, path)
        elif getattr(route, "methods", None):
            found += [(method, path) for method in sorted(set(route.methods) - SKIPPED_METHODS)]
    return found


def _bottle(app) -> list[tuple[str, str]]:
    return [(route.method, route.rule) for route in app.routes if route.method not in SKIPPED_METHODS]


def routes(app) -> tuple[list[tuple[str, str]], str]:
    """``([(method, path template)], framework)`` of ``app`` (unwrapping ASGI middleware's ``app``)."""
    for _ in range(10):
        if hasattr(app, "url_map") and hasattr(app.url_map, "iter_rules"):
            return _flask(app), "flask"
        table = getattr(app, "routes", None)
        if isinstance(table, list) and table and hasattr(table[0], "rule") and hasattr(table[0], "method"):
            return _bottle(app), "bottle"
        if isinstance(table, list) and all(hasattr(route, "path") for route in table):
            return _starlette(table), "starlette"
        if getattr(app, "app", None) is None:
            break
        app = app.app
    return [], ""


def main() -> None:
    code_dir, result_file = sys.argv[1:3]
    sys.path[0] = code_dir  # the app's code first, as in /var/task; not this file's directory
    import spillover_entry

    target, _interface = spillover_entry.app_settings(os.environ)
    found, framework = routes(spillover_entry.load_callable(target))
    with open(result_file, "w") as result:
        json.dump([[method, path, framework] for method, path in found], result)


if __name__ == "__main__":
    main()
