"""Published pipelines and queued runs.

``publish`` stores the pipeline module and the project modules it imports as a snapshot;
``submit`` queues a ``pipeline.run`` job; an agent (``gyre.agent``) claims the job and runs
the snapshot, so a submitted run executes the code as it was published, whatever happened
to the files since.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gyre import actors
from gyre.errors import Conflict, NotFound
from gyre.pipelines.code_fingerprint import CodeFingerprinter, project_root
from gyre.pipelines.loader import load_pipeline, split_reference
from gyre.pipelines.params import resolve_params
from gyre.pipelines.run_types import PipelineRun, RunObserver, RunRequest
from gyre.pipelines.runner import run_pipeline
from gyre.store import Store, audit, jobs, published
from gyre.store import runs as run_rows
from gyre.store.folders import manifest as folder_manifest
from gyre.store.published import PublishedPipeline as PublishedPipeline

JOB_KIND = "pipeline.run"
SNAPSHOT_MARKER = ".gyre-snapshot"


@dataclass(frozen=True)
class Submitted:
    job_id: int
    run_id: str
    pipeline: PublishedPipeline
    queued: bool = True  # False: the same submission was queued before; this is that run


def publish(
    store: Store,
    reference: str,
    name: str | None = None,
    description: str | None = None,
    *,
    git_commit: str | None = None,
) -> PublishedPipeline:
    """Snapshot ``FILE:PIPELINE`` and store it as the next version of ``name`` (the same
    snapshot as the newest version is that version again)."""
    pipeline = load_pipeline(reference)
    path, _ = split_reference(reference)
    path = path.resolve()
    root = project_root(path)
    files = {*CodeFingerprinter(root).module_files(path), *_beside(path, root)}
    manifest: dict[str, list[Any]] = {}
    for rel in sorted(files):
        digest, size = store.blobs.put_file(root / rel, sync=False)
        manifest[rel] = [digest, size]
    snapshot = json.dumps({"files": manifest}, sort_keys=True, separators=(",", ":")).encode()
    snapshot_digest = store.blobs.put_bytes(snapshot, sync=False)
    store.blobs.sync()
    entry = f"{path.relative_to(root).as_posix()}:{pipeline.name}"
    with store.write() as tx:
        definition = published.publish(
            tx,
            name or pipeline.name,
            entrypoint=entry,
            snapshot_digest=snapshot_digest,
            description=description,
            created_by=actors.user_name(),
            git_commit=git_commit,
        )
        audit.append(
            tx,
            audit.default_actor(),
            "pipeline.publish",
            f"pipeline {definition.name}@{definition.version}",
            {"entrypoint": entry, "git_commit": git_commit},
        )
        return definition


SIDE_FILE_LIMIT = 1 << 20


def _beside(path: Path, root: Path) -> list[str]:
    """The files next to the pipeline file that a step may read rather than import (a
    score.py packaged with the model, a config): the folder's own files, not its subfolders,
    hidden files or files over 1 MiB."""
    found = []
    for item in sorted(path.parent.iterdir()):
        if item.name.startswith(".") or not item.is_file():
            continue
        if item.stat().st_size <= SIDE_FILE_LIMIT:
            found.append(item.relative_to(root).as_posix())
    return found


def submit(
    store: Store,
    name: str,
    version: int | None = None,
    *,
    params: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    idempotency_key: str | None = None,
) -> Submitted:
    """Queue a run of a published pipeline; parameters are checked now, not by the agent.

    With ``idempotency_key``, a second submission with the same key returns the run the
    first one queued instead of queueing another (``gyre ci submit``: commit + params)."""
    with store.read() as tx:
        definition = published.get(tx, name, version)
    pipeline = load_snapshot(store, definition)
    resolve_params(pipeline, params or {})  # checked now, not by the agent
    run_id = run_rows.new_run_id()
    run_tags = {**(tags or {}), "pipeline_version": str(definition.version)}
    payload = {
        "pipeline": definition.name,
        "version": definition.version,
        "params": params or {},
        "tags": run_tags,
        "run_id": run_id,
    }
    with store.write() as tx:
        if idempotency_key is not None:
            earlier = jobs.find(tx, idempotency_key)
            if earlier is not None:
                return Submitted(earlier.id, str(earlier.payload["run_id"]), definition, False)
        # A run from the moment it is queued: `gyre runs show/list/cancel` see it at once.
        run_rows.create(
            tx,
            kind="pipeline",
            name=pipeline.name,
            experiment=pipeline.name,
            status="queued",
            run_id=run_id,
            source=f"{definition.name}@{definition.version}",
        )
        run_rows.set_tags(tx, run_id, run_tags)  # params are recorded when it starts
        audit.append(
            tx,
            audit.default_actor(),
            "run.submit",
            f"run {run_id}",
            {"pipeline": f"{definition.name}@{definition.version}", "params": params or {}},
        )
        job_id = jobs.enqueue(
            tx, JOB_KIND, payload, idempotency_key=idempotency_key or f"run:{run_id}"
        )
    return Submitted(job_id, run_id, definition)


def newest_published(store: Store) -> list[PublishedPipeline]:
    """The newest version of every published pipeline."""
    with store.read() as tx:
        rows = published.list_pipelines(tx)
    return list({r.name: r for r in rows}.values())


@dataclass(frozen=True)
class PublishedVersion:
    definition: PublishedPipeline
    files: list[str]  # the project files its snapshot holds


def published_versions(store: Store, name: str) -> list[PublishedVersion]:
    """Every version of a published pipeline with the files of its snapshot."""
    with store.read() as tx:
        published.get(tx, name)
        rows = published.list_pipelines(tx, name)
    return [
        PublishedVersion(r, sorted(folder_manifest(store.blobs, r.snapshot_digest))) for r in rows
    ]


def snapshot_dir(store: Store, definition: PublishedPipeline) -> Path:
    """The published files, laid out once per snapshot under the workspace's local folder."""
    target = store.local_path("snapshots") / definition.snapshot_digest
    if target.exists():
        return target
    staging = target.with_name(f".{target.name}.{os.getpid()}")
    for rel, (digest, _) in folder_manifest(store.blobs, definition.snapshot_digest).items():
        store.blobs.fetch(digest, staging / rel)
    (staging / SNAPSHOT_MARKER).touch()
    try:
        os.replace(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def load_snapshot(store: Store, definition: PublishedPipeline) -> Any:
    folder = snapshot_dir(store, definition)
    rel, _, function = definition.entrypoint.rpartition(":")
    import sys

    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return load_pipeline(f"{folder / rel}:{function}")


def execute_job(store: Store, job: jobs.Job, observer: RunObserver | None = None) -> PipelineRun:
    """Run a submitted job; a job retried after a crash resumes its run instead of starting over."""
    payload = job.payload
    with store.read() as tx:
        definition = published.get(tx, payload["pipeline"], payload["version"])
        try:
            existing = run_rows.get(tx, payload["run_id"])
        except NotFound:
            existing = None
    pipeline = load_snapshot(store, definition)
    request = RunRequest(
        pipeline=pipeline,
        params=payload["params"],
        tags=payload["tags"],
        source=f"{definition.name}@{definition.version}",
        run_id=None if existing else payload["run_id"],
        resume=existing.id if existing else None,
    )
    return run_pipeline(request, store, observer)


def cancel_run(store: Store, run_id: str) -> str:
    """Cancel a running pipeline run, or a submitted one that has not started yet."""
    with store.write() as tx:
        job = jobs.for_run(tx, run_id)
        try:
            record = run_rows.get(tx, run_id)
        except NotFound:
            if job is None:
                raise
            jobs.cancel(tx, job.id)
            return f"Cancelled queued run {run_id} (job {job.id})."
        if record.status not in ("running", "queued"):
            raise Conflict(
                f"Run {record.id} is {record.status}; only running or queued runs can be cancelled."
            )
        job = job or jobs.for_run(tx, record.id)
        if record.status == "queued":
            run_rows.update_run(tx, record.id, status="cancelled", ended_at=time.time())
            if job is not None:
                jobs.cancel(tx, job.id)
            audit.append(tx, audit.default_actor(), "run.cancel", f"run {record.id}")
            return f"Cancelled queued run {record.id}" + (f" (job {job.id})." if job else ".")
        run_rows.update_run(tx, record.id, status="cancelled")
        if job is not None:
            jobs.cancel(tx, job.id)
        audit.append(tx, audit.default_actor(), "run.cancel", f"run {record.id}")
    return f"Cancelling run {record.id}: its step processes are stopped within a second."
