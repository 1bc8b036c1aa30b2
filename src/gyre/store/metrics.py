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
    if not points:
        return
    if tx.dialect == "postgresql":
        copy_sql = "COPY metrics (run_id, key, step, value, timestamp) FROM STDIN (FORMAT BINARY)"
        with tx.raw.cursor() as cursor, cursor.copy(copy_sql) as copy:
            copy.set_types(["text", "text", "int4", "float8", "float8"])
            for point in points:
                copy.write_row(point)
        return
    tx.executemany(
        "INSERT INTO metrics (run_id, key, step, value, timestamp) VALUES (?, ?, ?, ?, ?)", points
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
            "SELECT m.run_id, m.key, m.value FROM metrics m JOIN ("
            "  SELECT run_id, key, MAX(step) AS step FROM metrics"
            f"  WHERE run_id IN ({marks}) GROUP BY run_id, key"
            ") last ON m.run_id = last.run_id AND m.key = last.key AND m.step = last.step",
            chunk,
        )
        for run_id, key, value in rows:
            out.setdefault(run_id, {})[key] = math.nan if value is None else value
    return out


def count(tx: Transaction, run_id: str) -> int:
    return int(tx.scalar("SELECT count(*) FROM metrics WHERE run_id = ?", [run_id]))
