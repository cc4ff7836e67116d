#!/usr/bin/env bash
# make molecule: run the molecule scenarios (extensions/molecule/) against a private local AWS.
#   scripts/molecule.sh [scenario ...]     (default: default multi_account)
# Starts a moto server, and a local OCI registry (Debian's docker-registry) for ecr_push, on free loopback ports,
# exports LOCAL_AWS_PORT/LOCAL_AWS_HOST/LOCAL_REGISTRY_PORT for the inventories, runs each scenario's sequence
# (syntax, converge, idempotence, verify, destroy) step by step to time the two converges, prints the figures, and
# stops everything it started on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=${VENV:-.venv}
case "$venv" in /*) ;; *) venv="$root/$venv" ;; esac
python="$venv/bin/python"
export PATH="$venv/bin:$PATH"
# The committed ansible.cfg's collections path (collections/ansible_collections/spillover/lambda_ecs links to
# this working tree), set here too so that an ANSIBLE_COLLECTIONS_PATH of the caller's shell cannot point elsewhere.
export ANSIBLE_COLLECTIONS_PATH="$root/collections"
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(default multi_account)

mkdir -p build
work=$(mktemp -d "$root/build/molecule-run.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT INT TERM

free_port() { "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() {  # url, what
  for _ in $(seq 1 150); do
    "$python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "error: $2 did not answer at $1" >&2
  return 1
}

export LOCAL_AWS_HOST=127.0.0.1 LOCAL_AWS_PORT
LOCAL_AWS_PORT=$(free_port)
"$venv/bin/moto_server" -H 127.0.0.1 -p "$LOCAL_AWS_PORT" >"$work/moto.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$LOCAL_AWS_PORT/moto-api/data.json" "the local AWS"
echo "molecule: local AWS at http://127.0.0.1:$LOCAL_AWS_PORT (log $work/moto.log)"

if command -v docker-registry >/dev/null 2>&1; then
  export LOCAL_REGISTRY_PORT
  LOCAL_REGISTRY_PORT=$(free_port)
  cat >"$work/registry.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$LOCAL_REGISTRY_PORT
YAML
  docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
  pids+=($!)
  wait_for "http://127.0.0.1:$LOCAL_REGISTRY_PORT/v2/" "the local registry"
  echo "molecule: local registry at 127.0.0.1:$LOCAL_REGISTRY_PORT"
else
  echo "molecule: docker-registry not installed (make debs); ecr_push has no local registry" >&2
fi
# No public registry is reachable here: the image builds on a base made from the host's Python (once).
scripts/local-base-image.sh

# "ok=N changed=N unreachable=N failed=N skipped=N" of every host in a step's log -> "tasks N (changed N)".
recap() {
  "$python" - "$1" <<'PY'
import re, sys
# molecule frames ansible's output ("  │ " prefixes, colours, wrapped lines): strip that first.
text = re.sub(r"\x1b\[[0-9;]*m", "", open(sys.argv[1], encoding="utf-8").read())
text = re.sub(r"^\s*│ ?", "", text, flags=re.M)
hosts = re.findall(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)\s+skipped=(\d+)", text, re.M)
print("; ".join(f"{h}: {int(o) + int(f) + int(s)} tasks, {c} changed" for h, o, c, f, s in hosts) or "no recap")
PY
}

step() {  # scenario, molecule command -> seconds taken
  local log="$work/$1-$2.log" start end
  start=$(date +%s.%N)
  if ! molecule "$2" -s "$1" >"$log" 2>&1; then
    tail -60 "$log" >&2
    echo "molecule: $1: $2 failed (full log: $log)" >&2
    return 1
  fi
  end=$(date +%s.%N)
  "$python" -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$start" "$end"
}

summary=()
for scenario in "${scenarios[@]}"; do
  echo "molecule: scenario $scenario"
  step "$scenario" syntax >/dev/null
  first=$(step "$scenario" converge)
  second=$(step "$scenario" idempotence)
  step "$scenario" verify >/dev/null
  step "$scenario" destroy >/dev/null
  line="$scenario: first converge ${first} s ($(recap "$work/$scenario-converge.log")); second converge ${second} s ($(recap "$work/$scenario-idempotence.log"))"
  echo "molecule: $line"
  summary+=("$line")
done
echo
echo "molecule: all scenarios passed"
printf '  %s\n' "${summary[@]}"
