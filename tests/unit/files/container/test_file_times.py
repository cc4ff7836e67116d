"""files/container/file_times.py: the image's files dated as the Lambda zip dates its entries."""

from __future__ import annotations

import calendar
import importlib.util
import io
import os
import sys
import zipfile

from tests.support.ansible_run import link_collection
from tests.support.app_support import CONTAINER_DIR

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.module_utils import lambda_zip

spec = importlib.util.spec_from_file_location("file_times", CONTAINER_DIR / "file_times.py")
file_times = importlib.util.module_from_spec(spec)
spec.loader.exec_module(file_times)

LATER = 1_900_000_000


def tree(root):
    """An app's files with times of their own: nested directories, a file, links to a file, a directory and nowhere."""
    (root / "static" / "css").mkdir(parents=True)
    (root / "static" / "css" / "site.css").write_text("body {}\n")
    (root / "app.py").write_text("app = None\n")
    outside = root.parent / "outside.txt"
    outside.write_text("not the app's\n")
    os.symlink(outside, root / "static" / "linked.txt")
    os.symlink(root / "static" / "css", root / "styles")
    os.symlink(root / "absent", root / "dangling")
    for path in [outside, *root.rglob("*"), root]:
        os.utime(path, (LATER, LATER), follow_symlinks=False)
    return outside


def test_the_zip_and_the_image_date_files_at_the_same_second():
    # Lambda unpacks the zip in UTC: an entry dated ZIP_DATE is a file of that time in seconds since the epoch.
    data = lambda_zip.zip_bytes({"static/site.css": b"body {}\n"})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        dates = {calendar.timegm((*info.date_time, 0, 0, 0)) for info in archive.infolist()}
    assert dates == {lambda_zip.ZIP_EPOCH} == {file_times.ZIP_EPOCH}


def test_every_file_directory_and_link_gets_the_zips_time_and_a_second_run_changes_nothing(tmp_path):
    root = tmp_path / "task"
    outside = tree(root)
    changed, seen = file_times.date_tree(str(root))
    entries = [root, *root.rglob("*")]
    assert (changed, seen) == (len(entries), len(entries)) == (8, 8)
    assert {os.lstat(path).st_mtime for path in entries} == {file_times.ZIP_EPOCH}
    # A link is dated itself: what it points to outside the tree keeps its time.
    assert os.stat(outside).st_mtime == LATER
    assert file_times.date_tree(str(root)) == (0, 8)


def test_only_what_differs_is_changed(tmp_path):
    root = tmp_path / "task"
    tree(root)
    file_times.date_tree(str(root))
    os.utime(root / "app.py", (LATER, LATER))
    assert file_times.date_tree(str(root)) == (1, 8)


def test_the_command_dates_each_directory_and_refuses_what_is_not_one(tmp_path, capsys):
    root = tmp_path / "task"
    tree(root)
    assert file_times.main([str(root)]) == 0
    assert (
        capsys.readouterr().out
        == f"file_times.py: {root}: 8 of 8 files and directories dated 1980-01-01 00:00:00 UTC\n"
    )
    assert file_times.main([str(root / "app.py")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert file_times.main([]) == 2
