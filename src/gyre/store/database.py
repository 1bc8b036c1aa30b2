"""A thin transaction layer over the DBAPI drivers (sqlite3, psycopg 3).

Why not SQLAlchemy at run time: importing it costs 100-160 ms on this class of machine, a third
of the budget for a fully reused pipeline run, and the store's queries are few, small and
hand-written anyway. SQLAlchemy Core still defines the schema (``schema.py``) and Alembic
migrates it; both are imported only when a database is created or migrated.

SQL is written once with ``?`` placeholders; PostgreSQL gets them as ``%s``. Rows come back as
dicts. SQLite write transactions are ``BEGIN IMMEDIATE`` so two processes never deadlock
upgrading a read lock. Each thread of each process has its own connection: a forked child
drops its parent's connections instead of sharing them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

SQLITE_BUSY_TIMEOUT_MS = 60_000

Params = Sequence[Any] | None


class Transaction:
    """One open transaction: run statements, read rows as dicts."""

    def __init__(self, raw: Any, dialect: str) -> None:
        self.raw = raw
        self.dialect = dialect

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def execute(self, sql: str, params: Params = None) -> int:
        """Run a statement; return the number of rows it changed."""
        cursor = self.raw.cursor()
        try:
            cursor.execute(self._sql(sql), tuple(params or ()))
            return int(cursor.rowcount or 0)
        finally:
            cursor.close()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        cursor = self.raw.cursor()
        try:
            cursor.executemany(self._sql(sql), rows)
        finally:
            cursor.close()

    def tuples(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        cursor = self.raw.cursor()
        try:
            cursor.execute(self._sql(sql), tuple(params or ()))
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def all(self, sql: str, params: Params = None) -> list[dict[str, Any]]:
        cursor = self.raw.cursor()
        try:
            cursor.execute(self._sql(sql), tuple(params or ()))
            if cursor.description is None:
                return []
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def one(self, sql: str, params: Params = None) -> dict[str, Any] | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Params = None) -> Any:
        rows = self.tuples(sql, params)
        return rows[0][0] if rows else None

    def scalars(self, sql: str, params: Params = None) -> list[Any]:
        return [row[0] for row in self.tuples(sql, params)]


class Database:
    """Connections to one metadata database, per thread and per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        self._local = threading.local()

    def _connect(self) -> Any:
        if self.dialect == "sqlite":
            import sqlite3

            path = self.url.split("///", 1)[1]
            raw = sqlite3.connect(
                path,
                timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            raw.execute("PRAGMA journal_mode=WAL")
            raw.execute("PRAGMA synchronous=NORMAL")
            raw.execute("PRAGMA foreign_keys=ON")
            return raw
        import psycopg

        return psycopg.connect(postgres_dsn(self.url), autocommit=False)

    def _connection(self) -> tuple[Any, bool]:
        """(connection, shared): this thread's connection, or a new one while it is busy."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.pid, local.raw, local.busy = os.getpid(), None, False
        if local.busy:
            return self._connect(), False
        if local.raw is not None and self.dialect == "postgresql" and _went_away(local.raw):
            _close_quietly(local.raw)
            local.raw = None
        if local.raw is None:
            local.raw = self._connect()
        local.busy = True
        return local.raw, True

    def _release(self, raw: Any, shared: bool) -> None:
        if shared:
            self._local.busy = False
        else:
            raw.close()

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[Transaction]:
        raw, shared = self._connection()
        try:
            if self.dialect == "sqlite":
                raw.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield Transaction(raw, self.dialect)
            except BaseException:
                raw.rollback() if self.dialect == "postgresql" else raw.execute("ROLLBACK")
                raise
            if self.dialect == "sqlite":
                raw.execute("COMMIT")
            else:
                raw.commit()
        except BaseException:
            if shared:  # a broken connection is not handed out again
                self._local.raw = None
                _close_quietly(raw)
                self._local.busy = False
                shared = False
                raw = None
            raise
        finally:
            if raw is not None:
                self._release(raw, shared)

    def forget_connections(self) -> None:
        """After a fork: never touch the parent's connections (the pid check does the rest)."""
        self._local = threading.local()

    def close(self) -> None:
        raw = getattr(self._local, "raw", None)
        if raw is not None and getattr(self._local, "pid", None) == os.getpid():
            _close_quietly(raw)
        self._local = threading.local()


def _went_away(raw: Any) -> bool:
    """An idle PostgreSQL connection the server has closed (it restarted, or an admin ended
    the session): the server's goodbye, or the end of the stream, is waiting on the socket.
    An idle healthy connection has nothing to read (gyre uses no LISTEN), so one select()
    call tells, without a round trip; a transaction never starts on a dead connection."""
    import select

    if raw.closed or raw.broken:
        return True
    try:
        readable, _, _ = select.select([raw.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _close_quietly(raw: Any) -> None:
    try:
        raw.close()
    except Exception:  # closing a broken connection may fail too; nothing to do then
        return


def postgres_dsn(url: str) -> str:
    """A libpq URL from a SQLAlchemy-style one (``postgresql+psycopg://`` → ``postgresql://``)."""
    scheme, rest = url.split("://", 1)
    return f"postgresql://{rest}" if scheme.startswith("postgres") else url
