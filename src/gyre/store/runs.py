"""Runs (pipeline, step and free-standing tracking runs), their params, tags and artifacts."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from gyre.errors import Conflict, InvalidParameter, NotFound
from gyre.store.database import Transaction

RUN_STATUSES = ("queued", "running", "finished", "failed", "cancelled")
_JSON_FIELDS = ("environment", "key_parts")


def new_run_id() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True)
class RunRecord:
    id: str
    kind: str
    parent_id: str | None
    experiment: str
    name: str
    status: str
    outcome: str | None
    created_at: float
    started_at: float | None = None
    ended_at: float | None = None
    heartbeat_at: float | None = None
    host: str | None = None
    pid: int | None = None
    python: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    source: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    cache_key: str | None = None
    key_parts: dict[str, Any] = field(default_factory=dict)
    reused_from: str | None = None
    log_digest: str | None = None
    error: str | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


@dataclass(frozen=True)
class ArtifactRecord:
    run_id: str
    name: str
    role: str
    digest: str
    materializer: str
    size: int | None
    meta: dict[str, Any]
    created_at: float


_RUN_COLUMNS = (
    "id",
    "kind",
    "parent_id",
    "experiment",
    "name",
    "status",
    "outcome",
    "created_at",
    "started_at",
    "ended_at",
    "heartbeat_at",
    "host",
    "pid",
    "python",
    "git_commit",
    "git_dirty",
    "source",
    "environment",
    "cache_key",
    "key_parts",
    "reused_from",
    "log_digest",
    "error",
)
_SELECT = f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs"


def record_from_row(row: dict[str, Any]) -> RunRecord:
    data = dict(row)
    for key in _JSON_FIELDS:
        data[key] = json.loads(data[key]) if data[key] else {}
    if data["git_dirty"] is not None:
        data["git_dirty"] = bool(data["git_dirty"])
    return RunRecord(**data)


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    for key in _JSON_FIELDS:
        if key in out and not isinstance(out[key], str | None):
            out[key] = json.dumps(out[key], sort_keys=True)
    return out


def create(
    tx: Transaction,
    *,
    kind: str,
    name: str,
    experiment: str,
    status: str = "running",
    run_id: str | None = None,
    **fields: Any,
) -> str:
    run_id = run_id or new_run_id()
    now = time.time()
    values = {
        "id": run_id,
        "kind": kind,
        "name": name,
        "experiment": experiment,
        "status": status,
        "created_at": now,
        "started_at": now if status == "running" else None,
        **_encode(fields),
    }
    _check_columns(values)
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    tx.execute(f"INSERT INTO runs ({columns}) VALUES ({marks})", list(values.values()))
    return run_id


def _check_columns(values: dict[str, Any]) -> None:
    unknown = set(values) - set(_RUN_COLUMNS)
    if unknown:  # column names are interpolated into SQL: only known ones pass
        raise InvalidParameter(
            f"Unknown run fields {sorted(unknown)}: a run has {', '.join(sorted(_RUN_COLUMNS))}.",
            field=sorted(unknown)[0],
        )


def update_run(tx: Transaction, run_id: str, **fields: Any) -> None:
    values = _encode(fields)
    _check_columns(values)
    assignments = ", ".join(f"{name} = ?" for name in values)
    tx.execute(f"UPDATE runs SET {assignments} WHERE id = ?", [*values.values(), run_id])


def get(tx: Transaction, run_id: str) -> RunRecord:
    """Return the run with this id, or with this unique id prefix (at least 4 characters)."""
    row = tx.one(f"{_SELECT} WHERE id = ?", [run_id])
    if row is None and len(run_id) >= 4 and run_id.isalnum():
        rows = tx.all(f"{_SELECT} WHERE id LIKE ? LIMIT 2", [run_id + "%"])
        if len(rows) > 1:
            raise Conflict(f"Run id prefix {run_id!r} matches several runs; give more characters.")
        row = rows[0] if rows else None
    if row is None:
        raise NotFound(f"No run with id {run_id!r}. 'gyre runs list' shows the runs that exist.")
    return record_from_row(row)


def children(tx: Transaction, run_id: str) -> list[RunRecord]:
    rows = tx.all(f"{_SELECT} WHERE parent_id = ? ORDER BY created_at, name", [run_id])
    return [record_from_row(r) for r in rows]


def children_of(tx: Transaction, run_ids: list[str]) -> list[RunRecord]:
    """The step runs of these pipeline runs."""
    found: list[RunRecord] = []
    for start in range(0, len(run_ids), 500):
        chunk = run_ids[start : start + 500]
        rows = tx.all(f"{_SELECT} WHERE parent_id IN {_in(chunk)}", chunk)
        found.extend(record_from_row(r) for r in rows)
    return found


def select_runs(
    tx: Transaction, where: str = "", params: list[Any] | None = None
) -> list[RunRecord]:
    """Runs matching a WHERE clause written by the store's own callers (never user text)."""
    return [record_from_row(r) for r in tx.all(f"{_SELECT} {where}", params or [])]


def set_params(tx: Transaction, run_id: str, values: dict[str, Any]) -> None:
    if not values:
        return
    existing = dict(tx.tuples("SELECT key, value FROM params WHERE run_id = ?", [run_id]))
    rows = []
    for key, value in values.items():
        encoded = json.dumps(value, sort_keys=True, default=str)
        if key in existing and existing[key] != encoded:
            raise Conflict(
                f"Param {key!r} of run {run_id} is already {existing[key]} and cannot become "
                f"{encoded}: params are immutable. Log the new value under another name "
                "or as a metric."
            )
        if key not in existing:
            rows.append((run_id, key, encoded))
    if rows:
        tx.executemany("INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)", rows)


def get_params(tx: Transaction, run_id: str) -> dict[str, Any]:
    rows = tx.tuples("SELECT key, value FROM params WHERE run_id = ?", [run_id])
    return {key: json.loads(value) for key, value in rows}


def set_tags(tx: Transaction, run_id: str, values: dict[str, str]) -> None:
    for key, value in values.items():
        tx.execute("DELETE FROM tags WHERE run_id = ? AND key = ?", [run_id, key])
        tx.execute(
            "INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)", [run_id, key, str(value)]
        )


def get_tags(tx: Transaction, run_id: str) -> dict[str, str]:
    return dict(tx.tuples("SELECT key, value FROM tags WHERE run_id = ?", [run_id]))


def add_artifact(
    tx: Transaction,
    run_id: str,
    name: str,
    *,
    role: str,
    digest: str,
    materializer: str,
    size: int | None = None,
    meta: dict[str, Any] | None = None,
) -> None:
    tx.execute("DELETE FROM artifacts WHERE run_id = ? AND name = ?", [run_id, name])
    tx.execute(
        "INSERT INTO artifacts (run_id, name, role, digest, materializer, size, meta, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            name,
            role,
            digest,
            materializer,
            size,
            json.dumps(meta or {}, sort_keys=True),
            time.time(),
        ],
    )


_ARTIFACT_SELECT = (
    "SELECT run_id, name, role, digest, materializer, size, meta, created_at FROM artifacts"
)


def get_artifacts(tx: Transaction, run_id: str, role: str | None = None) -> list[ArtifactRecord]:
    if role is None:
        rows = tx.all(f"{_ARTIFACT_SELECT} WHERE run_id = ? ORDER BY name", [run_id])
    else:
        rows = tx.all(
            f"{_ARTIFACT_SELECT} WHERE run_id = ? AND role = ? ORDER BY name", [run_id, role]
        )
    return [ArtifactRecord(**{**r, "meta": json.loads(r["meta"] or "{}")}) for r in rows]


def reusable_step_runs(tx: Transaction, cache_key: str) -> list[RunRecord]:
    """Finished step runs that executed with this cache key, newest first."""
    return select_runs(
        tx,
        "WHERE cache_key = ? AND kind = 'step' AND outcome = 'ran' AND status = 'finished' "
        "ORDER BY ended_at DESC LIMIT 5",
        [cache_key],
    )


def latest_step_run(tx: Transaction, pipeline: str, step: str) -> RunRecord | None:
    """The newest finished run of ``step`` in a run of ``pipeline`` (to explain what changed)."""
    rows = select_runs(
        tx,
        "WHERE name = ? AND kind = 'step' AND status = 'finished' AND cache_key IS NOT NULL "
        "AND parent_id IN (SELECT id FROM runs WHERE name = ? AND kind = 'pipeline') "
        "ORDER BY created_at DESC LIMIT 1",
        [step, pipeline],
    )
    return rows[0] if rows else None


def recent_durations(tx: Transaction, pipeline: str, step: str, limit: int = 5) -> list[float]:
    """Seconds the last ``limit`` runs of ``step`` took where it ran (not reused)."""
    return [
        float(value)
        for value in tx.scalars(
            "SELECT s.ended_at - s.started_at FROM runs s WHERE s.name = ? AND s.kind = 'step' "
            "AND s.outcome = 'ran' AND s.status = 'finished' AND s.started_at IS NOT NULL "
            "AND s.ended_at IS NOT NULL AND s.parent_id IN "
            "(SELECT id FROM runs WHERE name = ? AND kind = 'pipeline') "
            "ORDER BY s.created_at DESC LIMIT ?",
            [step, pipeline, limit],
        )
    ]


def _in(ids: list[str]) -> str:
    return "(" + ", ".join("?" for _ in ids) + ")"


def delete_runs(tx: Transaction, run_ids: list[str]) -> int:
    """Delete runs and everything they own (children, params, tags, metrics, artifacts)."""
    if not run_ids:
        return 0
    ids = set(run_ids)
    frontier = list(ids)
    while frontier:
        kids = tx.scalars(f"SELECT id FROM runs WHERE parent_id IN {_in(frontier)}", frontier)
        frontier = [k for k in kids if k not in ids]
        ids.update(frontier)
    id_list = sorted(ids)
    marks = _in(id_list)
    for table in ("metrics", "latest_metrics", "params", "tags", "artifacts"):
        tx.execute(f"DELETE FROM {table} WHERE run_id IN {marks}", id_list)
    tx.execute(f"UPDATE runs SET reused_from = NULL WHERE reused_from IN {marks}", id_list)
    tx.execute(f"UPDATE runs SET parent_id = NULL WHERE id IN {marks}", id_list)
    return tx.execute(f"DELETE FROM runs WHERE id IN {marks}", id_list)


def referenced_digests(tx: Transaction) -> set[str]:
    digests = set(tx.scalars("SELECT DISTINCT digest FROM artifacts"))
    digests.update(tx.scalars("SELECT log_digest FROM runs WHERE log_digest IS NOT NULL"))
    return digests


def artifact_manifests(tx: Transaction) -> list[str]:
    """Digests of artifacts whose blob is a manifest naming further blobs (directories)."""
    return sorted(set(tx.scalars("SELECT digest FROM artifacts WHERE materializer = 'dir'")))
