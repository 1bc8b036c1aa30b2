"""Which runs read or wrote which dataset versions (lineage)."""

from __future__ import annotations

import time
from typing import Any

from gyre.store.database import Transaction

# -- lineage ------------------------------------------------------------------------------------


def record_use(tx: Transaction, run_id: str, name: str, version: int, direction: str) -> None:
    tx.execute(
        "DELETE FROM run_datasets WHERE run_id = ? AND dataset = ? AND version = ? "
        "AND direction = ?",
        [run_id, name, version, direction],
    )
    tx.execute(
        "INSERT INTO run_datasets (run_id, dataset, version, direction, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [run_id, name, version, direction, time.time()],
    )


def uses_of_run(tx: Transaction, run_ids: list[str]) -> list[dict[str, Any]]:
    if not run_ids:
        return []
    marks = ", ".join("?" for _ in run_ids)
    return tx.all(
        f"SELECT run_id, dataset, version, direction FROM run_datasets WHERE run_id IN ({marks}) "
        "ORDER BY dataset, version",
        run_ids,
    )


def uses_of_version(tx: Transaction, name: str, version: int) -> list[dict[str, Any]]:
    return tx.all(
        "SELECT run_id, dataset, version, direction FROM run_datasets "
        "WHERE dataset = ? AND version = ? ORDER BY created_at",
        [name, version],
    )
