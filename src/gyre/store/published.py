"""Published pipelines: a named, numbered definition plus a snapshot of its source."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select

from gyre.errors import NotFound, did_you_mean
from gyre.store.schema import pipelines


@dataclass(frozen=True)
class PublishedPipeline:
    name: str
    version: int
    entrypoint: str
    snapshot_digest: str
    description: str | None
    created_at: float
    created_by: str | None


def publish(
    conn: Connection,
    name: str,
    *,
    entrypoint: str,
    snapshot_digest: str,
    description: str | None,
    created_by: str | None,
) -> PublishedPipeline:
    """Store a new version, or return the newest one when it has the same snapshot."""
    newest = conn.execute(
        select(pipelines).where(pipelines.c.name == name).order_by(pipelines.c.version.desc())
    ).first()
    if (
        newest is not None
        and newest.snapshot_digest == snapshot_digest
        and newest.entrypoint == entrypoint
    ):
        return PublishedPipeline(**newest._mapping)
    version = (newest.version if newest else 0) + 1
    values = {
        "name": name,
        "version": version,
        "entrypoint": entrypoint,
        "snapshot_digest": snapshot_digest,
        "description": description,
        "created_at": time.time(),
        "created_by": created_by,
    }
    conn.execute(insert(pipelines).values(**values))
    return PublishedPipeline(**values)  # type: ignore[arg-type]


def get(conn: Connection, name: str, version: int | None = None) -> PublishedPipeline:
    query = select(pipelines).where(pipelines.c.name == name)
    query = (
        query.where(pipelines.c.version == version)
        if version is not None
        else query.order_by(pipelines.c.version.desc()).limit(1)
    )
    row = conn.execute(query).first()
    if row is None:
        names = conn.execute(select(pipelines.c.name).distinct()).scalars().all()
        if name in names:
            raise NotFound(
                f"Published pipeline {name!r} has no version {version}. "
                f"'gyre pipeline show {name}' lists its versions."
            )
        raise NotFound(
            f"No published pipeline named {name!r}.{did_you_mean(name, names)} "
            "'gyre pipeline list' shows those that exist; 'gyre pipeline publish' adds one."
        )
    return PublishedPipeline(**row._mapping)


def list_pipelines(conn: Connection, name: str | None = None) -> list[PublishedPipeline]:
    query = select(pipelines).order_by(pipelines.c.name, pipelines.c.version)
    if name:
        query = query.where(pipelines.c.name == name)
    return [PublishedPipeline(**r._mapping) for r in conn.execute(query)]


def count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(pipelines)).scalar_one())
