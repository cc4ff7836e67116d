#!/usr/bin/env bash
# Print the path of a Python interpreter >= 3.12, or explain what to install and fail.
# Order: $PYTHON, python3.12 (the Lambda runtime of the app), 3.13, 3.14, python3, then pyenv versions.
set -euo pipefail

is_recent() {
  "$@" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1
}

candidates=()
[ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
candidates+=(python3.12 python3.13 python3.14 python3)
for candidate in "${candidates[@]}"; do
  if command -v "$candidate" >/dev/null 2>&1 && is_recent "$candidate"; then
    "$candidate" -c 'import sys; print(sys.executable)'
    exit 0
  fi
done

# pyenv shims for a version that is installed but not selected fail above; use the binary itself.
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for binary in $(ls -d "$root"/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -V); do
    if is_recent "$binary"; then
      echo "$binary"
      exit 0
    fi
  done
fi

cat >&2 <<'MSG'
error: no Python 3.12 or newer found (tried $PYTHON, python3.12, python3.13, python3.14, python3, pyenv).
Install one, for example:
  Debian/Ubuntu:  apt-get install python3.12 python3.12-venv
  pyenv:          pyenv install 3.12
  macOS:          brew install python@3.12
or point PYTHON at it: make venv PYTHON=/path/to/python3.12
MSG
exit 1
