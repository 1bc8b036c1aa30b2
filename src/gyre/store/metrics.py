"""Metric points: many small rows, written in batches and read back as whole histories.

SQLite gets one ``executemany`` per batch, PostgreSQL a ``COPY``. NaN is stored as NULL on
SQLite (which cannot store NaN) and read back as NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gyre.store.database import Transaction

MetricPoint = tuple[str, str, int, float, float]
"""(run_id, key, step, value, timestamp)"""


def insert_points(tx: Transaction, points: Sequence[MetricPoint]) -> None:
    """Append points, and move each (run, key)'s latest value when a point is at a higher
    step (or the same step, later) than the one kept in ``latest_metrics``."""
    if not points:
        return
    if tx.dialect == "postgresql":
        copy_sql = "COPY metrics (run_id, key, step, value, timestamp) FROM STDIN (FORMAT BINARY)"
        with tx.raw.cursor() as cursor, cursor.copy(copy_sql) as copy:
            copy.set_types(["text", "text", "int4", "float8", "float8"])
            for point in points:
                copy.write_row(point)
    else:
        tx.executemany(
            "INSERT INTO metrics (run_id, key, step, value, timestamp) VALUES (?, ?, ?, ?, ?)",
            points,
        )
    newest: dict[tuple[str, str], MetricPoint] = {}
    for point in points:
        kept = newest.get((point[0], point[1]))
        if kept is None or (point[2], point[4]) >= (kept[2], kept[4]):
            newest[(point[0], point[1])] = point
    tx.executemany(
        "INSERT INTO latest_metrics (run_id, key, step, value, timestamp) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (run_id, key) DO UPDATE SET step = excluded.step, value = excluded.value, "
        "timestamp = excluded.timestamp WHERE excluded.step > latest_metrics.step OR "
        "(excluded.step = latest_metrics.step AND excluded.timestamp >= latest_metrics.timestamp)",
        list(newest.values()),
    )


def history(tx: Transaction, run_id: str, key: str) -> list[tuple[int, float, float]]:
    """All points of one metric as (step, value, timestamp), in step order."""
    rows = tx.tuples(
        "SELECT step, value, timestamp FROM metrics WHERE run_id = ? AND key = ? "
        "ORDER BY step, timestamp",
        [run_id, key],
    )
    return [(s, math.nan if v is None else v, t) for s, v, t in rows]


def keys(tx: Transaction, run_id: str) -> list[str]:
    return sorted(tx.scalars("SELECT DISTINCT key FROM metrics WHERE run_id = ?", [run_id]))


def latest(tx: Transaction, run_ids: Sequence[str]) -> dict[str, dict[str, float]]:
    """The value at the highest step of every metric of every run: {run_id: {key: value}}."""
    if not run_ids:
        return {}
    out: dict[str, dict[str, float]] = {}
    ids = list(run_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        rows = tx.tuples(
            f"SELECT run_id, key, value FROM latest_metrics WHERE run_id IN ({marks})", chunk
        )
        for run_id, key, value in rows:
            out.setdefault(run_id, {})[key] = math.nan if value is None else value
    return out


def count(tx: Transaction, run_id: str) -> int:
    return int(tx.scalar("SELECT count(*) FROM metrics WHERE run_id = ?", [run_id]))
