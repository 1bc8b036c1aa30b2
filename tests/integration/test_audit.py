"""The audit log: what capabilities record, read back on SQLite and PostgreSQL, and a database
that refuses to change or delete an entry, whoever asks."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from conftest import copy_resource, run_gyre
from gyre.data import versions
from gyre.registry.models import register_model, set_alias
from gyre.store import Store, audit
from gyre.workspace.audit_log import entries


def test_aliases_deletions_and_datasets_are_recorded_with_who_and_what(
    any_store: Store, tmp_path: Path
) -> None:
    name = f"m{secrets.token_hex(3)}"  # PostgreSQL keeps the log across tests: unique names
    model = copy_resource("good/echo_model", tmp_path)
    register_model(name, model, flavor="python", store=any_store)
    set_alias(any_store, name, "production", 1)
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    versions.add(any_store, f"d{name}", str(folder), alias="baseline")
    versions.delete(any_store, f"d{name}", 1, force=True)
    mine = entries(any_store, subject=f"model {name}")
    assert [(e.action, e.subject, e.detail) for e in mine] == [
        ("model.alias", f"model {name}@1", {"alias": "production", "previous": None})
    ]
    assert "@" in mine[0].actor
    data = entries(any_store, subject=f"dataset d{name}")
    assert [e.action for e in data] == ["dataset.delete", "dataset.alias"]  # newest first
    assert entries(any_store, action="dataset.delete", subject=f"dataset d{name}@1")[0].detail == {
        "force": True
    }


def test_the_database_refuses_to_change_or_delete_an_entry(any_store: Store) -> None:
    subject = f"probe {secrets.token_hex(4)}"
    with any_store.write() as tx:
        audit.append(tx, "tester", "probe.write", subject, {"n": 1})
    for statement in (
        "UPDATE audit SET actor = 'someone else' WHERE subject = ?",
        "DELETE FROM audit WHERE subject = ?",
    ):
        with pytest.raises(Exception, match="append-only"), any_store.write() as tx:
            tx.execute(statement, [subject])
    (kept,) = entries(any_store, subject=subject)
    assert kept.actor == "tester" and kept.detail == {"n": 1}


def test_a_subject_prefix_is_literal_not_a_pattern(any_store: Store) -> None:
    token = secrets.token_hex(3)
    with any_store.write() as tx:
        audit.append(tx, "t", "probe.write", f"run a_{token}")
        audit.append(tx, "t", "probe.write", f"run ab{token}")
    assert [e.subject for e in entries(any_store, subject=f"run a_{token}")] == [f"run a_{token}"]


def test_gyre_audit_shows_runs_submitted_cancelled_and_deleted(project: Path) -> None:
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    run_gyre("init")
    run_gyre("pipeline", "publish", "chain.py:chain")
    queued = json.loads(run_gyre("pipeline", "submit", "chain", "--json").stdout)["run_id"]
    run_gyre("runs", "cancel", queued)
    run_gyre("runs", "delete", queued, "--yes")
    log = json.loads(run_gyre("audit", "--json").stdout)
    assert [(e["action"], e["subject"]) for e in log] == [
        ("run.delete", f"run {queued}"),
        ("run.cancel", f"run {queued}"),
        ("run.submit", f"run {queued}"),
        ("pipeline.publish", "pipeline chain@1"),
    ]
    table = run_gyre("audit", "--action", "run.cancel").stdout
    assert "run.cancel" in table and queued in table and "run.submit" not in table
