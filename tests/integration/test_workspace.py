"""Opening workspaces: creation, migration of older ones, and the errors users meet."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from gyre import config
from gyre.errors import WorkspaceError
from gyre.store import init_workspace, open_store
from gyre.store.migrate import HEAD_REVISION, upgrade


def test_init_creates_a_wal_sqlite_database_with_foreign_keys(project: Path) -> None:
    store = init_workspace(project / ".gyre")
    with store.read() as conn:
        assert conn.scalar("PRAGMA journal_mode") == "wal"
        assert conn.scalar("PRAGMA foreign_keys") == 1
        assert conn.scalar("PRAGMA busy_timeout") >= 5000
    assert (project / ".gyre" / "blobs").is_dir()


def test_the_head_revision_constant_matches_the_migration_scripts() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option(
        "script_location", str(Path(config.__file__).parent / "store" / "migrations")
    )
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION


def test_an_older_embedded_workspace_is_migrated_on_open(project: Path) -> None:
    settings = config.embedded_settings(project / ".gyre")
    (project / ".gyre" / "blobs").mkdir(parents=True)
    upgrade(settings.db_url, "0001")
    db = sqlite3.connect(project / ".gyre" / "gyre.db")
    assert db.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
    db.close()
    store = open_store(settings)
    with store.read() as conn:
        assert conn.scalar("SELECT version_num FROM alembic_version") == HEAD_REVISION
        assert conn.scalar("SELECT count(*) FROM jobs") == 0


def test_the_migrated_schema_matches_the_table_definitions(project: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from gyre.store.schema import metadata

    store = init_workspace(project / ".gyre")
    engine = create_engine(store.settings.db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_an_older_postgresql_workspace_asks_for_gyre_migrate(
    pg_database: str, tmp_path: Path
) -> None:
    from conftest import pg_settings
    from gyre.store.database import Database

    settings = pg_settings(pg_database, tmp_path / "blobs")
    db = Database(settings.db_url)
    with db.transaction(write=True) as tx:
        tx.execute("DROP SCHEMA public CASCADE")
        tx.execute("CREATE SCHEMA public")
    db.close()
    upgrade(settings.db_url, "0001")
    with pytest.raises(WorkspaceError, match="Run 'gyre migrate' once"):
        open_store(settings)
    upgrade(settings.db_url)
    open_store(settings).close()


def test_a_missing_workspace_says_to_run_gyre_init(project: Path) -> None:
    with pytest.raises(WorkspaceError, match="Run 'gyre init'"):
        config.resolve(project)
    with pytest.raises(WorkspaceError, match="Run 'gyre init'"):
        open_store(config.embedded_settings(project / "nowhere"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_workspace_is_reported(project: Path) -> None:
    init_workspace(project / ".gyre").close()
    (project / ".gyre" / "gyre.db").chmod(0)
    with pytest.raises(WorkspaceError, match="not readable and writable"):
        open_store(config.embedded_settings(project / ".gyre"))


def test_a_workspace_whose_database_is_not_a_file_is_reported(project: Path) -> None:
    (project / ".gyre" / "gyre.db").mkdir(parents=True)
    with pytest.raises(WorkspaceError, match="is not a file"):
        open_store(config.embedded_settings(project / ".gyre"))


def test_a_database_that_is_not_a_workspace_is_refused(project: Path) -> None:
    folder = project / ".gyre"
    folder.mkdir()
    db = sqlite3.connect(folder / "gyre.db")
    db.execute("CREATE TABLE other (x int)")
    db.commit()
    db.close()
    with pytest.raises(WorkspaceError, match="not a gyre workspace"):
        open_store(config.embedded_settings(folder))


def test_a_corrupt_database_file_is_reported_without_driver_noise(project: Path) -> None:
    folder = project / ".gyre"
    folder.mkdir()
    (folder / "gyre.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(WorkspaceError, match="Could not open the workspace database"):
        open_store(config.embedded_settings(folder))


def test_gyre_uri_and_gyre_yaml_select_the_workspace(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = project / "elsewhere"
    init_workspace(other).close()
    monkeypatch.setenv("GYRE_URI", str(other))
    assert config.resolve(project).local_dir == other
    monkeypatch.delenv("GYRE_URI")
    (project / "gyre.yaml").write_text("workspace: elsewhere\n")
    assert (
        config.resolve(project / "sub" if (project / "sub").mkdir() is None else project).local_dir
        == other
    )
    (project / "gyre.yaml").write_text("workspace: postgresql://u@h/db\n")
    with pytest.raises(WorkspaceError, match="no artifact location"):
        config.resolve(project)
    monkeypatch.setenv("GYRE_URI", "mysql://x")
    with pytest.raises(WorkspaceError, match="neither a folder nor a postgresql"):
        config.resolve(project)
