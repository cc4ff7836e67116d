#!/usr/bin/env bash
# make lock: write every lock file from its requirements file with uv (`uv pip compile`), one command per lock.
#   scripts/lock.sh            keep each lock's pins where they still satisfy the ranges (uv prefers them)
#   UPGRADE=1 scripts/lock.sh  take the newest versions the ranges allow (upstream updates)
# The locks are universal (any OS and machine, Python 3.12 and later: find-python.sh may pick 3.12 or 3.13) and carry
# every file's sha256, so `make venv` installs them with `pip install --require-hashes --no-deps`. uv is the one that
# requirements/dev.lock pins: .venv/bin/uv, else build/uv-venv made from that pin, else UV=/path/to/uv (the first
# lock of all). scripts/check-locks.py checks the result against the ranges.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=${VENV:-.venv}
case "$venv" in /*) ;; *) venv="$root/$venv" ;; esac

uv=${UV:-}
if [ -z "$uv" ] && [ -x "$venv/bin/uv" ]; then
  uv="$venv/bin/uv"
fi
if [ -z "$uv" ]; then
  # uv as requirements/dev.lock pins it, hashes checked, in a venv of its own (a .venv that does not install because
  # a requirements file changed and was not re-locked must not stop `make lock`).
  [ -f requirements/dev.lock ] || { echo "error: no uv: set UV=/path/to/uv for the first lock" >&2; exit 1; }
  uv_venv="$root/build/uv-venv"
  pin=$(sed -n 's/^\(uv==[^ ]*\) .*/\1/p' requirements/dev.lock)
  [ -n "$pin" ] || { echo "error: requirements/dev.lock pins no uv; set UV=/path/to/uv" >&2; exit 1; }
  if ! [ -x "$uv_venv/bin/uv" ] || [ "$("$uv_venv/bin/uv" --version | cut -d' ' -f2)" != "${pin#uv==}" ]; then
    python=$(scripts/find-python.sh)
    rm -rf "$uv_venv" && mkdir -p build && "$python" -m venv "$uv_venv"
    # The pin's lines: "uv==X \" and its "--hash=..." continuation lines.
    sed -n '/^uv==/,/^[^ ]/{/^uv==/p;/^    --hash/p}' requirements/dev.lock >"$uv_venv/uv.lock"
    "$uv_venv/bin/pip" install --quiet --require-hashes --no-deps -r "$uv_venv/uv.lock"
  fi
  uv="$uv_venv/bin/uv"
fi
echo "lock: $("$uv" --version) ($uv)"

# The interpreter uv may build a source distribution with; never a downloaded one.
python=$(scripts/find-python.sh)
common=(pip compile --quiet --no-python-downloads --python "$python" --python-version 3.12
  --custom-compile-command "make lock")
[ "${UPGRADE:-0}" = 1 ] && common+=(--upgrade)
locked=(--universal --generate-hashes)

# One lock: uv writes it beside, from the lock as it is (its pins are uv's preferences); it replaces the lock only when
# it differs, so an unchanged lock keeps its time and make does not reinstall the venvs.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
lock() {  # requirements file, lock file, uv options
  local requirements=$1 out=$2 new="$work/${2//\//_}"
  shift 2
  [ -f "$out" ] && cp "$out" "$new"
  "$uv" "${common[@]}" "$@" "$requirements" -o "$new"
  if ! cmp -s "$new" "$out"; then
    cp "$new" "$out"
    echo "lock: wrote $out"
  fi
}

# The venvs' pip, then the project's tools (.venv), Galaxy's importer (build/importer-venv) and the controller
# runtime the collection needs.
lock requirements/pip.txt requirements/pip.lock "${locked[@]}"
lock requirements/dev.txt requirements/dev.lock "${locked[@]}"
lock requirements/importer.txt requirements/importer.lock "${locked[@]}"
lock requirements/runtime.txt requirements/runtime.lock "${locked[@]}"
# The collection's runtime sets, shipped inside the collection: the Lambda entry's (WSGI, ASGI) and the image's.
lock files/lambda_entry/requirements-wsgi.txt files/lambda_entry/requirements-wsgi.lock "${locked[@]}"
lock files/lambda_entry/requirements-asgi.txt files/lambda_entry/requirements-asgi.lock "${locked[@]}"
lock files/container/requirements.txt files/container/requirements.lock "${locked[@]}"
# The execution environment's (execution-environment.yml): ansible-builder reads a requirements file line by line and
# merges it with the collections' own requirements into one pip install, so a lock for it has no hashes (they would
# put pip in hash-checking mode, where the collections' unpinned lines fail), no continuation lines and no markers:
# resolved for its image (Linux, Python 3.12), each pin on one line.
lock requirements/execution-environment.txt requirements/execution-environment.lock --python-platform linux \
  --annotation-style line

# Every lock against its ranges (the venv's packaging, else the bootstrap interpreter's pip's).
checker=$python
[ -x "$venv/bin/python" ] && checker="$venv/bin/python"
"$checker" scripts/check-locks.py
