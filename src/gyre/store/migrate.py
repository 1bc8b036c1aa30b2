"""Bring a metadata database to the schema this version of gyre needs.

Opening a workspace reads one row (``alembic_version``); SQLAlchemy and Alembic are imported
only when the database is new or behind. An embedded (SQLite) workspace is migrated on open;
a shared PostgreSQL database only by ``gyre migrate``, because other clients may still run
the older version against it.
"""

from __future__ import annotations

from pathlib import Path

from gyre.errors import WorkspaceError
from gyre.store.database import Database

HEAD_REVISION = "0013"
"""The newest migration; a test checks it against Alembic's own view of the scripts."""

_MIGRATIONS = Path(__file__).with_name("migrations")


def current_revision(db: Database) -> tuple[str | None, bool]:
    """(revision, has_tables) of the database."""
    with db.transaction(write=False) as tx:
        if db.dialect == "sqlite":
            tables = tx.scalars("SELECT name FROM sqlite_master WHERE type = 'table'")
        else:
            tables = tx.scalars(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        if "alembic_version" not in tables:
            return None, bool(tables)
        return tx.scalar("SELECT version_num FROM alembic_version"), True


def sqlalchemy_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def upgrade(url: str, revision: str = "head") -> None:
    """Run the Alembic migrations up to ``revision`` (used by init, open and ``gyre migrate``)."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    engine = create_engine(sqlalchemy_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            conn.commit()
    finally:
        engine.dispose()


def ensure_current(db: Database, *, auto_migrate: bool, location: str) -> None:
    """Check the schema revision; migrate when allowed, otherwise say which command does it."""
    revision, has_tables = current_revision(db)
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
    db.close()
    upgrade(db.url)


def _is_known(revision: str) -> bool:
    return any(p.name.startswith(f"{revision}_") for p in (_MIGRATIONS / "versions").glob("*.py"))
