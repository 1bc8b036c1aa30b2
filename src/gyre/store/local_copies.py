"""Verified, read-only local copies of stored folders and files (the workspace's cache).

Steps, ``run.output()``, ``load_model`` and ``gyre serve`` read stored folders and files
through one local copy each, under ``cache/dirs/<digest>`` or ``cache/files/<digest>``. A copy
is made from verified blobs in a staging folder, made read-only (files 0444, folders 0555),
and renamed into place; a stamp beside it (``.<digest>.stamp``) keeps each file's size, mtime
and inode. Before a copy is handed out again its files are ``stat``-ed against the stamp;
where anything differs (a file written, added or removed, even by root, whom permissions do
not stop) the files are hashed against their digests, and a copy whose bytes changed is
removed and made again from the blobs. So what a run recorded is what the next reader gets.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
from pathlib import Path

from gyre.store.blobs import BlobStore, sha256_file

Snapshot = dict[str, list[int]]


def materialize(target: Path, expected: dict[str, str], blobs: BlobStore) -> Path:
    """A verified read-only copy at ``target`` of the files ``expected`` (relative path ->
    digest); a copy whose bytes changed is made again."""
    if target.exists():
        if unchanged(target) or _bytes_match(target, expected):
            return target
        discard(target)
    staging = target.parent / f".{target.name}.{os.getpid()}"
    discard(staging)
    for rel, digest in expected.items():
        blobs.fetch(digest, staging / rel)
    staging.mkdir(parents=True, exist_ok=True)
    _seal(staging)
    try:
        os.replace(staging, target)
    except OSError:  # another process finished first: theirs is as good as ours
        discard(staging)
        return target
    _write_stamp(target)
    return target


def unchanged(target: Path) -> bool:
    """Whether nothing in ``target`` was written, added or removed since it was stamped."""
    try:
        recorded = json.loads(_stamp_path(target).read_text())
    except (OSError, ValueError):
        return False
    return bool(recorded == _snapshot(target))


def changed_files(target: Path, expected: dict[str, str]) -> list[str]:
    """Relative paths whose bytes differ from ``expected``, and files that should not be
    there or are missing."""
    present = set(_snapshot(target))
    wrong = sorted((present - set(expected)) | (set(expected) - present))
    for rel in sorted(present & set(expected)):
        if sha256_file(target / rel)[0] != expected[rel]:
            wrong.append(rel)
    return wrong


def discard(target: Path) -> None:
    """Remove a copy (read-only files and folders included) and its stamp."""
    _stamp_path(target).unlink(missing_ok=True)
    if not target.exists():
        return
    for folder, _dirs, _files in os.walk(target):
        with contextlib.suppress(OSError):
            os.chmod(folder, 0o755)  # read-only folders keep their entries from being removed
    shutil.rmtree(target, ignore_errors=True)


def _bytes_match(target: Path, expected: dict[str, str]) -> bool:
    if changed_files(target, expected):
        return False
    _write_stamp(target)  # touched, not changed: stamp again so the next check is a stat
    return True


def _seal(root: Path) -> None:
    read_only_file = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
    read_only_dir = read_only_file | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
    for folder, dirs, files in os.walk(root, topdown=False):
        for name in files:
            os.chmod(os.path.join(folder, name), read_only_file)
        for name in dirs:
            os.chmod(os.path.join(folder, name), read_only_dir)
    os.chmod(root, read_only_dir)


def _snapshot(root: Path) -> Snapshot:
    found: Snapshot = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            found[os.path.relpath(path, root)] = [info.st_size, info.st_mtime_ns, info.st_ino]
    return found


def _stamp_path(target: Path) -> Path:
    return target.parent / f".{target.name}.stamp"


def _write_stamp(target: Path) -> None:
    stamp = _stamp_path(target)
    temp = stamp.with_name(f"{stamp.name}.{os.getpid()}")
    temp.write_text(json.dumps(_snapshot(target), sort_keys=True))
    os.replace(temp, stamp)
