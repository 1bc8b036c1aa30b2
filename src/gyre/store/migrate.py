"""Bring a metadata database to the schema this version of gyre needs.

Opening a workspace reads one row (``alembic_version``) and imports Alembic only when the
database is new or behind. An embedded (SQLite) workspace is migrated on open; a shared
PostgreSQL database is migrated only by ``gyre migrate``, because other clients may still run
the older version against it.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from gyre.errors import WorkspaceError

HEAD_REVISION = "0002"
"""The newest migration; a unit test checks it against Alembic's own view of the scripts."""

_MIGRATIONS = Path(__file__).with_name("migrations")


def current_revision(conn: Connection) -> str | None:
    try:
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    except (OperationalError, ProgrammingError):
        conn.rollback()
        return None
    return row[0] if row else None


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations up to ``revision`` (used by init, open and ``gyre migrate``)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.commit()


def ensure_current(engine: Engine, *, auto_migrate: bool, location: str) -> None:
    """Check the schema revision; migrate when allowed, otherwise say which command does it."""
    with engine.connect() as conn:
        revision = current_revision(conn)
        has_tables = bool(inspect(conn).get_table_names()) if revision is None else True
    if revision == HEAD_REVISION:
        return
    if revision is None and has_tables:
        raise WorkspaceError(
            f"The database at {location} has tables but no gyre schema version: it is not a "
            "gyre workspace. Point GYRE_URI at a gyre workspace or an empty database."
        )
    if revision is not None and not _is_known(revision):
        raise WorkspaceError(
            f"The workspace at {location} is at schema revision {revision}, newer than this "
            f"gyre knows ({HEAD_REVISION}). Upgrade gyre: pip install -U gyre."
        )
    if not auto_migrate:
        raise WorkspaceError(
            f"The workspace at {location} is at schema revision {revision or 'none'} and this "
            f"gyre needs {HEAD_REVISION}. Run 'gyre migrate' once to upgrade it."
        )
    upgrade(engine)


def _is_known(revision: str) -> bool:
    return any(p.name.startswith(f"{revision}_") for p in (_MIGRATIONS / "versions").glob("*.py"))
