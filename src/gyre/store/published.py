"""Published pipelines: a named, numbered definition plus a snapshot of its source."""

from __future__ import annotations

import time
from dataclasses import dataclass

from gyre.errors import NotFound, did_you_mean
from gyre.store.database import Transaction

_SELECT = (
    "SELECT name, version, entrypoint, snapshot_digest, description, created_at, created_by, "
    "git_commit FROM pipelines"
)


@dataclass(frozen=True)
class PublishedPipeline:
    name: str
    version: int
    entrypoint: str
    snapshot_digest: str
    description: str | None
    created_at: float
    created_by: str | None
    git_commit: str | None = None  # the commit it was published from (gyre ci submit)


def publish(
    tx: Transaction,
    name: str,
    *,
    entrypoint: str,
    snapshot_digest: str,
    description: str | None,
    created_by: str | None,
    git_commit: str | None = None,
) -> PublishedPipeline:
    """Store a new version, or return the newest one when it has the same snapshot."""
    newest = tx.one(f"{_SELECT} WHERE name = ? ORDER BY version DESC LIMIT 1", [name])
    if (
        newest is not None
        and newest["snapshot_digest"] == snapshot_digest
        and newest["entrypoint"] == entrypoint
    ):
        return PublishedPipeline(**newest)
    published = PublishedPipeline(
        name=name,
        version=(newest["version"] if newest else 0) + 1,
        entrypoint=entrypoint,
        snapshot_digest=snapshot_digest,
        description=description,
        created_at=time.time(),
        created_by=created_by,
        git_commit=git_commit,
    )
    tx.execute(
        "INSERT INTO pipelines (name, version, entrypoint, snapshot_digest, description, "
        "created_at, created_by, git_commit) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        list(published.__dict__.values()),
    )
    return published


def get(tx: Transaction, name: str, version: int | None = None) -> PublishedPipeline:
    if version is not None:
        row = tx.one(f"{_SELECT} WHERE name = ? AND version = ?", [name, version])
    else:
        row = tx.one(f"{_SELECT} WHERE name = ? ORDER BY version DESC LIMIT 1", [name])
    if row is None:
        names = tx.scalars("SELECT DISTINCT name FROM pipelines")
        if name in names:
            raise NotFound(
                f"Published pipeline {name!r} has no version {version}. "
                f"'gyre pipeline show {name}' lists its versions."
            )
        raise NotFound(
            f"No published pipeline named {name!r}.{did_you_mean(name, names)} "
            "'gyre pipeline list' shows those that exist; 'gyre pipeline publish' adds one."
        )
    return PublishedPipeline(**row)


def list_pipelines(tx: Transaction, name: str | None = None) -> list[PublishedPipeline]:
    if name:
        rows = tx.all(f"{_SELECT} WHERE name = ? ORDER BY version", [name])
    else:
        rows = tx.all(f"{_SELECT} ORDER BY name, version")
    return [PublishedPipeline(**r) for r in rows]


def snapshot_digests(tx: Transaction) -> list[str]:
    return tx.scalars("SELECT snapshot_digest FROM pipelines")
