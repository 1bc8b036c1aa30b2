"""One run in full, its logs, metric histories and artifacts: the capability behind
``gyre runs show/delete``, ``gyre logs``, ``gyre metrics`` and ``gyre artifacts``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gyre.errors import NotFound
from gyre.store import Store, audit, damage
from gyre.store import metrics as metric_rows
from gyre.store import runs as run_rows
from gyre.store.folders import manifest as folder_manifest
from gyre.store.runs import ArtifactRecord, RunRecord
from gyre.tracking.liveness import effective_status

History = list[tuple[int, float, float]]  # (step, value, timestamp)


def run_detail(store: Store, run_id: str) -> dict[str, Any]:
    """A run (any unique id prefix) with params, tags, latest metrics, artifacts, its steps
    and what ``gyre fsck --repair`` marked as damaged in it."""
    with store.read() as tx:
        record = run_rows.get(tx, run_id)
        children = run_rows.children(tx, record.id)
        ids = [record.id, *(c.id for c in children)]
        latest = metric_rows.latest(tx, ids)
        return {
            **record.__dict__,
            "status": effective_status(record),
            "params": run_rows.get_params(tx, record.id),
            "tags": run_rows.get_tags(tx, record.id),
            "metrics": latest.get(record.id, {}),
            "artifacts": [a.__dict__ for a in run_rows.get_artifacts(tx, record.id)],
            "steps": [
                {
                    "name": c.name,
                    "id": c.id,
                    "status": c.status,
                    "outcome": c.outcome,
                    "duration": c.duration,
                    "reused_from": c.reused_from,
                    "error": c.error,
                    "params": run_rows.get_params(tx, c.id),
                    "metrics": latest.get(c.id, {}),
                    "outputs": [
                        a.__dict__ for a in run_rows.get_artifacts(tx, c.id, role="output")
                    ],
                }
                for c in children
            ],
            "damage": damage.lines_for(tx, [f"run {i}" for i in ids]),
        }


def get_run(store: Store, run_id: str) -> RunRecord:
    """A run by id or unique id prefix."""
    with store.read() as tx:
        return run_rows.get(tx, run_id)


def resolve_ids(store: Store, run_ids: list[str]) -> list[str]:
    """Full ids of runs given by id or unique prefix (NotFound names the one missing)."""
    with store.read() as tx:
        return [run_rows.get(tx, r).id for r in run_ids]


def delete_runs(store: Store, run_ids: list[str]) -> int:
    """Delete runs with their steps, metrics and artifact records; returns the row count.
    Their blobs stay until ``gyre gc``."""
    ids = resolve_ids(store, run_ids)
    with store.write() as tx:
        count = run_rows.delete_runs(tx, ids)
        for run_id in ids:
            audit.append(tx, audit.default_actor(), "run.delete", f"run {run_id}")
        return count


@dataclass(frozen=True)
class StepLog:
    name: str
    state: str  # outcome, or status while it runs
    text: str


def logs(store: Store, run_id: str, step: str | None = None) -> list[StepLog]:
    """The captured output of a run's steps (or of one step); a running step's live log."""
    with store.read() as tx:
        record = run_rows.get(tx, run_id)
        steps = run_rows.children(tx, record.id) if record.kind == "pipeline" else [record]
    if step:
        steps = [s for s in steps if s.name == step]
        if not steps:
            raise NotFound(f"Run {record.id} has no step {step!r}. 'gyre runs show' lists them.")
    return [StepLog(s.name, s.outcome or s.status, _log_text(store, record.id, s)) for s in steps]


def _log_text(store: Store, pipeline_run_id: str, step: RunRecord) -> str:
    if step.log_digest:
        return store.blobs.read_bytes(step.log_digest).decode(errors="replace")
    live = Path(store.settings.local_dir) / "logs" / pipeline_run_id / f"{step.name}.log"
    if live.exists():
        return live.read_text(errors="replace")
    return "(no log)" if step.outcome != "reused" else "(reused: no new log)"


def metric_histories(
    store: Store, run_id: str, key: str | None = None, step: str | None = None
) -> dict[str, History]:
    """Every metric's history of a run and its steps (``step/key`` for steps); a reused
    step shows the history of the run it reused."""
    histories: dict[str, History] = {}
    with store.read() as tx:
        record = run_rows.get(tx, run_id)
        targets = [record, *run_rows.children(tx, record.id)]
        if step:
            targets = [t for t in targets if t.name == step and t.kind == "step"]
        for target in targets:
            source = target.id if target.outcome != "reused" else (target.reused_from or target.id)
            prefix = f"{target.name}/" if target.kind == "step" else ""
            for k in metric_rows.keys(tx, source):
                if key is None or k == key:
                    histories[prefix + k] = metric_rows.history(tx, source, k)
    return histories


def artifacts(store: Store, run_id: str) -> list[dict[str, Any]]:
    """A run's own artifacts (step "") and its steps' outputs, each with its step."""
    detail = run_detail(store, run_id)
    found = [{**a, "step": ""} for a in detail["artifacts"]]
    for s in detail["steps"]:
        found.extend({**a, "step": s["name"]} for a in s["outputs"])
    return found


def fetch_artifact(store: Store, run_id: str, name: str, dest: Path) -> ArtifactRecord:
    """Copy artifact ``NAME`` (or ``STEP/NAME`` of a pipeline run) to ``dest``, verified."""
    step, _, artifact = name.rpartition("/")
    with store.read() as tx:
        record = run_rows.get(tx, run_id)
        owner = record
        if step and any(a.name == name for a in run_rows.get_artifacts(tx, record.id)):
            step, artifact = "", name  # the run's own artifact, logged under a path
        if step:
            matches = [c for c in run_rows.children(tx, record.id) if c.name == step]
            if not matches:
                raise NotFound(
                    f"Run {record.id} has no step {step!r}. 'gyre runs show' lists them."
                )
            owner = matches[0]
        found = {a.name: a for a in run_rows.get_artifacts(tx, owner.id)}
    if artifact not in found:
        raise NotFound(
            f"Run {owner.id} has no artifact {artifact!r}; there are: "
            f"{', '.join(sorted(found)) or 'none'} ('gyre artifacts list {record.id}')."
        )
    chosen = found[artifact]
    if chosen.materializer == "dir":
        for rel, (digest, _) in folder_manifest(store.blobs, chosen.digest).items():
            store.blobs.fetch(digest, dest / rel)
    else:
        target = dest / chosen.meta.get("name", artifact) if dest.is_dir() else dest
        store.blobs.fetch(chosen.digest, target)
    return chosen
