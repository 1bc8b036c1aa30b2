"""Experiments: a run's ``experiment`` column, summed up per name (there is no table of them)."""

from __future__ import annotations

from dataclasses import dataclass

from gyre.store.database import Transaction


@dataclass(frozen=True)
class ExperimentSummary:
    name: str
    runs: int
    first_created_at: float
    last_created_at: float


def summaries(tx: Transaction, name: str | None = None) -> list[ExperimentSummary]:
    """Every experiment with at least one run or pipeline run (or only ``name``), by name."""
    where = "WHERE kind IN ('run', 'pipeline')"
    params: list[str] = []
    if name is not None:
        where += " AND experiment = ?"
        params.append(name)
    rows = tx.tuples(
        "SELECT experiment, COUNT(*), MIN(created_at), MAX(created_at) FROM runs "
        f"{where} GROUP BY experiment ORDER BY experiment",
        params,
    )
    return [ExperimentSummary(str(n), int(c), float(lo), float(hi)) for n, c, lo, hi in rows]
