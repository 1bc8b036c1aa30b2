"""gyre gc removes what nothing references, and never what a run still uses."""

from __future__ import annotations

from pathlib import Path

import gyre
from conftest import copy_resource
from gyre.pipelines.loader import load_pipeline
from gyre.store import Store
from gyre.store import runs as run_rows
from gyre.store.garbage import collect


def test_gc_keeps_referenced_blobs_and_removes_orphans(workspace: Store, project: Path) -> None:
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    run = gyre.run(load_pipeline("chain.py:chain"), workspace=workspace, quiet=True)
    orphan = workspace.blobs.put_bytes(b"nobody points at me")
    dry = collect(workspace, dry_run=True, grace_s=0)
    assert dry.removed == 1 and workspace.blobs.exists(orphan)
    report = collect(workspace, grace_s=0)
    assert report.removed == 1 and not workspace.blobs.exists(orphan)
    again = gyre.run(load_pipeline("chain.py:chain"), workspace=workspace, quiet=True)
    assert {s.outcome for s in again.steps.values()} == {"reused"}, "gc removed a used blob"
    assert (again.output("report") / "sub" / "note.txt").read_text() == "ok"
    with workspace.write() as conn:
        run_rows.delete_runs(conn, [run.id, again.id])
    assert collect(workspace, grace_s=0).removed > 0
    assert list(workspace.blobs.digests()) == []


def test_gc_spares_new_blobs_within_the_grace_period(workspace: Store) -> None:
    fresh = workspace.blobs.put_bytes(b"a step may be about to reference this")
    assert collect(workspace).removed == 0
    assert workspace.blobs.exists(fresh)
