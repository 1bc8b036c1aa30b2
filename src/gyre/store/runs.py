"""Runs (pipeline, step and free-standing tracking runs), their params, tags and artifacts."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, desc, insert, select, update

from gyre.errors import Conflict, NotFound
from gyre.store.schema import artifacts, params, runs, tags

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


def _record(row: Any) -> RunRecord:
    data = dict(row._mapping)
    for key in _JSON_FIELDS:
        data[key] = json.loads(data[key]) if data[key] else {}
    return RunRecord(**data)


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    for key in _JSON_FIELDS:
        if key in out and not isinstance(out[key], str | None):
            out[key] = json.dumps(out[key], sort_keys=True)
    return out


def create(
    conn: Connection,
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
    values = {"created_at": now, "started_at": now if status == "running" else None, **fields}
    conn.execute(
        insert(runs).values(
            id=run_id, kind=kind, name=name, experiment=experiment, status=status, **_encode(values)
        )
    )
    return run_id


def update_run(conn: Connection, run_id: str, **fields: Any) -> None:
    conn.execute(update(runs).where(runs.c.id == run_id).values(**_encode(fields)))


def get(conn: Connection, run_id: str) -> RunRecord:
    """Return the run with this id, or with this unique id prefix (at least 4 characters)."""
    row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
    if row is None and len(run_id) >= 4:
        rows = conn.execute(select(runs).where(runs.c.id.startswith(run_id)).limit(2)).all()
        if len(rows) > 1:
            raise Conflict(f"Run id prefix {run_id!r} matches several runs; give more characters.")
        row = rows[0] if rows else None
    if row is None:
        raise NotFound(f"No run with id {run_id!r}. 'gyre runs list' shows the runs that exist.")
    return _record(row)


def children(conn: Connection, run_id: str) -> list[RunRecord]:
    rows = conn.execute(
        select(runs).where(runs.c.parent_id == run_id).order_by(runs.c.created_at, runs.c.name)
    )
    return [_record(r) for r in rows]


def set_params(conn: Connection, run_id: str, values: dict[str, Any]) -> None:
    if not values:
        return
    existing = {
        k: v
        for k, v in conn.execute(
            select(params.c.key, params.c.value).where(params.c.run_id == run_id)
        ).all()
    }
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
            rows.append({"run_id": run_id, "key": key, "value": encoded})
    if rows:
        conn.execute(insert(params), rows)


def get_params(conn: Connection, run_id: str) -> dict[str, Any]:
    rows = conn.execute(select(params.c.key, params.c.value).where(params.c.run_id == run_id))
    return {key: json.loads(value) for key, value in rows}


def set_tags(conn: Connection, run_id: str, values: dict[str, str]) -> None:
    for key, value in values.items():
        conn.execute(delete(tags).where(tags.c.run_id == run_id, tags.c.key == key))
        conn.execute(insert(tags).values(run_id=run_id, key=key, value=str(value)))


def get_tags(conn: Connection, run_id: str) -> dict[str, str]:
    rows = conn.execute(select(tags.c.key, tags.c.value).where(tags.c.run_id == run_id))
    return dict(rows.tuples().all())


def add_artifact(
    conn: Connection,
    run_id: str,
    name: str,
    *,
    role: str,
    digest: str,
    materializer: str,
    size: int | None = None,
    meta: dict[str, Any] | None = None,
) -> None:
    conn.execute(delete(artifacts).where(artifacts.c.run_id == run_id, artifacts.c.name == name))
    conn.execute(
        insert(artifacts).values(
            run_id=run_id,
            name=name,
            role=role,
            digest=digest,
            materializer=materializer,
            size=size,
            meta=json.dumps(meta or {}, sort_keys=True),
            created_at=time.time(),
        )
    )


def get_artifacts(conn: Connection, run_id: str, role: str | None = None) -> list[ArtifactRecord]:
    query = select(artifacts).where(artifacts.c.run_id == run_id)
    if role is not None:
        query = query.where(artifacts.c.role == role)
    rows = conn.execute(query.order_by(artifacts.c.name))
    return [
        ArtifactRecord(**{**dict(r._mapping), "meta": json.loads(r.meta or "{}")}) for r in rows
    ]


def reusable_step_runs(conn: Connection, cache_key: str) -> list[RunRecord]:
    """Finished step runs that executed with this cache key, newest first."""
    rows = conn.execute(
        select(runs)
        .where(runs.c.cache_key == cache_key, runs.c.kind == "step", runs.c.outcome == "ran")
        .where(runs.c.status == "finished")
        .order_by(desc(runs.c.ended_at))
        .limit(5)
    )
    return [_record(r) for r in rows]


def latest_step_run(conn: Connection, pipeline: str, step: str) -> RunRecord | None:
    """The newest finished run of ``step`` in a run of ``pipeline`` (to explain what changed)."""
    parent = runs.alias("parent")
    row = conn.execute(
        select(runs)
        .join(parent, parent.c.id == runs.c.parent_id)
        .where(parent.c.name == pipeline, runs.c.name == step, runs.c.kind == "step")
        .where(runs.c.status == "finished", runs.c.cache_key.is_not(None))
        .order_by(desc(runs.c.created_at))
        .limit(1)
    ).first()
    return _record(row) if row else None


def delete_runs(conn: Connection, run_ids: list[str]) -> int:
    """Delete runs and everything they own (children, params, tags, metrics, artifacts)."""
    if not run_ids:
        return 0
    from gyre.store.schema import metrics

    ids = set(run_ids)
    frontier = list(ids)
    while frontier:
        kids = conn.execute(select(runs.c.id).where(runs.c.parent_id.in_(frontier))).scalars()
        frontier = [k for k in kids if k not in ids]
        ids.update(frontier)
    id_list = sorted(ids)
    for table in (metrics, params, tags, artifacts):
        conn.execute(delete(table).where(table.c.run_id.in_(id_list)))
    conn.execute(update(runs).where(runs.c.reused_from.in_(id_list)).values(reused_from=None))
    conn.execute(update(runs).where(runs.c.id.in_(id_list)).values(parent_id=None))
    result = conn.execute(delete(runs).where(runs.c.id.in_(id_list)))
    return int(result.rowcount or 0)


def referenced_digests(conn: Connection) -> set[str]:
    digests = set(conn.execute(select(artifacts.c.digest)).scalars())
    digests.update(d for d in conn.execute(select(runs.c.log_digest)).scalars() if d)
    return digests


def artifact_manifests(conn: Connection) -> list[str]:
    """Digests of artifacts whose blob is a manifest naming further blobs (directories)."""
    rows = conn.execute(select(artifacts.c.digest).where(artifacts.c.materializer == "dir"))
    return sorted(set(rows.scalars()))
