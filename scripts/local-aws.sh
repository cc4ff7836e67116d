#!/usr/bin/env bash
# Start or stop the local AWS: a moto server on loopback.
#   scripts/local-aws.sh up|down|status
# LOCAL_AWS_PORT (default 45660) and LOCAL_AWS_HOST (default 127.0.0.1) choose where it listens;
# LOCAL_AWS_DIR (default .local-aws) holds its pid file and log.
set -euo pipefail

host=${LOCAL_AWS_HOST:-127.0.0.1}
port=${LOCAL_AWS_PORT:-45660}
state_dir=${LOCAL_AWS_DIR:-.local-aws}
pid_file="$state_dir/moto-$port.pid"
log_file="$state_dir/moto-$port.log"
venv=${VENV:-.venv}
endpoint="http://$host:$port"

case "$host" in
  127.*|localhost|::1) ;;
  *) echo "error: LOCAL_AWS_HOST must be a loopback address, got '$host'" >&2; exit 2 ;;
esac

answers() {
  "$venv/bin/python" - "$endpoint" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/moto-api/data.json", timeout=2).read()
PY
}

running_pid() {
  [ -f "$pid_file" ] || return 1
  local pid
  pid=$(cat "$pid_file")
  # Only our own moto server counts: a recycled pid of another program does not.
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q moto_server; then
    echo "$pid"
    return 0
  fi
  return 1
}

up() {
  mkdir -p "$state_dir"
  if pid=$(running_pid); then
    echo "local AWS already running at $endpoint (pid $pid)"
    return 0
  fi
  if answers; then
    echo "error: something already answers at $endpoint but was not started here; choose another LOCAL_AWS_PORT" >&2
    return 1
  fi
  [ -x "$venv/bin/moto_server" ] || { echo "error: $venv/bin/moto_server missing; run 'make venv' first" >&2; return 1; }
  nohup "$venv/bin/moto_server" -H "$host" -p "$port" >"$log_file" 2>&1 &
  echo $! >"$pid_file"
  for _ in $(seq 1 100); do
    if answers; then
      echo "local AWS started at $endpoint (pid $(cat "$pid_file"), log $log_file)"
      return 0
    fi
    if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
      echo "error: moto server exited at start; its log says:" >&2
      tail -20 "$log_file" >&2
      rm -f "$pid_file"
      return 1
    fi
    sleep 0.2
  done
  echo "error: moto server did not answer at $endpoint within 20 s; see $log_file" >&2
  return 1
}

down() {
  if pid=$(running_pid); then
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    rm -f "$pid_file"
    echo "local AWS at $endpoint stopped (pid $pid)"
  else
    rm -f "$pid_file"
    echo "local AWS at $endpoint was not running; nothing to stop"
  fi
}

status() {
  if pid=$(running_pid); then echo "local AWS running at $endpoint (pid $pid)"; else echo "local AWS not running"; return 1; fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
