"""The collection's container recipe (files/container): requirements kept in sync, Dockerfile facts, the server's
settings."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import re
import subprocess
from pathlib import Path

import pytest

from lab.builder import zip_extra_files
from lab.collection import role_variables
from tests.support.app_support import (
    APP_DIR,
    APP_EXTRA_FILES,
    CONTAINER_DIR,
    ENTRY_DIR,
    ROOT,
    VENV_BIN,
    dockerfile_command,
)

DOCKERFILE = (CONTAINER_DIR / "Dockerfile").read_text()


def requirement_lines(path: Path) -> set[str]:
    """The requirement lines of a pip requirements file, ``-r`` includes followed, comments dropped."""
    found = set()
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found |= requirement_lines(path.parent / line[3:].strip())
        elif line:
            found.add(line)
    return found


def test_the_dev_venv_has_what_both_runtimes_install_for_the_demo_app():
    container = requirement_lines(ROOT / "requirements" / "container.txt")
    assert {"bottle", "apig-wsgi", "mangum", "granian"} <= {re.split(r"[<>=!~ ;\[]", line)[0] for line in container}
    runtimes = (
        requirement_lines(APP_DIR / "requirements.txt")
        | requirement_lines(CONTAINER_DIR / "requirements.txt")
        | requirement_lines(ENTRY_DIR / "requirements-wsgi.txt")
        | requirement_lines(ENTRY_DIR / "requirements-asgi.txt")
    )
    assert runtimes == container


def test_dockerfile_passes_hadolint():
    completed = subprocess.run(
        [str(VENV_BIN / "hadolint"), str(CONTAINER_DIR / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_dockerfile_runs_the_server_as_non_root_on_the_apps_port_with_a_python_healthcheck_of_its_path():
    assert re.search(r"^ARG BASE_IMAGE=python:3\.12-slim\S*$", DOCKERFILE, re.M)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", DOCKERFILE, re.M)
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^ARG APP_PORT=8080$", DOCKERFILE, re.M) and re.search(
        r"^EXPOSE \$\{APP_PORT\}$", DOCKERFILE, re.M
    )
    assert re.search(r"^ARG APP_HEALTH_PATH=/health$", DOCKERFILE, re.M)
    assert "--no-cache-dir" in DOCKERFILE
    healthcheck = re.search(r"^HEALTHCHECK .* CMD (\[.*\])$", DOCKERFILE, re.M).group(1)
    assert '"python"' in healthcheck and "APP_HEALTH_PATH" in healthcheck and "curl" not in DOCKERFILE
    assert dockerfile_command() == ["python", "/opt/spillover/serve.py"]
    assert re.search(r'&& python -c "import granian.server" \\$', DOCKERFILE, re.M)  # fails the build


def test_the_recipe_copies_exactly_what_ecr_push_assembles_around_the_app():
    copied = set()
    for line in re.findall(r"^COPY (.+)$", DOCKERFILE, re.M):
        copied |= set(line.split()[:-1])
    recipe_files = role_variables("ecr_push")["ecr_push__recipe_files"]
    # roles/ecr_push/tasks/context.yml: the recipe's files, the image's requirements lock, the wheel of the app's own
    # project beside it and the app's directory (both directories always there, empty when the app has nothing).
    assert copied == ({"serve.py", "file_times.py"} | {"requirements.lock", "wheels/", "app/"})
    assert {"serve.py", "file_times.py", "Dockerfile", ".dockerignore"} == set(recipe_files)
    assert all((CONTAINER_DIR / name).is_file() for name in recipe_files)
    context = (ROOT / "roles" / "ecr_push" / "tasks" / "context.yml").read_text()
    assert 'dest: "{{ ecr_push__context.path }}/requirements.lock"' in context
    assert "  loop: [wheels, app]\n" in context


def instructions() -> list[tuple[str, str]]:
    """``(instruction, arguments)`` of the Dockerfile, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", re.sub(r"^#.*\n", "", DOCKERFILE, flags=re.M))
    return [tuple(line.split(" ", 1)) for line in joined.splitlines() if line.strip()]


def test_the_recipe_installs_exactly_its_lock_where_the_zip_has_it():
    (install,) = [arguments for name, arguments in instructions() if arguments.startswith("pip install ")]
    assert install.split(" && ")[0].split()[2:] == [
        "--no-cache-dir",
        "--no-deps",
        "--require-hashes",
        "--only-binary=:all:",
        "--no-compile",
        "--target",
        "/var/task",
        "-r",
        "/opt/spillover/requirements.lock",
    ]
    environment = dict(instruction for instruction in instructions() if instruction[0] == "ENV")["ENV"].split()
    assert {"APP_DIR=/var/task", "PYTHONPATH=/var/task"} <= set(environment)
    assert ("WORKDIR", "/var/task") in instructions() and ("COPY", "app/ /var/task/") in instructions()


def test_every_step_that_writes_the_apps_files_ends_by_dating_them_as_the_zip_does():
    steps = instructions()
    writes = [i for i, (name, arguments) in enumerate(steps) if name in ("RUN", "COPY") and "/var/task" in arguments]
    assert writes and steps[-1][0] == "CMD"
    for i, (name, arguments) in enumerate(steps):
        if i not in writes:
            continue
        # A RUN dates what it wrote; a COPY is dated by the next RUN, which is the one after it.
        run = arguments if name == "RUN" else steps[i + 1][1]
        assert run.endswith("&& python /opt/spillover/file_times.py /var/task"), (name, arguments)
    compile_step = next(arguments for name, arguments in steps if "compileall" in arguments)
    # Byte code that checks no source time, since the times are set after it.
    assert "--invalidation-mode unchecked-hash /var/task /opt/spillover" in compile_step


def load_serve():
    """files/container/serve.py as a module (its name is not ``serve``, which nothing else may import)."""
    spec = importlib.util.spec_from_file_location("spillover_serve", CONTAINER_DIR / "serve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


serve = load_serve()


def test_server_defaults_fit_a_quarter_vcpu_task_and_the_ecs_stop_timeout():
    settings = serve.settings({})
    assert (settings["address"], settings["port"]) == ("0.0.0.0", 8080)
    assert (settings["target"], settings["interface"]) == ("app:app", "wsgi")
    assert settings["workers"] == 1
    assert settings["threads"] >= 16  # 16 sleeping requests at once, as the benchmark sends
    assert 0 < settings["graceful_timeout"] < 30  # ECS sends SIGKILL 30 s after SIGTERM by default
    assert settings["keepalive"] > 60  # the ALB's idle timeout: the ALB closes idle connections, not the app


def test_server_settings_follow_the_environment():
    settings = serve.settings(
        {
            "HOST": "127.0.0.1",
            "PORT": "9000",
            "SERVER_WORKERS": "2",
            "SERVER_THREADS": "8",
            "SERVER_GRACEFUL_TIMEOUT": "10",
            "SERVER_KEEPALIVE": "120",
            "SERVER_LOG_LEVEL": "WARNING",
        }
    )
    assert (settings["address"], settings["port"], settings["workers"], settings["threads"]) == (
        "127.0.0.1",
        9000,
        2,
        8,
    )
    assert (settings["graceful_timeout"], settings["keepalive"], settings["log_level"]) == (10, 120, "warning")
    asgi = serve.settings({"APP_INTERFACE": "asgi", "APP_CALLABLE": "main:api"})
    assert (asgi["interface"], asgi["target"], asgi["threads"]) == ("asgi", "main:api", 1)


def test_the_keep_alive_can_outlast_the_longest_alb_idle_timeout():
    # The ecs_service role sets SERVER_KEEPALIVE to alb_idle_timeout + 5, and an ALB's idle timeout is at most 4000 s.
    assert serve.settings({"SERVER_KEEPALIVE": str(4000 + 5)})["keepalive"] == 4005


def test_server_settings_become_the_granian_server():
    granian = serve.server(serve.settings({"PORT": "9000", "SERVER_KEEPALIVE": "75", "SERVER_GRACEFUL_TIMEOUT": "20"}))
    assert (granian.target, granian.bind_addr, granian.bind_port, granian.interface.value) == (
        "app:app",
        "0.0.0.0",
        9000,
        "wsgi",
    )
    assert (granian.workers, granian.blocking_threads, granian.workers_kill_timeout) == (1, 32, 20)
    assert granian.http1_settings.header_read_timeout == 75_000  # how long an idle keep-alive connection stays
    assert granian.working_dir == Path.cwd()  # app:app imports from APP_DIR, the working directory by default
    assert serve.server(serve.settings({"APP_DIR": str(APP_DIR)})).working_dir == APP_DIR
    assert granian.log_access is False  # the app logs one JSON line per request itself
    assert granian.respawn_failed_workers is True  # a worker that dies is respawned


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PORT": "http"}, "PORT must be a whole number from 1 to 65535, not 'http'"),
        ({"SERVER_WORKERS": "0"}, "SERVER_WORKERS must be a whole number from 1 to 64, not '0'"),
        ({"SERVER_GRACEFUL_TIMEOUT": "120"}, "SERVER_GRACEFUL_TIMEOUT must be a whole number from 1 to 119, not '120'"),
        ({"SERVER_KEEPALIVE": "4006"}, "SERVER_KEEPALIVE must be a whole number from 1 to 4005, not '4006'"),
        ({"APP_INTERFACE": "rsgi"}, "APP_INTERFACE must be one of wsgi, asgi, not 'rsgi'"),
        ({"APP_CALLABLE": "app"}, "APP_CALLABLE must be module:attribute, such as app:app, not 'app'"),
        ({"APP_INTERFACE": "asgi", "SERVER_THREADS": "8"}, "SERVER_THREADS applies to WSGI apps only"),
    ],
)
def test_bad_server_settings_name_the_variable_and_what_it_accepts(environ, message):
    with pytest.raises(serve.SettingError, match=re.escape(message)):
        serve.settings(environ)


def test_a_bad_setting_stops_the_server_before_it_listens():
    completed = subprocess.run(
        [str(VENV_BIN / "python"), str(CONTAINER_DIR / "serve.py")],
        env={"PATH": str(VENV_BIN), "SERVER_WORKERS": "many"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 1
    assert completed.stderr.strip() == "serve.py: SERVER_WORKERS must be a whole number from 1 to 64, not 'many'"


class AppBody:
    """A WSGI app's iterable with a ``close()`` that PEP 3333 asks the server to call, whatever happens."""

    def __init__(self, *chunks):
        self.chunks, self.closed = chunks, 0

    def __iter__(self):
        for chunk in self.chunks:
            if isinstance(chunk, Exception):
                raise chunk
            yield chunk

    def close(self):
        self.closed += 1


def call_guarded_wsgi(body: AppBody) -> tuple[list, object]:
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    started = []
    return started, serve.guard_wsgi(app)({}, lambda status, headers: started.append((status, headers)))


@pytest.mark.parametrize(
    ("body", "answer", "sent"),
    [
        (AppBody(b"", b"one", b"two"), [b"one", b"two"], [b"one", b"two"]),  # streamed; granian calls close()
        (AppBody(b"", b""), [], []),  # an empty body, ended (and closed) by the guard
    ],
    ids=["streamed", "empty"],
)
def test_the_wsgi_guard_sends_the_headers_with_the_first_chunk_and_closes_the_apps_iterable(body, answer, sent):
    started, result = call_guarded_wsgi(body)
    assert started == [("200 OK", [("Content-Type", "text/plain")])]  # the headers, once the body has begun
    assert list(result) == sent
    getattr(result, "close", lambda: None)()
    assert body.closed == 1


def test_the_wsgi_guard_closes_the_apps_iterable_when_it_fails_before_its_first_chunk():
    body = AppBody(b"", RuntimeError("the app failed"))
    with pytest.raises(RuntimeError, match="the app failed"):
        call_guarded_wsgi(body)
    assert body.closed == 1


def run_guarded_asgi(app, scope: dict, sent: list | None = None) -> list:
    """The messages that reach the server (appended to ``sent``) when the guard runs ``app`` for ``scope``."""
    sent = [] if sent is None else sent

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    # A loop of its own, never made the thread's current one: asyncio.run() leaves the main thread without a loop,
    # and Mangum's handler in a later test asks for the current one, as it may in a fresh Lambda process.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(serve.guard_asgi(app)(scope, receive, send))
    finally:
        loop.close()
    return sent


def test_the_asgi_guard_gives_the_scope_integer_ports_as_the_asgi_spec_has_them():
    seen = {}

    async def app(scope, receive, send):
        seen.update(scope)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    granian_scope = {"type": "http", "server": ("127.0.0.1", "8080"), "client": ("10.0.0.7", "50412")}
    sent = run_guarded_asgi(app, granian_scope)
    assert (seen["server"], seen["client"]) == (("127.0.0.1", 8080), ("10.0.0.7", 50412))
    assert [message["type"] for message in sent] == ["http.response.start", "http.response.body"]
    run_guarded_asgi(app, {"type": "http", "server": None, "client": None})  # ASGI allows None (a Unix socket)
    assert (seen["server"], seen["client"]) == (None, None)


def test_once_an_asgi_message_is_refused_the_request_ends_with_its_error_even_if_the_app_swallows_it():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first part", "more_body": True})
        for body in ("text", b" the end"):
            with contextlib.suppress(serve.BadAnswer):
                await send({"type": "http.response.body", "body": body})

    sent = []
    with pytest.raises(serve.BadAnswer, match=re.escape("http.response.body body is a str, not bytes")):
        run_guarded_asgi(app, {"type": "http", "server": None, "client": None}, sent)
    # The server got the start and the first part only: granian cuts the response short, it does not end it.
    assert [message.get("body") for message in sent] == [None, b"first part"]


def test_the_lambda_function_role_packs_what_the_handler_imports_beside_the_app():
    """roles/lambda_function's zip task packs APP_EXTRA_FILES: the entry and the EMF emitter it imports as
    ``spillover_metrics`` (a name an app's own module is unlikely to have)."""
    assert zip_extra_files("lambda_function") == list(APP_EXTRA_FILES)
    assert "from spillover_metrics import metered" in (ENTRY_DIR / "spillover_entry.py").read_text()
    assert not (APP_DIR / "spillover_metrics.py").exists() and "lambda_handler" not in (APP_DIR / "app.py").read_text()
