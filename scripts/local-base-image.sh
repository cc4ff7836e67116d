#!/usr/bin/env bash
# Build a minimal Python 3.12 base image for the app's Dockerfile where no public registry is reachable:
#   scripts/local-base-image.sh [IMAGE]     (default localhost/spillover-python:3.12; env PYTHON, STORAGE_DRIVER)
# `buildah from scratch` plus the host's Python 3.12 (relocated to /usr/local), the shared libraries its binary and
# its extension modules load (as ldd lists them), /bin/sh and the CA bundle, so the Dockerfile's RUN pip install
# works, plus what a Debian python image has besides and binary wheels load (the rest of glibc, libgcc_s: granian's
# Rust module links them). Idempotent: an image built by this version of the script is kept (FORCE=1 rebuilds; a
# label holds the script's hash). Then pass --build-arg BASE_IMAGE=IMAGE (ecr_push_base_image) with the same buildah
# storage driver.
set -euo pipefail

image=${1:-localhost/spillover-python:3.12}
driver=${STORAGE_DRIVER:-vfs}
buildah=(buildah --storage-driver "$driver")
here=$(cd "$(dirname "$0")" && pwd)

stamp=$(sha256sum "$0" | cut -c1-16)
built=$("${buildah[@]}" inspect --type image --format '{{index .OCIv1.Config.Labels "spillover.base-image"}}' "$image" \
  2>/dev/null || true)
if [ "${FORCE:-0}" != 1 ] && [ "$built" = "$stamp" ]; then
  echo "local-base-image: $image already exists"
  exit 0
fi

python=${PYTHON:-$("$here/find-python.sh")}
python=$("$python" -c 'import os, sys; print(os.path.realpath(sys.executable))')
version=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
[ "$version" = 3.12 ] || { echo "local-base-image: need Python 3.12, $python is $version" >&2; exit 1; }
stdlib=$("$python" -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')
purelib=$("$python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
libdir=$("$python" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR") or "")')

container=$("${buildah[@]}" from scratch)
trap '"${buildah[@]}" rm "$container" >/dev/null 2>&1 || true' EXIT
root=$("${buildah[@]}" mount "$container")

mkdir -p "$root"/usr/local/bin "$root"/usr/local/lib/python3.12/site-packages "$root"/bin "$root"/tmp \
  "$root"/etc/ssl/certs "$root"/app
chmod 1777 "$root"/tmp
cp -L "$python" "$root"/usr/local/bin/python3.12
ln -s python3.12 "$root"/usr/local/bin/python3
ln -s python3.12 "$root"/usr/local/bin/python
[ -n "$libdir" ] && [ -e "$libdir/libpython3.12.so.1.0" ] && cp -L "$libdir/libpython3.12.so.1.0" "$root"/usr/local/lib/
# The standard library without its tests, GUI and bundled pip wheels; pip itself from the interpreter's site-packages.
tar -C "$stdlib" --exclude=./test --exclude=./idlelib --exclude=./tkinter --exclude=./turtledemo \
  --exclude=./ensurepip --exclude=./site-packages --exclude='__pycache__' -cf - . | tar -C "$root"/usr/local/lib/python3.12 -xf -
cp -r "$purelib"/pip "$root"/usr/local/lib/python3.12/site-packages/
printf '#!/usr/local/bin/python3.12\nimport sys\nfrom pip._internal.cli.main import main\nsys.exit(main())\n' \
  >"$root"/usr/local/bin/pip
chmod 755 "$root"/usr/local/bin/pip
cp -L /bin/sh "$root"/bin/sh
cp -L /etc/ssl/certs/ca-certificates.crt "$root"/etc/ssl/certs/
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:10001:10001:app:/app:/bin/sh\n' >"$root"/etc/passwd
printf 'root:x:0:\napp:x:10001:\n' >"$root"/etc/group

# Every shared library the interpreter, its extension modules and /bin/sh load, at the same path.
for lib in $( { ldd "$python" /bin/sh; find "$stdlib/lib-dynload" -name '*.so' -exec ldd {} \; ; } 2>/dev/null \
  | awk '/=> \// {print $3} /^\s*\/lib/ {print $1}' | sort -u); do
  case "$lib" in */libpython3.12.so*) continue ;; esac
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
# The rest of glibc's libraries and libgcc_s (Debian's libc6 and libgcc-s1), next to libc.
libc_dir=$(dirname "$(ldd "$python" | awk '/libc\.so\.6 =>/ {print $3}')")
for name in libgcc_s.so.1 libpthread.so.0 libdl.so.2 librt.so.1 libutil.so.1; do
  if [ -e "$libc_dir/$name" ]; then
    mkdir -p "$root$libc_dir"
    cp -L "$libc_dir/$name" "$root$libc_dir/$name"
  fi
done
# The dynamic loader at its usual path (x86_64 and aarch64).
for loader in /lib64/ld-linux-x86-64.so.2 /lib/ld-linux-aarch64.so.1; do
  [ -e "$loader" ] && mkdir -p "$root$(dirname "$loader")" && cp -L "$loader" "$root$loader"
done

"${buildah[@]}" umount "$container" >/dev/null
"${buildah[@]}" config --env PATH=/usr/local/bin:/usr/bin:/bin --env LD_LIBRARY_PATH=/usr/local/lib \
  --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt --label "spillover.base-image=$stamp" --cmd '["python3"]' \
  "$container"
"${buildah[@]}" commit --rm "$container" "$image" >/dev/null
trap - EXIT
echo "local-base-image: built $image from $python"
