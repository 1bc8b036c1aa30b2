"""``gyre fsck [--repair]``: every missing, corrupt or stray object is reported with what it
affects; repair puts back what intact copies allow, never deletes a referenced blob, and marks
the rest, on SQLite with local blobs and on PostgreSQL with S3."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import gyre
from conftest import S3_KEYS, _truncate, copy_resource, run_gyre
from gyre.pipelines.loader import load_pipeline
from gyre.store import Store, damage
from gyre.store.blobs import LocalBlobStore
from gyre.workspace import fsck


def _chain(store: Store) -> gyre.PipelineRun:
    run = gyre.run(load_pipeline("chain.py:chain"), {}, workspace=store, quiet=True)
    assert run.status == "finished", run.error
    return run


def _outputs(store: Store, run: gyre.PipelineRun, step: str) -> dict[str, str]:
    """materializer -> digest of a step's output, and its files' digests when a folder."""
    from gyre.store import runs as run_rows
    from gyre.store.folders import manifest as dir_manifest

    with store.read() as tx:
        (artifact,) = run_rows.get_artifacts(tx, run.steps[step].run_id, role="output")
    found = {"self": artifact.digest}
    if artifact.materializer == "dir":
        for rel, (digest, _size) in dir_manifest(store.blobs, artifact.digest).items():
            found[rel] = digest
    return found


def _spoil(path: Path, data: bytes | None) -> None:
    """Change a read-only file in place (None: remove it), as a disk or a person might."""
    os.chmod(path.parent, 0o755)
    os.chmod(path, 0o644)
    if data is None:
        path.unlink()
    else:
        path.write_bytes(data)


def _problems(report: fsck.Report) -> dict[str, str]:
    return {f.object: f.problem for f in report.findings}


def test_fsck_reports_damage_with_what_it_affects_and_repair_restores_from_local_copies(
    workspace: Store, project: Path
) -> None:
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    first = _chain(workspace)
    clean = fsck.check(workspace)
    assert clean.damaged == [] and clean.blobs_checked >= 6, clean.as_dict()
    assert isinstance(workspace.blobs, LocalBlobStore)
    blobs = workspace.blobs
    before = set(blobs.digests())

    report = _outputs(workspace, first, "report")  # a folder: manifest + 2 files, cached
    values = _outputs(workspace, first, "produce")  # a JSON value: no local copy anywhere
    first.output("report")  # the local copy exists
    _spoil(blobs.path(report["self"]), None)  # the folder's manifest is gone
    _spoil(blobs.path(report["sub/note.txt"]), b"not ok")  # a file of it changed
    _spoil(blobs.path(values["self"]), b"[1]")  # the step's value changed
    cached = workspace.settings.local_dir / "cache" / "dirs" / report["self"]
    stray = workspace.settings.local_dir / "cache" / "dirs" / ("e" * 64)
    stray.mkdir()
    (stray / "old.txt").write_text("left from a deleted run")
    leftover = workspace.settings.local_dir / "cache" / "dirs" / f".{'f' * 64}.999999999"
    leftover.mkdir()
    stale = blobs.root / "tmp" / "put-1-2-deadbeef"
    stale.parent.mkdir(exist_ok=True)
    stale.write_bytes(b"half")
    os.utime(stale, (1, 1))

    found = fsck.check(workspace)
    problems = _problems(found)
    assert problems[f"blob {report['self']} in {blobs.url}"] == "missing"
    assert f"blob {report['sub/note.txt']} in {blobs.url}" not in problems  # not listed now
    assert problems[f"blob {values['self']} in {blobs.url}"] == "corrupt"
    assert problems[f"local copy {stray}"] == "orphaned"
    assert problems[f"unfinished local copy {leftover}"] == "stale"
    assert problems[f"temporary file tmp/{stale.name} in {blobs.url}"] == "stale"
    corrupt_values = next(f for f in found.findings if values["self"] in f.object)
    step_run = first.steps["produce"].run_id
    assert f"run {step_run} (artifact produce/output)" in corrupt_values.affects
    assert f"run {first.id}" in corrupt_values.affects  # the pipeline run too
    assert "re-run the pipeline" in corrupt_values.fix
    assert len(found.damaged) == 2

    repaired = fsck.check(workspace, repair=True)
    by_object = {f.object: f for f in repaired.findings}
    manifest = by_object[f"blob {report['self']} in {blobs.url}"]
    assert manifest.repaired == f"rebuilt from the local copy {cached}"
    note = by_object[f"blob {report['sub/note.txt']} in {blobs.url}"]
    assert note.repaired == f"restored from {cached / 'sub' / 'note.txt'}"
    assert [f.object for f in repaired.damaged] == [f"blob {values['self']} in {blobs.url}"]
    assert not stray.exists() and not leftover.exists() and not stale.exists()
    assert before <= set(blobs.digests())  # nothing referenced was deleted
    assert blobs.read_bytes(report["sub/note.txt"]) == b"ok"
    with workspace.read() as tx:
        marks = damage.every(tx)
    assert {(m.subject, m.what, m.problem) for m in marks} == {
        (f"run {step_run}", "artifact produce/output", "corrupt"),
        (f"run {first.steps['total'].run_id}", "artifact total/input:values", "corrupt"),
    }

    shown = run_gyre("runs", "show", first.id)
    assert f"run {step_run}: artifact produce/output is corrupt" in shown.stdout
    cli = run_gyre("fsck", ok=False)
    assert cli.returncode == 1
    assert "corrupt: blob" in cli.stdout and "affects run" in cli.stdout
    assert "gyre fsck --repair" in cli.stdout

    second = _chain(workspace)  # the corrupt output is not reused: the step runs again
    assert second.steps["produce"].outcome == "ran"
    assert "is corrupt" in (second.steps["produce"].reason or "")
    after = json.loads(run_gyre("fsck", "--repair", "--json").stdout)
    assert after["ok"] is True and after["marked"] == 0, after
    assert run_gyre("fsck").stdout.endswith("No damage found.\n")


def test_fsck_repairs_a_damaged_local_copy_from_intact_blobs(
    workspace: Store, project: Path
) -> None:
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    run = _chain(workspace)
    folder = run.output("report")
    _spoil(folder / "total.txt", b"written by someone")
    found = fsck.check(workspace)
    (finding,) = found.findings
    assert finding.problem == "damaged-copy" and "total.txt" in finding.object
    assert found.damaged == []  # the blobs are intact: nothing recorded is lost
    repaired = fsck.check(workspace, repair=True)
    assert repaired.findings[0].repaired == "made again from intact blobs"
    assert (folder / "total.txt").read_text() == "30"
    assert fsck.check(workspace).findings == []


def test_fsck_names_dangling_rows_and_the_dataset_and_model_a_blob_belongs_to(
    workspace: Store, project: Path
) -> None:
    from gyre.data import versions
    from gyre.registry.models import register_model

    data = project / "images"
    (data / "cat").mkdir(parents=True)
    (data / "cat" / "1.txt").write_text("a cat")
    added = versions.add(workspace, "images", str(data)).version
    model = copy_resource("good/echo_model", project)
    version = register_model("echo", model, flavor="python", store=workspace)
    listed = versions.manifest(workspace, added)["files"]["cat/1.txt"][0]
    assert isinstance(workspace.blobs, LocalBlobStore)
    _spoil(workspace.blobs.path(listed), None)
    with workspace.write() as tx:
        tx.execute("DELETE FROM model_versions WHERE name = 'echo'")
        tx.execute(
            "INSERT INTO model_versions (name, version, digest, flavor, created_at) "
            "VALUES ('echo', 2, ?, 'python', 0)",
            [version.digest],
        )
        tx.execute(
            "INSERT INTO model_aliases (name, alias, version, updated_at) "
            "VALUES ('echo', 'production', 1, 0)"
        )
        tx.execute("INSERT INTO metrics VALUES ('gone', 'loss', 0, 1.0, 0)")
    found = fsck.check(workspace)
    missing = next(f for f in found.findings if f.problem == "missing")
    assert missing.affects == ["dataset images@1 (manifest: cat/1.txt)"]
    assert "gyre data add" in missing.fix
    dangling = {f.object: f for f in found.findings if f.problem == "dangling"}
    assert dangling["1 row(s) of metrics pointing at a run that is gone"].affects == ["gone"]
    assert dangling["1 row(s) of model_aliases pointing at a model version that is gone"]
    fsck.check(workspace, repair=True)
    shown = run_gyre("data", "show", "images@1")
    assert "dataset images@1: manifest: cat/1.txt is missing" in shown.stderr


def test_fsck_on_postgresql_and_s3_finds_and_repairs_damage(
    project: Path,
    pg_database: str,
    s3_server: str,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import s3fs

    from gyre import config
    from gyre.store import open_store

    monkeypatch.setenv("GYRE_URI", pg_database)
    monkeypatch.setenv("GYRE_ARTIFACTS", f"s3://{s3_bucket}/artifacts")
    options = {"client_kwargs": {"endpoint_url": s3_server}, **S3_KEYS}
    monkeypatch.setenv("GYRE_ARTIFACTS_OPTIONS", json.dumps(options))
    monkeypatch.setenv("GYRE_CACHE_DIR", str(project / "cache"))
    store = open_store(config.resolve(), create=True)
    _truncate(store)
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    try:
        run = _chain(store)
        run.output("report")
        report = _outputs(store, run, "report")
        values = _outputs(store, run, "produce")
        s3 = s3fs.S3FileSystem(**options)
        root = f"{s3_bucket}/artifacts"
        s3.rm_file(f"{root}/{report['sub/note.txt'][:2]}/{report['sub/note.txt']}")
        s3.pipe_file(f"{root}/{values['self'][:2]}/{values['self']}", b"[1]")
        s3.pipe_file(f"{root}/tmp/left-over", b"half")

        quick = fsck.check(store, quick=True)  # an object store: existence only
        assert {f.problem for f in quick.damaged} == {"missing"}
        found = fsck.check(store, grace_s=0)
        problems = _problems(found)
        url = store.blobs.url
        assert problems[f"blob {report['sub/note.txt']} in {url}"] == "missing"
        assert problems[f"blob {values['self']} in {url}"] == "corrupt"
        assert problems[f"temporary file tmp/left-over in {url}"] == "stale"

        repaired = fsck.check(store, repair=True, grace_s=0)
        assert [f.object for f in repaired.damaged] == [f"blob {values['self']} in {url}"]
        assert store.blobs.read_bytes(report["sub/note.txt"]) == b"ok"
        assert not s3.exists(f"{root}/tmp/left-over")
        with store.read() as tx:
            subjects = {m.subject for m in damage.every(tx)}
        assert f"run {run.steps['produce'].run_id}" in subjects
        _chain(store)
        assert fsck.check(store, repair=True).damaged == []
    finally:
        store.close()
