#!/usr/bin/env bash
# ansible-test sanity for the collection, without docker, with the venv's Python.
# ansible-test needs the collection inside an ansible_collections/NAMESPACE/NAME tree, and sees only
# collections under the same root, so amazon.aws and community.aws are linked in from the venv.
# SANITY_DIR (default build/sanity) is where the tree is laid; extra arguments go to ansible-test.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
python="$venv/bin/python"
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
site=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
root=${SANITY_DIR:-build/sanity}/ansible_collections
tree="$root/spillover/lambda_ecs"

rm -rf "$tree"
mkdir -p "$tree" "$root/amazon" "$root/community"
# What the collection ships: the files git knows plus new ones not ignored, less the development tools
# that run from a checkout only (the pytest suite, the lab, the benchmarks, CI), which ruff checks instead.
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' file; do
  [ -e "$file" ] || continue
  case "$file" in tests/* | lab/* | benchmarks/* | .ci/* | collections/* | ansible.cfg) continue ;; esac
  mkdir -p "$tree/$(dirname "$file")"
  cp -p "$file" "$tree/$file"
done
ln -sfn "$site/ansible_collections/amazon/aws" "$root/amazon/aws"
ln -sfn "$site/ansible_collections/community/aws" "$root/community/aws"

# Pre-seed the pip bootstrap script that ansible-test would download.
pip_version=$("$python" - <<'PY'
from ansible_test._internal.python_requirements import get_venv_packages
from ansible_test._internal.host_configs import NativePythonConfig
print(get_venv_packages(NativePythonConfig(version="x", path="x"))["pip"])
PY
)
cache=~/.ansible/test/cache
mkdir -p "$cache"
cp scripts/sanity/get_pip_stub.py "$cache/get_pip_${pip_version//./_}.py"

venv_bin=$(cd "$venv/bin" && pwd)
cd "$tree"
# A git repository of its own, so ansible-test lists exactly these files.
git init -q . && git add -A
PATH="$venv_bin:$PATH" \
  ansible-test sanity --venv --requirements --python "$version" --color no "$@"
