#!/usr/bin/env bash
# The local stand-in for ECR's endpoint: a real OCI registry (Debian's docker-registry) on loopback, and the base image
# the app's image builds FROM (scripts/local-base-image.sh: no public registry is reachable here).
#   scripts/local-registry.sh up|down|status
# LOCAL_REGISTRY_PORT (default 45670) chooses the port, the one inventories/local and inventories/lab push to; its
# storage, configuration, log and pid file are in LOCAL_AWS_DIR (default .local-aws). `up` is harmless twice.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=${VENV:-.venv}
case "$venv" in /*) ;; *) venv="$root/$venv" ;; esac
port=${LOCAL_REGISTRY_PORT:-45670}
state_dir=${LOCAL_AWS_DIR:-.local-aws}
case "$state_dir" in /*) ;; *) state_dir="$root/$state_dir" ;; esac
pid_file="$state_dir/registry-$port.pid"
url="http://127.0.0.1:$port/v2/"

running() { [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; }
answers() { "$venv/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$url" \
  2>/dev/null; }

case "${1:-}" in
  up)
    mkdir -p "$state_dir"
    if running; then
      echo "local registry already running at 127.0.0.1:$port (pid $(cat "$pid_file"))"
    elif answers; then
      echo "error: something already answers at $url but was not started here; choose another LOCAL_REGISTRY_PORT" >&2
      exit 1
    elif command -v docker-registry >/dev/null 2>&1; then
      cat >"$state_dir/registry-$port.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $state_dir/registry-$port
http:
  addr: 127.0.0.1:$port
YAML
      nohup docker-registry serve "$state_dir/registry-$port.yml" >"$state_dir/registry-$port.log" 2>&1 &
      echo $! >"$pid_file"
      for _ in $(seq 1 100); do
        answers && break
        sleep 0.2
      done
      answers || { echo "error: the local registry did not answer at $url (log: $state_dir/registry-$port.log)" >&2; exit 1; }
      echo "local registry started at 127.0.0.1:$port (pid $(cat "$pid_file"))"
    else
      echo "error: docker-registry is not installed; run 'make debs'" >&2
      exit 1
    fi
    echo "== base image for the local build: scripts/local-base-image.sh"
    scripts/local-base-image.sh
    ;;
  down)
    if running; then
      kill "$(cat "$pid_file")" && rm -f "$pid_file"
      echo "local registry at 127.0.0.1:$port stopped"
    else
      echo "local registry at 127.0.0.1:$port is not running"
    fi
    ;;
  status)
    running && answers
    ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
