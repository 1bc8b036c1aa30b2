"""Durable jobs and events: the queue that drives the loop (submitted runs today; releases and
monitors next). Jobs are leased by one worker at a time, retried with backoff, and enqueued at
most once per idempotency key (:mod:`gyre.store.jobs` keeps them). The capability behind
``gyre events`` and ``gyre agent``."""

from __future__ import annotations

from typing import Any

from gyre.store import Store
from gyre.store import jobs as rows
from gyre.store.jobs import Job

__all__ = ["Job", "claim", "finish", "get", "heartbeat", "list_jobs", "release"]


def list_jobs(store: Store, *, kind: str | None = None, limit: int = 50) -> list[Job]:
    """Jobs and events, newest first."""
    with store.read() as tx:
        return rows.list_jobs(tx, kind=kind, limit=limit)


def get(store: Store, job_id: int) -> Job:
    with store.read() as tx:
        return rows.get(tx, job_id)


def claim(store: Store, owner: str, kinds: list[str], *, lease_s: float = 60.0) -> Job | None:
    """Lease the oldest runnable job of these kinds to ``owner`` (None: nothing to do)."""
    with store.write() as tx:
        return rows.claim(tx, owner, kinds=kinds, lease_s=lease_s)


def claim_if_queued(
    store: Store, job_id: int, owner: str, kinds: list[str], *, lease_s: float = 60.0
) -> tuple[Job, Job | None]:
    """(the job as it is now, the job leased to ``owner`` if it was still queued), in one
    transaction: a foreground ``submit --wait`` takes its own job when no agent did."""
    with store.write() as tx:
        job = rows.get(tx, job_id)
        claimed = (
            rows.claim(tx, owner, kinds=kinds, lease_s=lease_s) if job.status == "queued" else None
        )
        return job, claimed


def heartbeat(store: Store, job_id: int, owner: str, *, lease_s: float = 60.0) -> bool:
    with store.write() as tx:
        return rows.heartbeat(tx, job_id, owner, lease_s=lease_s)


def finish(store: Store, job_id: int, owner: str, exit_code: int) -> Job:
    """Record how a job's process ended: done, or failed (retried with backoff while it has
    attempts left)."""
    with store.write() as tx:
        if exit_code == 0:
            rows.complete(tx, job_id, owner, {"exit_code": 0})
        else:
            rows.fail(tx, job_id, owner, f"job process exited with code {exit_code}")
        return rows.get(tx, job_id)


def release(store: Store, job_id: int, owner: str, why: str) -> Job:
    """Give a leased job back (it counts as a failed attempt, with ``why`` recorded)."""
    with store.write() as tx:
        return rows.fail(tx, job_id, owner, why)


def payload_summary(job: Job) -> dict[str, Any]:
    return {k: v for k, v in sorted(job.payload.items()) if k != "params"}
