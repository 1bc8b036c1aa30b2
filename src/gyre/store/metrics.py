"""Metric points: many small rows, written in batches and read back as whole histories.

Writes bypass the ORM: SQLite gets one ``executemany`` per batch, PostgreSQL a ``COPY``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sqlalchemy import Connection, and_, func, select

from gyre.store.schema import metrics

MetricPoint = tuple[str, str, int, float, float]
"""(run_id, key, step, value, timestamp)"""


def insert_points(conn: Connection, points: Sequence[MetricPoint]) -> None:
    if not points:
        return
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        copy_sql = "COPY metrics (run_id, key, step, value, timestamp) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:  # type: ignore[union-attr]
            for point in points:
                copy.write_row(point)
        return
    cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(
            "INSERT INTO metrics (run_id, key, step, value, timestamp) VALUES (?, ?, ?, ?, ?)",
            points,
        )
    finally:
        cursor.close()


def history(conn: Connection, run_id: str, key: str) -> list[tuple[int, float, float]]:
    """All points of one metric as (step, value, timestamp), in step order."""
    raw = conn.connection.driver_connection
    marker = "%s" if conn.dialect.name == "postgresql" else "?"
    cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(
            "SELECT step, value, timestamp FROM metrics "
            f"WHERE run_id = {marker} AND key = {marker} ORDER BY step, timestamp",
            (run_id, key),
        )
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return [(s, math.nan if v is None else v, t) for s, v, t in rows]


def keys(conn: Connection, run_id: str) -> list[str]:
    rows = conn.execute(select(metrics.c.key).where(metrics.c.run_id == run_id).distinct())
    return sorted(rows.scalars())


def latest(conn: Connection, run_ids: Sequence[str]) -> dict[str, dict[str, float]]:
    """The value at the highest step of every metric of every run: {run_id: {key: value}}."""
    if not run_ids:
        return {}
    last = (
        select(metrics.c.run_id, metrics.c.key, func.max(metrics.c.step).label("step"))
        .where(metrics.c.run_id.in_(list(run_ids)))
        .group_by(metrics.c.run_id, metrics.c.key)
        .subquery()
    )
    joined = conn.execute(
        select(metrics.c.run_id, metrics.c.key, metrics.c.value).join(
            last,
            and_(
                metrics.c.run_id == last.c.run_id,
                metrics.c.key == last.c.key,
                metrics.c.step == last.c.step,
            ),
        )
    )
    out: dict[str, dict[str, float]] = {}
    for run_id, key, value in joined:
        out.setdefault(run_id, {})[key] = math.nan if value is None else value
    return out


def count(conn: Connection, run_id: str) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(metrics).where(metrics.c.run_id == run_id)
        ).scalar_one()
    )
