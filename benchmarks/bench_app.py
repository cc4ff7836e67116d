"""Benchmark the demo app (files/app): Lambda zip, cold import, handler overhead, container servers, memory.

Run from the repository root: ``.venv/bin/python -m benchmarks.bench_app`` (``make bench-app``).

- The Lambda zip is the one the lambda_function role builds (lab/builder.py's ``app_zip``, with the collection's
  plugins/module_utils/lambda_zip.py): the app, its requirements and those of the collection's entry
  (files/lambda_entry/spillover_entry.py) vendored (pip runs once per requirement set; the set is cached in build/).
- Cold import: ``import spillover_entry`` as Lambda's init does it (LAMBDA_TASK_ROOT, APP_CALLABLE and
  APP_INTERFACE set as the role sets them, so the entry imports the app), in fresh interpreters (``-I -S``: no
  site-packages) with only the zip on ``sys.path``, and with the zip extracted to a directory without byte code, as
  Lambda runs it from /var/task (read-only, so nothing is cached between cold starts).
- Handler overhead: the same /pong request as an ALB event through the entry's handler of ``app`` (apig-wsgi, metered
  by the EMF emitter, as the function runs it) and as a direct WSGI call of ``app`` (both write the app's log line,
  the handler also its metrics line, to /dev/null here). The container's guard (serve.py's ``guard_wsgi`` and
  ``guard_asgi``, which check each answer before granian sees it): direct calls of ``app`` and of
  benchmarks/asgi_app.py's app with and without it, in alternating batches timed in the process's CPU time, so that
  other work on a shared machine weighs on both alike.
- Container: candidate servers side by side in one run, under a Fargate task's budget (``Budget``): each server
  tree on a core of its own, with a 0.25 vCPU CFS quota and a 512 MiB memory limit where the benchmark can write
  cgroups (it says when it cannot). WSGI servers serve the app; ASGI servers serve benchmarks/asgi_app.py, the
  same routes. Python's reference ``wsgiref`` server (its per-request stderr log silenced; no server's access log
  is on) is the baseline, and the shipped server is the image recipe's command (files/container: serve.py, granian,
  with its defaults) as the lab runs it (lab/ecs.py: what the image installs on the path, nothing else). A threaded
  Python client on the other core loads each with persistent HTTP/1.1 connections on loopback; servers take
  turns round after round and medians are reported. CPU per request and peak tree RSS come from /proc.
- Memory: peak RSS of a process that imported the entry from the zip and served 1,000 ALB events, and the
  peak summed RSS of each server's process tree (main process + workers) during its load runs.
"""

from __future__ import annotations

import http.client
import importlib.util
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from lab import builder
from lab.ecs import container_process
from lab.stack import Container

ROOT = Path(__file__).resolve().parents[1]
APP_DIR = ROOT / "files" / "app"
ENTRY_DIR = ROOT / "files" / "lambda_entry"
DEMO_APP = builder.describe_app(APP_DIR)
FUNCTION = builder.app_function(DEMO_APP)  # the handler and environment the lambda_function role sets
VENV_BIN = Path(sys.executable).parent
CACHE_DIR = ROOT / "build" / "lambda-zip-cache"
ZIP_PATH = ROOT / "build" / "bench" / "app.zip"

IMPORT_RUNS = 15
HANDLER_CALLS = 20_000
GUARD_BATCHES = 60  # pairs of batches, with and without the guard, in alternating order
GUARD_BATCH_CALLS = 500
HANDLER_EVENTS = 1_000
CONNECTIONS = 16
LOAD_SECONDS = 3.0
LOAD_ROUNDS = 3  # servers take turns, round after round; medians are reported (the machine is shared)
LOAD_MAX_REQUESTS = 50_000
WARMUP_SECONDS = 0.5
TARGETS = {
    "zip_bytes": 1024 * 1024,
    "cold_import_ms": 150.0,
    "handler_overhead_us": 50.0,
    "pong_ratio": 1.5,
    "sleep_ratio": 5.0,
    "handler_rss_mb": 60.0,
    "tree_rss_mb": 300.0,
}
ALB_EVENT = {
    "requestContext": {
        "elb": {
            "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/app/6d0ecf831eec9f09"
        }
    },
    "httpMethod": "GET",
    "path": "/pong",
    "queryStringParameters": {},
    "headers": {
        "accept": "*/*",
        "host": "app-123.us-east-1.elb.amazonaws.com",
        "user-agent": "bench",
        "x-amzn-trace-id": "Root=1-5bdb40ca-556d8b0c50dc66f0511bf520",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    },
    "isBase64Encoded": False,
    "body": "",
}


def load_file_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_zip() -> tuple[Path, int, list[str]]:
    data = builder.app_zip(DEMO_APP, CACHE_DIR)
    ZIP_PATH.parent.mkdir(parents=True, exist_ok=True)
    ZIP_PATH.write_bytes(data)
    with zipfile.ZipFile(ZIP_PATH) as archive:
        vendored = sorted(
            {name.split("/")[0].removesuffix(".dist-info") for name in archive.namelist() if ".dist-info/" in name}
        )
    return ZIP_PATH, len(data), vendored


def fresh_interpreter(code: str, path_entry: Path, *args: str) -> str:
    done = subprocess.run(
        # -B: no byte code written (-I ignores PYTHONDONTWRITEBYTECODE), so every run compiles, as on Lambda.
        [sys.executable, "-I", "-S", "-B", "-c", code, str(path_entry), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


# argv: the zip (or its directory), the function's environment (JSON); the entry imports the app as Lambda's init.
COLD_IMPORT = """
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
os.environ.update(json.loads(sys.argv[2]), LAMBDA_TASK_ROOT=sys.argv[1])
started = time.perf_counter()
import spillover_entry
print(time.perf_counter() - started)
"""


def cold_import_ms(path_entry: Path) -> list[float]:
    environment = json.dumps(FUNCTION["environment"])
    return [float(fresh_interpreter(COLD_IMPORT, path_entry, environment)) * 1000 for _ in range(IMPORT_RUNS)]


def interpreter_start_ms() -> float:
    runs = []
    for _ in range(IMPORT_RUNS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-S", "-B", "-c", "pass"], check=True)
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


SERVE_EVENTS = """
import json, os, resource, sys
sys.path.insert(0, sys.argv[1])
os.environ.update(json.loads(sys.argv[2]), LAMBDA_TASK_ROOT=sys.argv[1])
event = json.loads(sys.argv[4])
from spillover_entry import handler
sys.stdout = open(os.devnull, "w")
for _ in range(int(sys.argv[3])):
    assert handler(event, None)["statusCode"] == 200
sys.stdout = sys.__stdout__
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def handler_process_rss_mb(zip_path: Path) -> float:
    environment = json.dumps(FUNCTION["environment"])
    kib = int(fresh_interpreter(SERVE_EVENTS, zip_path, environment, str(HANDLER_EVENTS), json.dumps(ALB_EVENT)))
    return kib / 1024


def per_call_us(function, calls: int) -> float:
    return min(timeit.repeat(function, number=calls, repeat=5)) / calls * 1e6


def paired_us(plain, guarded) -> tuple[float, float]:
    """CPU time per call of ``plain``, and how much more per call ``guarded`` takes: medians over pairs of batches,
    the two in alternating order."""
    plain_us, extra_us = [], []
    for batch in range(GUARD_BATCHES):
        spent = {}
        for function in (plain, guarded) if batch % 2 else (guarded, plain):
            started = time.process_time()
            for _ in range(GUARD_BATCH_CALLS):
                function()
            spent[function] = (time.process_time() - started) / GUARD_BATCH_CALLS * 1e6
        plain_us.append(spent[plain])
        extra_us.append(spent[guarded] - spent[plain])
    return statistics.median(plain_us), statistics.median(extra_us)


def handler_overhead() -> dict[str, float]:
    sys.path.insert(0, str(APP_DIR))
    app_module = load_file_module("bench_app_module", APP_DIR / "app.py")
    sys.path.insert(0, str(ENTRY_DIR))  # spillover_metrics, which the entry imports, beside it as in the zip
    entry = load_file_module("bench_spillover_entry", ENTRY_DIR / "spillover_entry.py")
    lambda_handler = entry.metered_handler(app_module.app, DEMO_APP.interface)
    multi_event = {
        **{key: value for key, value in ALB_EVENT.items() if key not in ("headers", "queryStringParameters")},
        "multiValueHeaders": {key: [value] for key, value in ALB_EVENT["headers"].items()},
        "multiValueQueryStringParameters": {},
    }
    base_environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/pong",
        "QUERY_STRING": "",
        "SERVER_NAME": "app",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "app",
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }

    def start_response(status, headers, exc_info=None):
        return None

    def direct():
        environ = dict(base_environ)
        environ["wsgi.input"] = io.BytesIO(b"")
        b"".join(app_module.app(environ, start_response))

    def through_handler():
        lambda_handler(ALB_EVENT, None)

    def through_handler_multi():
        lambda_handler(multi_event, None)

    serve = load_file_module("bench_serve", ROOT / "files" / "container" / "serve.py")
    guarded_wsgi = serve.guard_wsgi(app_module.app)
    asgi_app = load_file_module("bench_asgi_app", BENCH_DIR / "asgi_app.py").app
    guarded_asgi = serve.guard_asgi(asgi_app)
    asgi_scope = {"type": "http", "method": "GET", "path": "/pong", "query_string": b"", "headers": []}
    asgi_scope |= {"server": ("127.0.0.1", "8080"), "client": ("127.0.0.1", "50000")}  # as granian gives them

    def direct_guarded():
        environ = dict(base_environ)
        environ["wsgi.input"] = io.BytesIO(b"")
        b"".join(guarded_wsgi(environ, start_response))

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        return None

    def asgi_call(app):
        # /pong never waits, so the coroutine runs to its end at once, without an event loop.
        def call():
            try:
                app(dict(asgi_scope), receive, send).send(None)
            except StopIteration:
                return
            raise RuntimeError("the ASGI app waited on /pong, which this call cannot time")

        return call

    saved, sys.stdout = sys.stdout, open(os.devnull, "w")  # noqa: SIM115 (restored below)
    try:
        assert lambda_handler(ALB_EVENT, None)["statusCode"] == 200
        result = {
            "direct_us": per_call_us(direct, HANDLER_CALLS),
            "handler_us": per_call_us(through_handler, HANDLER_CALLS),
            "handler_multi_us": per_call_us(through_handler_multi, HANDLER_CALLS),
        }
        result["wsgi_cpu_us"], result["wsgi_guard_us"] = paired_us(direct, direct_guarded)
        result["asgi_cpu_us"], result["asgi_guard_us"] = paired_us(asgi_call(asgi_app), asgi_call(guarded_asgi))
    finally:
        sys.stdout.close()
        sys.stdout = saved
    return result


# --- container load ----------------------------------------------------------------------------------------

WSGIREF_SERVER = """
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server
sys.path.insert(0, sys.argv[1])
from app import app

class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass

make_server("127.0.0.1", int(sys.argv[2]), app, handler_class=QuietHandler).serve_forever()
"""
PONG, SLEEP = "/pong", "/sleep?seconds=0.05"
BENCH_DIR = Path(__file__).resolve().parent
ASGI_APP = (("PYTHONPATH", str(BENCH_DIR)),)  # benchmarks/asgi_app.py: the app's routes as an ASGI app
SERVER_ENV_PREFIXES = ("GUNICORN_", "GRANIAN_", "UVICORN_", "SERVER_", "APP_")
CPU_QUOTA = 0.25  # vCPU: the task's 256 CPU units (ecs_service_cpu)
CPU_PERIOD_US = 100_000  # the kernel's default CFS period
MEMORY_LIMIT = 512 * 1024 * 1024  # the task's memory (ecs_service_memory)
CGROUP_ROOT = Path("/sys/fs/cgroup")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Candidate:
    """A server and the app it serves, started in files/app; ``{port}`` in the command is its port."""

    label: str
    interface: str  # WSGI: files/app's Bottle app; ASGI: benchmarks/asgi_app.py, the same routes
    command: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


def gunicorn(*options: str, app: str = "app:app") -> tuple[str, ...]:
    # --keep-alive 75: longer than the ALB's idle timeout, as the container needs it; no control socket, which
    # gunicorn >= 24 opens at one path per user (several servers on one host would fight over it).
    bind = ("--bind", "127.0.0.1:{port}", "--keep-alive", "75", "--no-control-socket", "--worker-tmp-dir", "/dev/shm")
    return (str(VENV_BIN / "gunicorn"), *bind, *options, app)


UVICORN_OPTIONS = ("--no-access-log", "--timeout-keep-alive", "75", "asgi_app:app")  # uvloop, httptools: its fastest
WSGIREF = Candidate("wsgiref", "WSGI", (sys.executable, "-c", WSGIREF_SERVER, str(APP_DIR), "{port}"))
# What ships: the image recipe's command with its defaults (serve.py: 1 worker, 32 threads), as the lab runs a task.
SHIPPED_CONTAINER = container_process(DEMO_APP, Container("app", DEMO_APP.port, {}, [], []), CACHE_DIR)
SHIPPED = Candidate("granian", "WSGI", tuple(SHIPPED_CONTAINER.command), tuple(SHIPPED_CONTAINER.environment.items()))
SERVE = str(ROOT / "files" / "container" / "serve.py")
CANDIDATES = (
    WSGIREF,
    # gunicorn as it shipped before (1 worker, 32 threads), then tuned: the fewest threads that still hold the 16
    # sleeping requests, and a second worker. Also tried on one core under the quota, all slower or bigger: 1x8
    # (half the /sleep rate), 4x8 (120 MB, no faster), 17 sync workers (426 MB, slower).
    Candidate("gunicorn gthread 1x32", "WSGI", gunicorn("-k", "gthread", "--workers", "1", "--threads", "32")),
    Candidate("gunicorn gthread 1x16", "WSGI", gunicorn("-k", "gthread", "--workers", "1", "--threads", "16")),
    Candidate("gunicorn gthread 2x16", "WSGI", gunicorn("-k", "gthread", "--workers", "2", "--threads", "16")),
    SHIPPED,
    Candidate(
        "granian",
        "ASGI",
        (sys.executable, SERVE),
        (("APP_INTERFACE", "asgi"), ("APP_CALLABLE", "asgi_app:app"), *ASGI_APP),
    ),
    Candidate(
        "uvicorn",
        "ASGI",
        (sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}", *UVICORN_OPTIONS),
        ASGI_APP,
    ),
    Candidate("gunicorn asgi", "ASGI", gunicorn("-k", "asgi", "--workers", "1", app="asgi_app:app"), ASGI_APP),
)


@dataclass
class Budget:
    """A Fargate task's budget for each server tree: a core of its own (the load generator gets the others) and,
    where this machine lets the benchmark write cgroups (root, cgroup v1 or v2), a 0.25 vCPU CFS quota and a
    512 MiB memory limit, as Fargate enforces them on a task."""

    server_cpu: int | None = None
    client_cpus: set[int] = field(default_factory=set)
    cgroups: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def enter(self) -> None:
        """Run in the server's process before it starts the server: its descendants inherit core and cgroups."""
        if self.server_cpu is not None:
            os.sched_setaffinity(0, {self.server_cpu})
        for group in self.cgroups:
            (group / "cgroup.procs").write_text(str(os.getpid()))

    def close(self) -> None:
        for group in reversed(self.cgroups):
            group.rmdir()
        self.cgroups.clear()


def cgroup_limits(name: str) -> tuple[list[Path], str]:
    """Create cgroups ``name`` with the task's CPU quota and memory limit; (their directories, the version)."""
    quota = int(CPU_QUOTA * CPU_PERIOD_US)
    created: list[Path] = []
    try:
        controllers = CGROUP_ROOT / "cgroup.controllers"
        if controllers.exists():
            if not {"cpu", "memory"} <= set(controllers.read_text().split()):
                raise OSError("cgroup v2 without the cpu and memory controllers")
            (CGROUP_ROOT / "cgroup.subtree_control").write_text("+cpu +memory")
            created.append(CGROUP_ROOT / name)
            created[0].mkdir()
            (created[0] / "cpu.max").write_text(f"{quota} {CPU_PERIOD_US}")
            (created[0] / "memory.max").write_text(str(MEMORY_LIMIT))
            return created, "v2"
        created.append(CGROUP_ROOT / "cpu" / name)
        created[0].mkdir()
        (created[0] / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
        (created[0] / "cpu.cfs_quota_us").write_text(str(quota))
        created.append(CGROUP_ROOT / "memory" / name)
        created[1].mkdir()
        (created[1] / "memory.limit_in_bytes").write_text(str(MEMORY_LIMIT))
        return created, "v1"
    except OSError:
        for group in reversed(created):
            if group.exists():
                group.rmdir()
        raise


def task_budget() -> Budget:
    budget = Budget()
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > 1:
        budget.server_cpu, budget.client_cpus = cpus[0], set(cpus[1:])
        budget.notes.append(f"each server tree pinned to CPU {cpus[0]}, the load generator to CPU {cpus[1:]}")
    else:
        budget.notes.append("one CPU only: server and load generator share it")
    try:
        budget.cgroups, version = cgroup_limits(f"spillover-bench-app-{os.getpid()}")
        budget.notes.append(
            f"cgroup {version}: CPU quota {CPU_QUOTA * CPU_PERIOD_US / 1000:g} ms per {CPU_PERIOD_US / 1000:g} ms "
            f"({CPU_QUOTA:g} vCPU) and memory limit {MEMORY_LIMIT // 2**20} MiB on each server tree"
        )
    except OSError as error:
        budget.notes.append(
            f"NO 0.25 vCPU quota or 512 MiB limit here ({error}): each server has a whole core, so req/s overstate "
            "what a task serves (ratios and CPU per request still compare); memory is the measured tree RSS"
        )
    return budget


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(candidate: Candidate, budget: Budget) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(SERVER_ENV_PREFIXES) and name not in ("WEB_CONCURRENCY", "AWS_LAMBDA_RUNTIME_API")
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(candidate.env)
    env.update({"HOST": "127.0.0.1", "PORT": str(port)})  # the image's ENV sets a PORT too
    process = subprocess.Popen(
        [word.replace("{port}", str(port)) for word in candidate.command],
        cwd=APP_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=budget.enter,  # no thread runs while a server starts
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            connection.getresponse().read()
            connection.close()
            return process, port
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_server(process)
                raise RuntimeError(f"{candidate.label} ({candidate.interface}) did not start") from None
            time.sleep(0.1)


def stop_server(process: subprocess.Popen) -> None:
    """SIGTERM to the server's session, SIGKILL after 40 s; waits until every process of its tree is gone."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # workers that outlive their parent would keep the cgroup busy
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)


@dataclass(frozen=True)
class Usage:
    rss_bytes: int
    cpu_seconds: float


def tree_usage(root_pid: int) -> Usage:
    """Summed RSS and user + system CPU time of a process and its live descendants, from /proc/PID/stat."""
    stats: dict[int, list[str]] = {}
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry))
    rss_pages = ticks = 0
    pending = [root_pid]
    while pending:
        pid = pending.pop()
        if pid in stats:
            ticks += int(stats[pid][11]) + int(stats[pid][12])
            rss_pages += int(stats[pid][21])
        pending.extend(children.get(pid, []))
    return Usage(rss_pages * PAGE_SIZE, ticks / CLOCK_TICKS)


@dataclass
class LoadResult:
    requests: int = 0  # answered with 200 inside the measured window
    errors: int = 0
    seconds: float = 0.0
    all_requests: int = 0  # including the warm-up, for CPU per request
    server_cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def p99_ms(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000 if ordered else float("nan")

    @property
    def cpu_us_per_request(self) -> float:
        return self.server_cpu / self.all_requests * 1e6 if self.all_requests else float("nan")


def generate_load(port: int, path: str, connections: int = CONNECTIONS) -> LoadResult:
    """``connections`` threads, each with one persistent connection, for LOAD_SECONDS or LOAD_MAX_REQUESTS."""
    result = LoadResult()
    lock = threading.Lock()
    start_gate = threading.Barrier(connections + 1)
    state = {"measure_from": 0.0, "stop_at": 0.0}

    def worker():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies, errors, answered = [], 0, 0
        start_gate.wait()
        while True:
            now = time.perf_counter()
            if now >= state["stop_at"]:
                break
            with lock:
                if result.requests + len(latencies) >= LOAD_MAX_REQUESTS:
                    break
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok = False
            answered += ok
            if now >= state["measure_from"]:
                if ok:
                    latencies.append(time.perf_counter() - now)
                else:
                    errors += 1
        connection.close()
        with lock:
            result.requests += len(latencies)
            result.all_requests += answered
            result.errors += errors
            result.latencies.extend(latencies)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    begin = time.perf_counter()
    state["measure_from"] = begin + WARMUP_SECONDS
    state["stop_at"] = begin + WARMUP_SECONDS + LOAD_SECONDS
    start_gate.wait()
    for thread in threads:
        thread.join()
    result.seconds = min(time.perf_counter(), state["stop_at"]) - state["measure_from"]
    return result


def container_runs(budget: Budget) -> tuple[dict[tuple[Candidate, str], list[LoadResult]], dict[Candidate, float]]:
    """Servers take turns round after round (noise from other work on the machine hits all of them); each one's
    peak tree RSS is sampled every 50 ms while it is under load."""
    results: dict[tuple[Candidate, str], list[LoadResult]] = {}
    peak_mb: dict[Candidate, float] = {}
    own_cpus = os.sched_getaffinity(0)
    if budget.client_cpus:
        os.sched_setaffinity(0, budget.client_cpus)  # the load generator's threads (and the sampler) run there
    try:
        for _ in range(LOAD_ROUNDS):
            for candidate in CANDIDATES:
                process, port = start_server(candidate, budget)
                peak, sampling = [0], threading.Event()

                def sample(pid=process.pid, peak=peak, sampling=sampling):
                    while not sampling.is_set():
                        peak[0] = max(peak[0], tree_usage(pid).rss_bytes)
                        sampling.wait(0.05)

                sampler = threading.Thread(target=sample)
                sampler.start()
                try:
                    for path in (PONG, SLEEP):
                        cpu_before = tree_usage(process.pid).cpu_seconds
                        load = generate_load(port, path)
                        load.server_cpu = tree_usage(process.pid).cpu_seconds - cpu_before
                        results.setdefault((candidate, path), []).append(load)
                finally:
                    sampling.set()
                    sampler.join()
                    stop_server(process)
                peak_mb[candidate] = max(peak_mb.get(candidate, 0.0), peak[0] / 2**20)
    finally:
        os.sched_setaffinity(0, own_cpus)
    return results, peak_mb


def median_of(loads: list[LoadResult], attribute: str) -> float:
    return statistics.median(getattr(load, attribute) for load in loads)


# --- report ------------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_rows(rows: list[tuple[str, str, str, bool | None]]) -> None:
    print(f"{'measure':58} {'value':>16} {'target':>12} {'':>7}")
    for label, value, target, ok in rows:
        print(f"{label:58} {value:>16} {target:>12} {'' if ok is None else verdict(ok):>7}")


def main() -> None:
    print("bench_app: the app's Lambda package, handler and container (files/app)\n")
    zip_path, zip_size, vendored = build_zip()
    with zipfile.ZipFile(zip_path) as archive:
        entries = len(archive.infolist())
    extracted = Path(tempfile.mkdtemp(prefix="bench-app-"))
    try:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(extracted)
        zip_import = cold_import_ms(zip_path)
        dir_import = cold_import_ms(extracted)
    finally:
        subprocess.run(["rm", "-rf", str(extracted)], check=True)
    startup = interpreter_start_ms()
    handler_rss = handler_process_rss_mb(zip_path)
    overhead = handler_overhead()
    budget = task_budget()
    try:
        loads, peak_mb = container_runs(budget)
    finally:
        budget.close()

    cold_zip = statistics.median(zip_import)
    cold_dir = statistics.median(dir_import)
    added = overhead["handler_us"] - overhead["direct_us"]
    added_multi = overhead["handler_multi_us"] - overhead["direct_us"]

    print(f"Lambda zip: {zip_path.relative_to(ROOT)}, {entries} entries, vendored {', '.join(vendored)}")
    print_rows(
        [
            ("Lambda zip size", f"{zip_size / 1024:.1f} KiB", "< 1 MiB", zip_size < TARGETS["zip_bytes"]),
            (
                f"cold import of the entry with the app, zip on path (median of {IMPORT_RUNS})",
                f"{cold_zip:.1f} ms",
                "< 150 ms",
                cold_zip < TARGETS["cold_import_ms"],
            ),
            (
                f"  same, zip extracted as in /var/task, no .pyc (median of {IMPORT_RUNS})",
                f"{cold_dir:.1f} ms",
                "",
                None,
            ),
            ("  interpreter start alone, python -I -S (median)", f"{startup:.1f} ms", "", None),
            ("direct WSGI call of app, GET /pong", f"{overhead['direct_us']:.1f} us", "", None),
            ("ALB event through the entry's handler, GET /pong", f"{overhead['handler_us']:.1f} us", "", None),
            ("  handler overhead per request (difference)", f"{added:.1f} us", "< 50 us", added < 50),
            ("  ratio handler / direct", f"{overhead['handler_us'] / overhead['direct_us']:.2f}x", "", None),
            ("  same with multi-value headers: overhead", f"{added_multi:.1f} us", "< 50 us", added_multi < 50),
            ("direct WSGI call of app, GET /pong, CPU time", f"{overhead['wsgi_cpu_us']:.1f} us", "", None),
            ("  behind serve.py's guard: more per request", f"{overhead['wsgi_guard_us']:.1f} us", "", None),
            (
                "direct ASGI call of benchmarks/asgi_app.py, GET /pong, CPU time",
                f"{overhead['asgi_cpu_us']:.1f} us",
                "",
                None,
            ),
            ("  behind serve.py's guard: more per request", f"{overhead['asgi_guard_us']:.1f} us", "", None),
            (
                f"peak RSS, handler process after {HANDLER_EVENTS:,} ALB events",
                f"{handler_rss:.1f} MB",
                "< 60 MB",
                handler_rss < TARGETS["handler_rss_mb"],
            ),
        ]
    )

    print(
        f"\nContainer servers under a Fargate task's budget, {CONNECTIONS} concurrent keep-alive connections, "
        f"{LOAD_SECONDS:g} s per run after {WARMUP_SECONDS:g} s warm-up, {LOAD_ROUNDS} rounds, medians of the runs"
    )
    for note in budget.notes:
        print(f"  budget: {note}")
    print("  WSGI: files/app's Bottle app; ASGI: benchmarks/asgi_app.py (the same routes, no framework)")
    print(
        f"{'server':22} {'app':5} {'path':20} {'runs':>4} {'requests':>9} {'errors':>6} {'req/s':>8} "
        f"{'p99 ms':>8} {'CPU us/req':>10} {'RSS MB':>7}"
    )
    for (candidate, path), runs in loads.items():
        print(
            f"{candidate.label:22} {candidate.interface:5} {path:20} {len(runs):>4} "
            f"{sum(run.requests for run in runs):>9} {sum(run.errors for run in runs):>6} "
            f"{median_of(runs, 'rps'):>8.1f} {median_of(runs, 'p99_ms'):>8.1f} "
            f"{median_of(runs, 'cpu_us_per_request'):>10.0f} {peak_mb[candidate]:>7.1f}"
        )

    ratios = {
        path: median_of(loads[(SHIPPED, path)], "rps") / median_of(loads[(WSGIREF, path)], "rps")
        for path in (PONG, SLEEP)
    }
    p99 = {candidate: median_of(loads[(candidate, PONG)], "p99_ms") for candidate in (SHIPPED, WSGIREF)}
    print(f"\nThe shipped server: {SHIPPED.label} (files/container/serve.py defaults), against wsgiref in the same run")
    for path, ratio in ratios.items():
        print(f"ratio {SHIPPED.label} / wsgiref req/s on {path}: {ratio:.2f}x")
    print_rows(
        [
            (
                f"{SHIPPED.label} / wsgiref req/s on {PONG}",
                f"{ratios[PONG]:.2f}x",
                ">= 1.5x",
                ratios[PONG] >= TARGETS["pong_ratio"],
            ),
            (
                f"{SHIPPED.label} / wsgiref req/s on {SLEEP}",
                f"{ratios[SLEEP]:.2f}x",
                ">= 5x",
                ratios[SLEEP] >= TARGETS["sleep_ratio"],
            ),
            (
                f"p99 on {PONG}, {SHIPPED.label} vs wsgiref",
                f"{p99[SHIPPED]:.1f} / {p99[WSGIREF]:.1f} ms",
                "<= wsgiref",
                p99[SHIPPED] <= p99[WSGIREF],
            ),
            (
                f"peak RSS, {SHIPPED.label} tree (main + workers) under load",
                f"{peak_mb[SHIPPED]:.1f} MB",
                "< 300 MB",
                peak_mb[SHIPPED] < TARGETS["tree_rss_mb"],
            ),
        ]
    )
    print(f"\nmachine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
