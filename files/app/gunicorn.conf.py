"""gunicorn settings for the app's container (ECS Fargate, 0.25 vCPU / 512 MB by default).

Run from this directory: ``gunicorn --config gunicorn.conf.py app:app`` (the image's CMD), or from the
repository root: ``gunicorn --config files/app/gunicorn.conf.py --chdir files/app app:app``.

Environment (all optional):
  HOST, PORT                    address to listen on (default 0.0.0.0:8080); GUNICORN_CMD_ARGS="--bind ..." wins
  GUNICORN_WORKERS              worker processes (default 1: a quarter of a vCPU gains nothing from a second one)
  GUNICORN_THREADS              threads per worker (default 32: requests that wait, such as /sleep, hold a
                                thread but no CPU, so one process serves many of them at once)
  GUNICORN_GRACEFUL_TIMEOUT     seconds in-flight requests get after SIGTERM (default 25, inside ECS's 30 s
                                stop timeout, after which the task gets SIGKILL)
  GUNICORN_KEEPALIVE            idle keep-alive seconds (default 75: longer than the ALB's 60 s idle timeout,
                                so the ALB, not the app, closes idle connections)
  FORWARDED_ALLOW_IPS           proxies whose X-Forwarded-* headers are trusted (default "*": only the ALB's
                                security group reaches the task)
"""

import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{int(os.environ.get('PORT', '8080'))}"
workers = int(os.environ.get("GUNICORN_WORKERS", "1"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "32"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "25"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")
# The app writes one JSON line per request itself; gunicorn's own access log would double it.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# The worker heartbeat file on tmpfs: a container's overlay filesystem can stall it (gunicorn's FAQ).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn >= 24 opens a control socket at one fixed path per user; several servers on one host (the lab, tests)
# would fight over it, and nothing here uses it. Older versions ignore this name.
control_socket_disable = True
