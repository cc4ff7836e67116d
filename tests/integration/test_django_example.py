"""examples/django behind the load balancer: its WSGI app answers the load balancer's health check of an ECS task
(Host: the task's private IP and port) on the health path only, serves the Hosts of ALLOWED_HOSTS, and refuses any
other Host with Django's 400.

Django is not in the dev venv: it is installed from the example's requirements.txt for this Python by pip, as the
deploy check installs it (lambda_zip's vendoring, cached in build/test-cache), and the app runs in a fresh
interpreter that sees only the example and Django (``python -I -S``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lab.builder import run_command
from lab.collection import lambda_zip
from tests.support.ansible_run import ROOT
from tests.support.app_support import ZIP_CACHE

pytestmark = pytest.mark.integration

DJANGO = ROOT / "examples" / "django"
# argv: a JSON list of [method, path, Host, forwarded]; prints a JSON list of [status, body] of the WSGI app's answers.
ASK = """
import io, json, sys
from wsgiref.util import setup_testing_defaults
from mysite.wsgi import application

answers = []
for method, path, host, forwarded in json.loads(sys.argv[1]):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "HTTP_HOST": host, "wsgi.input": io.BytesIO()}
    if forwarded:  # what the load balancer adds to a client's request over HTTPS
        environ.update(HTTP_X_FORWARDED_FOR="198.51.100.7", HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_PORT="443")
    setup_testing_defaults(environ)
    status = []
    body = b"".join(application(environ, lambda code, headers, exc_info=None: status.append(code)))
    answers.append([int(status[0].split()[0]), body.decode()])
print(json.dumps(answers))
"""


def installed_django() -> str:
    """The directory of the example's requirements installed for this Python (once; then from the cache)."""
    requirements = lambda_zip.read_requirements_file(str(DJANGO / "requirements.txt"))
    return lambda_zip.vendor_requirements(requirements, str(ZIP_CACHE), None, [], run_command, sys.executable)


def ask(requests: list[tuple[str, str, str, bool]]) -> list[tuple[int, str]]:
    django = installed_django()
    completed = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            f"import sys; sys.path[:0] = {[str(DJANGO), django]!r}\n{ASK}",
            json.dumps(requests),
        ],
        capture_output=True,
        text=True,
        cwd=DJANGO,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return [tuple(answer) for answer in json.loads(completed.stdout)]


def test_the_health_path_answers_a_tasks_ip_and_every_other_path_only_the_allowed_hosts():
    healthy = json.dumps({"message": "healthy"})
    answers = ask(
        [
            ("GET", "/health", "10.80.0.23:8080", False),  # the load balancer's health check of a task
            ("HEAD", "/health", "10.80.1.7:8080", False),
            ("GET", "/", "10.80.0.23:8080", False),  # a task's IP is no Host of the app's elsewhere
            ("POST", "/health", "10.80.0.23:8080", False),
            ("GET", "/health", "52.95.110.1:8080", False),  # a public address
            ("GET", "/health", "spillover-check.invalid", True),
            ("GET", "/", "evil.example", True),
            ("GET", "/health", "api.example.com", True),  # the deploy check with spillover_app_health_host
            ("GET", "/", "api.example.com", True),
        ]
    )
    assert [status for status, _ in answers] == [200, 200, 400, 400, 400, 400, 400, 200, 200]
    assert answers[0][1] == answers[7][1] == healthy
    assert json.loads(answers[8][1]) == {"message": "hello", "host": "api.example.com", "secure": True}


def test_the_health_middleware_reads_ipv4_and_ipv6_hosts_with_a_port_or_without():
    script = (
        f"import sys; sys.path[:0] = {[str(DJANGO)]!r}\n"
        "from mysite.health import private_address\n"
        "hosts = ['10.80.0.23:8080', '10.80.0.23', '[fd00::5]:8080', 'fd00::5', '172.16.0.1:80', '8.8.8.8:8080',"
        " '[2001:4860::8888]:8080', 'api.example.com', 'api.example.com:8080', '10.80.0.23.example.com', '']\n"
        "print([private_address(host) for host in hosts])"
    )
    # mysite.health imports django.http: the same interpreter as above, with Django.
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", f"import sys; sys.path.append({installed_django()!r})\n{script}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == str([True, True, True, True, True, False, False, False, False, False, False])
