"""Benchmark the app (files/app): Lambda zip, cold import, handler overhead, gunicorn vs wsgiref, memory.

Run from the repository root: ``.venv/bin/python -m benchmarks.bench_app`` (``make bench-app``).

- The Lambda zip is built by the collection's own builder (plugins/module_utils/lambda_zip.py) with
  requirements/app.txt vendored (pip runs once per requirement set; the set is cached in build/).
- Cold import: ``from app import lambda_handler`` in fresh interpreters (``-I -S``: no site-packages) with
  only the zip on ``sys.path``, and with the zip extracted to a directory without byte code, as Lambda runs
  it from /var/task (read-only, so nothing is cached between cold starts).
- Handler overhead: the same /pong request as an ALB event through ``lambda_handler`` and as a direct WSGI
  call of ``app`` (both write the app's log line, to /dev/null here).
- Container: gunicorn with files/app/gunicorn.conf.py and its defaults for a 0.25 vCPU task, next to
  Python's reference ``wsgiref`` server serving the same app (its per-request stderr log silenced, as
  gunicorn's access log is off), loaded by a threaded Python client on loopback with persistent HTTP/1.1
  connections. Server and client share this machine's cores, so the figures are relative ones.
- Memory: peak RSS of a process that imported the handler from the zip and served 1,000 ALB events, and the
  peak summed RSS of the gunicorn process tree (master + workers, from /proc) during the load runs.
"""

from __future__ import annotations

import http.client
import importlib.util
import io
import json
import os
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

ROOT = Path(__file__).resolve().parents[1]
APP_DIR = ROOT / "files" / "app"
VENV_BIN = Path(sys.executable).parent
CACHE_DIR = ROOT / "build" / "lambda-zip-cache"
ZIP_PATH = ROOT / "build" / "bench" / "app.zip"

IMPORT_RUNS = 15
HANDLER_CALLS = 20_000
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
    builder = load_file_module("lambda_zip_builder", ROOT / "plugins" / "module_utils" / "lambda_zip.py")

    def run_command(argv, environ_update):
        done = subprocess.run(argv, env={**os.environ, **environ_update}, capture_output=True, text=True, check=False)
        return done.returncode, done.stdout, done.stderr

    data, vendored, _ = builder.build_package(
        src=str(APP_DIR),
        requirements=builder.read_requirements_file(str(ROOT / "requirements" / "app.txt")),
        exclude=builder.DEFAULT_EXCLUDE,
        cache_dir=str(CACHE_DIR),
        python_version="3.12",
        pip_args=[],
        run_command=run_command,
        python=sys.executable,
    )
    ZIP_PATH.parent.mkdir(parents=True, exist_ok=True)
    ZIP_PATH.write_bytes(data)
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


COLD_IMPORT = """
import sys, time
sys.path.insert(0, sys.argv[1])
started = time.perf_counter()
from app import lambda_handler
print(time.perf_counter() - started)
"""


def cold_import_ms(path_entry: Path) -> list[float]:
    return [float(fresh_interpreter(COLD_IMPORT, path_entry)) * 1000 for _ in range(IMPORT_RUNS)]


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
event = json.loads(sys.argv[3])
from app import lambda_handler
sys.stdout = open(os.devnull, "w")
for _ in range(int(sys.argv[2])):
    assert lambda_handler(event, None)["statusCode"] == 200
sys.stdout = sys.__stdout__
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def handler_process_rss_mb(zip_path: Path) -> float:
    kib = int(fresh_interpreter(SERVE_EVENTS, zip_path, str(HANDLER_EVENTS), json.dumps(ALB_EVENT)))
    return kib / 1024


def per_call_us(function, calls: int) -> float:
    return min(timeit.repeat(function, number=calls, repeat=5)) / calls * 1e6


def handler_overhead() -> dict[str, float]:
    sys.path.insert(0, str(APP_DIR))
    app_module = load_file_module("bench_app_module", APP_DIR / "app.py")
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
        app_module.lambda_handler(ALB_EVENT, None)

    def through_handler_multi():
        app_module.lambda_handler(multi_event, None)

    saved, sys.stdout = sys.stdout, open(os.devnull, "w")  # noqa: SIM115 (restored below)
    try:
        assert app_module.lambda_handler(ALB_EVENT, None)["statusCode"] == 200
        result = {
            "direct_us": per_call_us(direct, HANDLER_CALLS),
            "handler_us": per_call_us(through_handler, HANDLER_CALLS),
            "handler_multi_us": per_call_us(through_handler_multi, HANDLER_CALLS),
        }
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


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class ServerSpec:
    label: str
    kind: str  # gunicorn or wsgiref
    env: tuple[tuple[str, str], ...] = ()


GUNICORN = ServerSpec("gunicorn", "gunicorn")
WSGIREF = ServerSpec("wsgiref", "wsgiref")
# For information only: a second worker uses a second CPU, which a 0.25 vCPU task does not have.
GUNICORN_2 = ServerSpec("gunicorn, 2 workers", "gunicorn", (("GUNICORN_WORKERS", "2"),))
PONG, SLEEP = "/pong", "/sleep?seconds=0.05"


def start_server(spec: ServerSpec) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    for name in ("GUNICORN_WORKERS", "GUNICORN_THREADS", "GUNICORN_CMD_ARGS", "AWS_LAMBDA_RUNTIME_API"):
        env.pop(name, None)
    env.update(spec.env)
    if spec.kind == "gunicorn":
        command = [str(VENV_BIN / "gunicorn"), "--config", "gunicorn.conf.py", "app:app"]
    else:
        command = [sys.executable, "-c", WSGIREF_SERVER, str(APP_DIR), str(port)]
    process = subprocess.Popen(
        command, cwd=APP_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
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
                raise RuntimeError(f"{spec.label} did not start") from None
            time.sleep(0.1)


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def process_tree(root_pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    tree, pending = [], [root_pid]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def tree_rss_bytes(root_pid: int) -> int:
    """Summed RSS of a process and its descendants, from /proc/PID/statm."""
    total = 0
    for pid in process_tree(root_pid):
        try:
            with open(f"/proc/{pid}/statm") as handle:
                total += int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            continue
    return total


def tree_cpu_seconds(root_pid: int) -> float:
    """User + system CPU time of a process and its descendants (live ones), from /proc/PID/stat."""
    ticks = 0
    for pid in process_tree(root_pid):
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


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


def container_runs() -> tuple[dict[tuple[str, str], list[LoadResult]], float]:
    """Servers take turns round after round (noise from other work on the machine hits all of them)."""
    plan = [(GUNICORN, (PONG, SLEEP)), (WSGIREF, (PONG, SLEEP)), (GUNICORN_2, (PONG,))]
    results: dict[tuple[str, str], list[LoadResult]] = {}
    peak_tree = 0
    for round_number in range(LOAD_ROUNDS):
        for spec, paths in plan:
            if spec is WSGIREF and round_number:
                paths = (PONG,)  # wsgiref serves sleeps one at a time: one round of them is enough
            process, port = start_server(spec)
            sampling = threading.Event()

            def sample(pid=process.pid, sampling=sampling):
                nonlocal peak_tree
                while not sampling.is_set():
                    peak_tree = max(peak_tree, tree_rss_bytes(pid))
                    sampling.wait(0.05)

            sampler = threading.Thread(target=sample) if spec is GUNICORN else None
            if sampler:
                sampler.start()
            try:
                for path in paths:
                    cpu_before = tree_cpu_seconds(process.pid)
                    load = generate_load(port, path)
                    load.server_cpu = tree_cpu_seconds(process.pid) - cpu_before
                    results.setdefault((spec.label, path), []).append(load)
            finally:
                sampling.set()
                if sampler:
                    sampler.join()
                stop_server(process)
    return results, peak_tree / 1024 / 1024


def median_of(loads: list[LoadResult], attribute: str) -> float:
    return statistics.median(getattr(load, attribute) for load in loads)


# --- report ------------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


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
    loads, tree_mb = container_runs()

    cold_zip = statistics.median(zip_import)
    cold_dir = statistics.median(dir_import)
    added = overhead["handler_us"] - overhead["direct_us"]
    added_multi = overhead["handler_multi_us"] - overhead["direct_us"]
    pong_ratio = median_of(loads[("gunicorn", PONG)], "rps") / median_of(loads[("wsgiref", PONG)], "rps")
    sleep_ratio = median_of(loads[("gunicorn", SLEEP)], "rps") / median_of(loads[("wsgiref", SLEEP)], "rps")

    print(f"Lambda zip: {zip_path.relative_to(ROOT)}, {entries} entries, vendored {', '.join(vendored)}")
    print(f"{'measure':58} {'value':>14} {'target':>12} {'':>7}")
    rows = [
        ("Lambda zip size", f"{zip_size / 1024:.1f} KiB", "< 1 MiB", zip_size < TARGETS["zip_bytes"]),
        (
            f"cold import of app.lambda_handler, zip on path (median of {IMPORT_RUNS})",
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
        ("ALB event through lambda_handler, GET /pong", f"{overhead['handler_us']:.1f} us", "", None),
        ("  handler overhead per request (difference)", f"{added:.1f} us", "< 50 us", added < 50),
        ("  ratio handler / direct", f"{overhead['handler_us'] / overhead['direct_us']:.2f}x", "", None),
        ("  same with multi-value headers: overhead", f"{added_multi:.1f} us", "< 50 us", added_multi < 50),
        (
            f"peak RSS, handler process after {HANDLER_EVENTS:,} ALB events",
            f"{handler_rss:.1f} MB",
            "< 60 MB",
            handler_rss < TARGETS["handler_rss_mb"],
        ),
        ("peak RSS, gunicorn tree (master + workers) under load", f"{tree_mb:.1f} MB", "< 300 MB", tree_mb < 300),
    ]
    for label, value, target, ok in rows:
        print(f"{label:58} {value:>14} {target:>12} {'' if ok is None else verdict(ok):>7}")

    print(
        f"\nContainer, {CONNECTIONS} concurrent keep-alive connections, {LOAD_SECONDS:g} s per run after "
        f"{WARMUP_SECONDS:g} s warm-up, medians of the runs; gunicorn = files/app/gunicorn.conf.py defaults "
        "(1 worker, gthread, 32 threads)"
    )
    print(
        f"{'server':20} {'path':20} {'runs':>4} {'requests':>9} {'errors':>6} {'req/s':>8} {'p99 ms':>8} "
        f"{'CPU us/req':>10}"
    )
    for (label, path), runs in loads.items():
        print(
            f"{label:20} {path:20} {len(runs):>4} {sum(run.requests for run in runs):>9} "
            f"{sum(run.errors for run in runs):>6} {median_of(runs, 'rps'):>8.1f} {median_of(runs, 'p99_ms'):>8.1f} "
            f"{median_of(runs, 'cpu_us_per_request'):>10.0f}"
        )
    print(f"{'ratio gunicorn / wsgiref req/s on /pong':58} {pong_ratio:>13.2f}x {'>= 1.5x':>12} ", end="")
    print(f"{verdict(pong_ratio >= TARGETS['pong_ratio']):>7}")
    print(f"{'ratio gunicorn / wsgiref req/s on /sleep?seconds=0.05':58} {sleep_ratio:>13.2f}x {'>= 5x':>12} ", end="")
    print(f"{verdict(sleep_ratio >= TARGETS['sleep_ratio']):>7}")
    print(f"\nmachine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
