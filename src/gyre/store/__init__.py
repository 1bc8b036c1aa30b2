"""Persistence: the only room that speaks SQL or touches blobs.

Callers open a :class:`Store` for a :class:`~gyre.config.WorkspaceSettings` and use its
transactions with the small typed functions of ``runs``, ``metrics``, ``jobs`` and
``published``::

    store = open_store(settings)
    with store.write() as tx:
        run_id = runs.create(tx, kind="run", name="train", experiment="seer")
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gyre.config import WorkspaceSettings, embedded_settings
from gyre.errors import WorkspaceError
from gyre.store.blobs import BlobStore, open_blob_store
from gyre.store.database import Database, Transaction

__all__ = ["Store", "init_workspace", "open_store"]


class Store:
    """An open workspace: a metadata database plus a blob store."""

    def __init__(self, settings: WorkspaceSettings, db: Database, blobs: BlobStore) -> None:
        self.settings = settings
        self.db = db
        self.blobs = blobs

    @property
    def dialect(self) -> str:
        return self.db.dialect

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        with self.db.transaction(write=False) as tx:
            yield tx

    @contextmanager
    def write(self) -> Iterator[Transaction]:
        """A write transaction; on SQLite it holds the write lock from its first statement."""
        with self.db.transaction(write=True) as tx:
            yield tx

    def after_fork(self) -> None:
        """Drop connections inherited from a parent process (call first thing in a child)."""
        self.db.forget_connections()
        reconnect = getattr(self.blobs, "after_fork", None)
        if reconnect is not None:
            reconnect()

    def close(self) -> None:
        self.db.close()

    def local_path(self, *parts: str) -> Path:
        path = self.settings.local_dir.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path


def open_store(settings: WorkspaceSettings, *, create: bool = False) -> Store:
    """Open (or with ``create``, initialise) the workspace that ``settings`` names.

    Raises:
        WorkspaceError: the workspace is missing, unreadable or needs ``gyre migrate``.
    """
    from gyre.store.migrate import ensure_current

    location = settings.local_dir if settings.embedded else settings.db_url.split("@")[-1]
    if settings.embedded:
        db_file = settings.local_dir / "gyre.db"
        try:
            db_file.exists()
        except PermissionError:
            raise WorkspaceError(
                f"The workspace {settings.local_dir} cannot be read by this user (permission "
                "denied). Ask its owner for access (chmod -R u+rwX on the folder) or use "
                "another workspace."
            ) from None
        if not create and not db_file.exists():
            raise WorkspaceError(
                f"No gyre workspace at {settings.local_dir} (no gyre.db there). "
                "Run 'gyre init' to create one, or point GYRE_URI at an existing workspace."
            )
        if db_file.exists() and not db_file.is_file():
            raise WorkspaceError(
                f"The workspace database {db_file} is not a file. Move it away and run "
                "'gyre init' again, or point GYRE_URI at another workspace."
            )
        if db_file.exists() and not os.access(db_file, os.R_OK | os.W_OK):
            raise WorkspaceError(
                f"The workspace database {db_file} is not readable and writable by this user. "
                "Fix its permissions (chmod u+rw) or use another workspace."
            )
        settings.local_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    try:
        ensure_current(db, auto_migrate=create or settings.embedded, location=str(location))
    except WorkspaceError:
        db.close()
        raise
    except Exception as exc:  # driver errors: sqlite3.DatabaseError, psycopg.OperationalError
        db.close()
        first_line = (str(exc).strip().splitlines() or [""])[0]
        raise WorkspaceError(
            f"Could not open the workspace database at {location}: "
            f"{type(exc).__name__}: {first_line}. "
            "Check that the file or server exists and this user may use it."
        ) from exc
    blobs = open_blob_store(settings.artifacts_url, settings.artifacts_options)
    return Store(settings, db, blobs)


def init_workspace(path: Path) -> Store:
    """Create ``path`` (usually ``./.gyre``) as an embedded workspace, or open it if it exists."""
    settings = embedded_settings(path)
    (settings.local_dir / "blobs").mkdir(parents=True, exist_ok=True)
    return open_store(settings, create=True)
