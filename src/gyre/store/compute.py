"""Compute targets: named places (Ray clusters) where steps run."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from gyre.errors import Conflict, NotFound, did_you_mean
from gyre.store.database import Transaction
from gyre.store.names import check_name


@dataclass(frozen=True)
class ComputeTarget:
    name: str
    type: str
    address: str
    options: dict[str, Any]
    created_at: float


def _target(row: dict[str, Any]) -> ComputeTarget:
    return ComputeTarget(
        row["name"],
        row["type"],
        row["address"],
        json.loads(row["options"] or "{}"),
        row["created_at"],
    )


def add(
    tx: Transaction, name: str, type_: str, address: str, options: dict[str, Any]
) -> ComputeTarget:
    check_name(name, "compute target")
    if name == "local":
        raise Conflict(
            "'local' is the built-in compute target (steps as local processes); pick another name."
        )
    if tx.scalar("SELECT name FROM compute_targets WHERE name = ?", [name]) is not None:
        raise Conflict(f"Compute target {name!r} exists. 'gyre compute remove {name}' first.")
    now = time.time()
    tx.execute(
        "INSERT INTO compute_targets (name, type, address, options, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [name, type_, address, json.dumps(options, sort_keys=True), now],
    )
    return ComputeTarget(name, type_, address, options, now)


def get(tx: Transaction, name: str) -> ComputeTarget:
    row = tx.one("SELECT * FROM compute_targets WHERE name = ?", [name])
    if row is None:
        names = tx.scalars("SELECT name FROM compute_targets ORDER BY name")
        raise NotFound(
            f"No compute target named {name!r}.{did_you_mean(name, names)} Targets: "
            f"{', '.join(['local', *names])}. 'gyre compute add NAME --type ray --address ...'."
        )
    return _target(row)


def list_targets(tx: Transaction) -> list[ComputeTarget]:
    return [_target(r) for r in tx.all("SELECT * FROM compute_targets ORDER BY name")]


def remove(tx: Transaction, name: str) -> None:
    get(tx, name)
    tx.execute("DELETE FROM compute_targets WHERE name = ?", [name])
