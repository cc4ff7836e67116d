"""Date every file and directory under the given directories 1980-01-01 00:00:00 UTC, as the Lambda zip dates them.

    python file_times.py DIRECTORY...

The zip that spillover.lambda_ecs.lambda_zip builds dates every entry so, and Lambda unpacks it in UTC, so the app's
files in /var/task bear that time on Lambda. The image's recipe (Dockerfile) runs this over its /var/task after each
step that writes there, so a file of the app has the same path, size and modification time on both runtimes: a
Last-Modified header, and the ETags made of them (Starlette's, WhiteNoise's, Werkzeug's), agree whichever runtime
answers. Only what differs is changed, so a file an earlier layer already dated is not copied into a new one.
Symbolic links are dated themselves, never what they point to. The standard library only: it runs in the image.
"""

from __future__ import annotations

import os
import sys

# lambda_zip's ZIP_DATE, (1980, 1, 1, 0, 0, 0), in seconds since the epoch (tests hold the two to one value).
ZIP_EPOCH = 315532800


def date_tree(top: str, when: int = ZIP_EPOCH) -> tuple[int, int]:
    """Give ``top`` and everything under it the time ``when``; ``(entries changed, entries seen)``."""
    changed = seen = 0
    for directory, subdirs, files in os.walk(top):
        for path in [directory] + [os.path.join(directory, name) for name in subdirs + files]:
            if path != directory and os.path.isdir(path) and not os.path.islink(path):
                continue  # a directory is dated as the walk reaches it
            seen += 1
            if os.lstat(path).st_mtime != when:
                os.utime(path, (when, when), follow_symlinks=False)
                changed += 1
    return changed, seen


def main(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write("usage: file_times.py DIRECTORY...\n")
        return 2
    for top in argv:
        if not os.path.isdir(top):
            sys.stderr.write(f"file_times.py: {top} is not a directory\n")
            return 2
        changed, seen = date_tree(top)
        print(f"file_times.py: {top}: {changed} of {seen} files and directories dated 1980-01-01 00:00:00 UTC")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
