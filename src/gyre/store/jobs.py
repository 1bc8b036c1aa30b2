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

from gyre.errors import NotFound
from gyre.store.database import Transaction

_SELECT = (
    "SELECT id, kind, payload, status, idempotency_key, attempts, max_attempts, run_after, "
    "lease_owner, lease_expires, last_error, result, created_at, updated_at FROM jobs"
)
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


def _job(row: dict[str, Any]) -> Job:
    data = dict(row)
    data["payload"] = json.loads(data["payload"])
    data["result"] = json.loads(data["result"]) if data["result"] else None
    return Job(**data)


def backoff(attempts: int) -> float:
    return float(min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1)))


def enqueue(
    tx: Transaction,
    kind: str,
    payload: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    max_attempts: int = 3,
    delay: float = 0.0,
) -> int:
    """Queue a job; with an idempotency key, a repeated enqueue returns the first job's id."""
    now = time.time()
    row = [
        kind,
        json.dumps(payload, sort_keys=True),
        "queued",
        idempotency_key,
        0,
        max_attempts,
        now + delay,
        now,
        now,
    ]
    inserted = tx.scalar(
        "INSERT INTO jobs (kind, payload, status, idempotency_key, attempts, max_attempts, "
        "run_after, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        row,
    )
    if inserted is None:  # the idempotency key exists: that job is the answer
        existing = tx.scalar("SELECT id FROM jobs WHERE idempotency_key = ?", [idempotency_key])
        return int(existing)
    return int(inserted)


def claim(
    tx: Transaction, owner: str, *, kinds: list[str] | None = None, lease_s: float = 60.0
) -> Job | None:
    """Lease the oldest due job (queued, or leased by a worker whose lease ran out)."""
    now = time.time()
    where = "((status = 'queued' AND run_after <= ?) OR (status = 'leased' AND lease_expires < ?))"
    params: list[Any] = [now, now]
    if kinds:
        where += f" AND kind IN ({', '.join('?' for _ in kinds)})"
        params.extend(kinds)
    lock = " FOR UPDATE SKIP LOCKED" if tx.dialect == "postgresql" else ""
    job_id = tx.scalar(
        f"SELECT id FROM jobs WHERE {where} ORDER BY run_after, id LIMIT 1{lock}", params
    )
    if job_id is None:
        return None
    tx.execute(
        "UPDATE jobs SET status = 'leased', lease_owner = ?, lease_expires = ?, "
        "attempts = attempts + 1, updated_at = ? WHERE id = ?",
        [owner, now + lease_s, now, job_id],
    )
    return get(tx, job_id)


def heartbeat(tx: Transaction, job_id: int, owner: str, *, lease_s: float = 60.0) -> bool:
    """Extend a lease; False when the lease was lost (the job is someone else's now)."""
    now = time.time()
    changed = tx.execute(
        "UPDATE jobs SET lease_expires = ?, updated_at = ? "
        "WHERE id = ? AND lease_owner = ? AND status = 'leased'",
        [now + lease_s, now, job_id, owner],
    )
    return bool(changed)


def complete(
    tx: Transaction, job_id: int, owner: str, result: dict[str, Any] | None = None
) -> None:
    tx.execute(
        "UPDATE jobs SET status = 'done', result = ?, lease_expires = NULL, updated_at = ? "
        "WHERE id = ? AND lease_owner = ?",
        [json.dumps(result or {}, sort_keys=True), time.time(), job_id, owner],
    )


def fail(tx: Transaction, job_id: int, owner: str, error: str) -> Job:
    """Record a failed attempt: back to the queue with backoff, or failed for good."""
    job = get(tx, job_id)
    now = time.time()
    retry = job.attempts < job.max_attempts
    tx.execute(
        "UPDATE jobs SET status = ?, run_after = ?, last_error = ?, lease_owner = NULL, "
        "lease_expires = NULL, updated_at = ? WHERE id = ? AND lease_owner = ?",
        [
            "queued" if retry else "failed",
            now + backoff(job.attempts) if retry else job.run_after,
            error[-4000:],
            now,
            job_id,
            owner,
        ],
    )
    return get(tx, job_id)


def cancel(tx: Transaction, job_id: int) -> None:
    tx.execute(
        "UPDATE jobs SET status = 'cancelled', updated_at = ? "
        "WHERE id = ? AND status IN ('queued', 'leased')",
        [time.time(), job_id],
    )


def get(tx: Transaction, job_id: int) -> Job:
    row = tx.one(f"{_SELECT} WHERE id = ?", [job_id])
    if row is None:
        raise NotFound(f"No job with id {job_id}. 'gyre events list' shows the jobs that exist.")
    return _job(row)


def find(tx: Transaction, idempotency_key: str) -> Job | None:
    row = tx.one(f"{_SELECT} WHERE idempotency_key = ?", [idempotency_key])
    return _job(row) if row else None


def for_run(tx: Transaction, run_id: str) -> Job | None:
    """The job that runs a submitted pipeline run (its key is ``run:ID``, or a CI key with the
    run id in the payload)."""
    job = find(tx, f"run:{run_id}")
    if job is not None:
        return job
    row = tx.one(
        f"{_SELECT} WHERE kind = 'pipeline.run' AND payload LIKE ? ORDER BY id DESC LIMIT 1",
        [f'%"run_id": "{run_id}"%'],
    )
    return _job(row) if row else None


def list_jobs(tx: Transaction, *, kind: str | None = None, limit: int = 100) -> list[Job]:
    if kind:
        rows = tx.all(f"{_SELECT} WHERE kind = ? ORDER BY id DESC LIMIT ?", [kind, limit])
    else:
        rows = tx.all(f"{_SELECT} ORDER BY id DESC LIMIT ?", [limit])
    return [_job(r) for r in rows]
