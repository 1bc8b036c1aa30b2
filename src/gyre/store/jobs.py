"""The durable job table that drives everything that happens later.

Contract: a job is claimed by one worker at a time under a lease; a worker that dies lets the
lease expire and another worker claims the job again; a failed attempt is retried with
exponential backoff until ``max_attempts``; a job with an ``idempotency_key`` is enqueued once,
however often the enqueue is repeated.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from gyre.errors import NotFound
from gyre.store.schema import jobs

BACKOFF_BASE_S = 2.0
BACKOFF_MAX_S = 300.0


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    status: str
    idempotency_key: str | None
    attempts: int
    max_attempts: int
    run_after: float
    lease_owner: str | None
    lease_expires: float | None
    last_error: str | None
    result: dict[str, Any] | None
    created_at: float
    updated_at: float


def _job(row: Any) -> Job:
    data = dict(row._mapping)
    data["payload"] = json.loads(data["payload"])
    data["result"] = json.loads(data["result"]) if data["result"] else None
    return Job(**data)


def backoff(attempts: int) -> float:
    return float(min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1)))


def enqueue(
    conn: Connection,
    kind: str,
    payload: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    max_attempts: int = 3,
    delay: float = 0.0,
) -> int:
    """Queue a job; with an idempotency key, a repeated enqueue returns the first job's id."""
    now = time.time()
    values = {
        "kind": kind,
        "payload": json.dumps(payload, sort_keys=True),
        "status": "queued",
        "idempotency_key": idempotency_key,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_after": now + delay,
        "created_at": now,
        "updated_at": now,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(jobs).values(**values)
    if idempotency_key is not None:
        statement = statement.on_conflict_do_nothing(index_elements=["idempotency_key"])
    inserted = conn.execute(statement.returning(jobs.c.id)).scalar()
    if inserted is None:  # the idempotency key exists: that job is the answer
        existing = conn.execute(
            select(jobs.c.id).where(jobs.c.idempotency_key == idempotency_key)
        ).scalar_one()
        return int(existing)
    return int(inserted)


def claim(
    conn: Connection, owner: str, *, kinds: list[str] | None = None, lease_s: float = 60.0
) -> Job | None:
    """Lease the oldest due job (queued, or leased by a worker whose lease ran out)."""
    now = time.time()
    query = (
        select(jobs.c.id)
        .where(
            or_(
                (jobs.c.status == "queued") & (jobs.c.run_after <= now),
                (jobs.c.status == "leased") & (jobs.c.lease_expires < now),
            )
        )
        .order_by(jobs.c.run_after, jobs.c.id)
        .limit(1)
    )
    if kinds:
        query = query.where(jobs.c.kind.in_(kinds))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    job_id = conn.execute(query).scalar()
    if job_id is None:
        return None
    conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id)
        .values(
            status="leased",
            lease_owner=owner,
            lease_expires=now + lease_s,
            attempts=jobs.c.attempts + 1,
            updated_at=now,
        )
    )
    return get(conn, job_id)


def heartbeat(conn: Connection, job_id: int, owner: str, *, lease_s: float = 60.0) -> bool:
    """Extend a lease; False when the lease was lost (the job is someone else's now)."""
    result = conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.lease_owner == owner, jobs.c.status == "leased")
        .values(lease_expires=time.time() + lease_s, updated_at=time.time())
    )
    return bool(result.rowcount)


def complete(
    conn: Connection, job_id: int, owner: str, result: dict[str, Any] | None = None
) -> None:
    conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.lease_owner == owner)
        .values(
            status="done",
            result=json.dumps(result or {}, sort_keys=True),
            lease_expires=None,
            updated_at=time.time(),
        )
    )


def fail(conn: Connection, job_id: int, owner: str, error: str) -> Job:
    """Record a failed attempt: back to the queue with backoff, or failed for good."""
    job = get(conn, job_id)
    now = time.time()
    retry = job.attempts < job.max_attempts
    conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.lease_owner == owner)
        .values(
            status="queued" if retry else "failed",
            run_after=now + backoff(job.attempts) if retry else job.run_after,
            last_error=error[-4000:],
            lease_owner=None,
            lease_expires=None,
            updated_at=now,
        )
    )
    return get(conn, job_id)


def cancel(conn: Connection, job_id: int) -> None:
    conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status.in_(["queued", "leased"]))
        .values(status="cancelled", updated_at=time.time())
    )


def get(conn: Connection, job_id: int) -> Job:
    row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
    if row is None:
        raise NotFound(f"No job with id {job_id}. 'gyre events list' shows the jobs that exist.")
    return _job(row)


def find(conn: Connection, idempotency_key: str) -> Job | None:
    row = conn.execute(select(jobs).where(jobs.c.idempotency_key == idempotency_key)).first()
    return _job(row) if row else None


def list_jobs(conn: Connection, *, kind: str | None = None, limit: int = 100) -> list[Job]:
    query = select(jobs).order_by(jobs.c.id.desc()).limit(limit)
    if kind:
        query = query.where(jobs.c.kind == kind)
    return [_job(r) for r in conn.execute(query)]
