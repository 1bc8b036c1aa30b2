"""A team workspace: PostgreSQL metadata plus an artifact location, same behaviour as embedded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import gyre
from conftest import copy_resource
from gyre.config import WorkspaceSettings
from gyre.pipelines.loader import load_pipeline
from gyre.store import metrics as metric_rows
from gyre.store import open_store


@pytest.fixture
def pg_workspace(
    pg_database: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> WorkspaceSettings:
    from conftest import _truncate

    monkeypatch.setenv("GYRE_URI", pg_database)
    monkeypatch.setenv("GYRE_ARTIFACTS", str(project / "artifacts"))
    monkeypatch.setenv("GYRE_CACHE_DIR", str(project / "cache"))
    subprocess.run(
        [sys.executable, "-m", "gyre.cli.main", "migrate"], check=True, capture_output=True
    )
    from gyre import config

    settings = config.resolve()
    store = open_store(settings)
    _truncate(store)
    store.close()
    return settings


def test_a_pipeline_runs_and_is_reused_on_postgresql(
    pg_workspace: WorkspaceSettings, project: Path
) -> None:
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    store = open_store(pg_workspace)
    pipeline = load_pipeline("chain.py:chain")
    first = gyre.run(pipeline, {"n": 4}, workspace=store, quiet=True)
    assert first.status == "finished", first.error
    with store.read() as conn:
        assert len(metric_rows.history(conn, first.steps["total"].run_id, "value")) == 4
    second = gyre.run(pipeline, {"n": 4}, workspace=store, quiet=True)
    assert {s.outcome for s in second.steps.values()} == {"reused"}
    assert (second.output("report") / "total.txt").read_text() == "60"
    store.close()


def test_the_cli_works_against_postgresql(pg_workspace: WorkspaceSettings, project: Path) -> None:
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    gyre_cmd = [sys.executable, "-m", "gyre.cli.main"]
    run = subprocess.run(
        [*gyre_cmd, "run", "chain.py:chain", "--tag", "build=3"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    listed = subprocess.run(
        [*gyre_cmd, "runs", "list", "--filter", "tags.build = '3'", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    assert len(json.loads(listed.stdout)) == 1


def test_init_with_gyre_uri_set_creates_that_workspace_and_no_stray_folder(
    pg_database: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import secrets

    import psycopg

    from conftest import PG_ADMIN_URL

    name = f"gyre_init_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        monkeypatch.setenv("GYRE_URI", f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}")
        monkeypatch.setenv("GYRE_ARTIFACTS", str(project / "artifacts"))
        monkeypatch.setenv("GYRE_CACHE_DIR", str(project / "cache"))
        gyre_cmd = [sys.executable, "-m", "gyre.cli.main"]
        done = subprocess.run([*gyre_cmd, "init"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "shared workspace" in done.stdout
        assert not (project / ".gyre").exists(), "no unrelated ./.gyre"
        listed = subprocess.run([*gyre_cmd, "runs", "list", "--json"], capture_output=True)
        assert listed.returncode == 0, listed.stderr
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
