"""Is a blob still what its digest says? Cheap enough to ask before every reuse.

A small local blob is hashed (cheaper than any bookkeeping). A large one is hashed once, and
its size, mtime and inode are then remembered (``root/verified.sqlite``); later checks only
``stat`` it and hash again when any of the three changed. Blobs in object stores (S3, ...)
are checked for existence: an object store has no in-place edits to catch.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Literal

from gyre.store.blobs import BlobStore, LocalBlobStore, sha256_file

HASH_ALWAYS_BYTES = 8 << 20
Problem = Literal["missing", "corrupt"]


def problem(blobs: BlobStore, digest: str) -> Problem | None:
    """None when the blob exists and its bytes match its digest; else what is wrong."""
    if not isinstance(blobs, LocalBlobStore):
        return None if blobs.exists(digest) else "missing"
    path = blobs.path(digest)
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return "missing"
    if stat.st_size <= HASH_ALWAYS_BYTES:
        return None if sha256_file(path)[0] == digest else "corrupt"
    stamp = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
    with _Stamps(blobs.root) as stamps:
        if stamps.get(digest) == stamp:
            return None
        if sha256_file(path)[0] != digest:
            return "corrupt"
        stamps.put(digest, stamp)
    return None


class _Stamps:
    """digest -> (size, mtime_ns, inode) of a large blob when it was last verified."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(root / "verified.sqlite", timeout=30)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS stamps (digest TEXT PRIMARY KEY, size INTEGER, "
            "mtime_ns INTEGER, inode INTEGER)"
        )

    def __enter__(self) -> _Stamps:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._db.commit()
        self._db.close()

    def get(self, digest: str) -> tuple[int, int, int] | None:
        row = self._db.execute(
            "SELECT size, mtime_ns, inode FROM stamps WHERE digest = ?", (digest,)
        ).fetchone()
        return (int(row[0]), int(row[1]), int(row[2])) if row else None

    def put(self, digest: str, stamp: tuple[int, int, int]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO stamps (digest, size, mtime_ns, inode) VALUES (?, ?, ?, ?)",
            (digest, *stamp),
        )
