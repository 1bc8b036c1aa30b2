"""Remember the digest of a local file by (path, size, mtime, inode), so an unchanged re-add
does not read its bytes again. A SQLite file in the workspace's local folder."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

FLUSH_EVERY = 500


class StatCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS stats (path TEXT PRIMARY KEY, size INTEGER, "
            "mtime_ns INTEGER, inode INTEGER, digest TEXT)"
        )
        self._lock = threading.Lock()
        self._pending: list[tuple[str, int, int, int, str]] = []
        self._known: dict[str, tuple[int, int, int, str]] = {}
        self._preloaded: list[str] = []

    def preload(self, prefix: str) -> None:
        """Read every entry under a folder in one query (fast for 10,000-file trees); later
        lookups under it need no query."""
        self._preloaded.append(prefix)
        rows = self._db.execute(
            "SELECT path, size, mtime_ns, inode, digest FROM stats WHERE path >= ? AND path < ?",
            (prefix, prefix + "\uffff"),
        ).fetchall()
        for path, size, mtime, inode, digest in rows:
            self._known[path] = (size, mtime, inode, digest)

    def get(self, path: str, st: os.stat_result) -> str | None:
        entry = self._known.get(path)
        if entry is None and not any(path.startswith(p) for p in self._preloaded):
            row = self._db.execute(
                "SELECT size, mtime_ns, inode, digest FROM stats WHERE path = ?", (path,)
            ).fetchone()
            entry = (row[0], row[1], row[2], row[3]) if row else None
        if entry and entry[:3] == (st.st_size, st.st_mtime_ns, st.st_ino):
            return str(entry[3])
        return None

    def put(self, path: str, st: os.stat_result, digest: str) -> None:
        with self._lock:
            self._pending.append((path, st.st_size, st.st_mtime_ns, st.st_ino, digest))
            full = len(self._pending) >= FLUSH_EVERY
        if full:
            self.flush()

    def flush(self) -> None:
        """Write pending entries; only for blobs that are durable (see add_tree)."""
        with self._lock:
            pending, self._pending = self._pending, []
            if pending:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO stats VALUES (?, ?, ?, ?, ?)", pending)
                self._db.execute("COMMIT")

    def close(self) -> None:
        self.flush()
        self._db.close()
