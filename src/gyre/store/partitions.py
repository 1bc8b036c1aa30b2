"""Sealed partitions of append-only datasets (an inference dataset's hours, say)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gyre.errors import Conflict
from gyre.store.database import Transaction


@dataclass(frozen=True)
class PartitionRecord:
    dataset: str
    partition_key: str
    digest: str
    rows: int
    starts_at: float
    ends_at: float
    sealed_at: float


# -- partitions (append-only datasets) --------------------------------------------------------


def add_partition(
    tx: Transaction,
    name: str,
    partition: str,
    *,
    digest: str,
    rows: int,
    starts_at: float,
    ends_at: float,
) -> PartitionRecord:
    existing = tx.one(
        "SELECT digest FROM dataset_partitions WHERE dataset = ? AND partition_key = ?",
        [name, partition],
    )
    if existing is not None:
        if existing["digest"] == digest:
            return partitions(tx, name, partition_names=[partition])[0]
        raise Conflict(
            f"Partition {partition!r} of {name!r} is sealed and immutable. Write new rows to a "
            "new partition."
        )
    tx.execute(
        "INSERT INTO dataset_partitions "
        "(dataset, partition_key, digest, rows, starts_at, ends_at, sealed_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [name, partition, digest, rows, starts_at, ends_at, time.time()],
    )
    return partitions(tx, name, partition_names=[partition])[0]


def partitions(
    tx: Transaction,
    name: str,
    *,
    start: float | None = None,
    end: float | None = None,
    partition_names: list[str] | None = None,
    sealed_before: float | None = None,
) -> list[PartitionRecord]:
    sql = (
        "SELECT dataset, partition_key, digest, rows, starts_at, ends_at, sealed_at "
        "FROM dataset_partitions WHERE dataset = ?"
    )
    params: list[Any] = [name]
    if start is not None:
        sql += " AND ends_at > ?"
        params.append(start)
    if end is not None:
        sql += " AND starts_at < ?"
        params.append(end)
    if sealed_before is not None:
        sql += " AND sealed_at <= ?"
        params.append(sealed_before)
    if partition_names:
        sql += f" AND partition_key IN ({', '.join('?' for _ in partition_names)})"
        params.extend(partition_names)
    return [
        PartitionRecord(**r) for r in tx.all(sql + " ORDER BY starts_at, partition_key", params)
    ]
