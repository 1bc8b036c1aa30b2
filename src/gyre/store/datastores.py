"""Datastores: named storage locations that datasets are read from."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from gyre.errors import Conflict, NotFound, did_you_mean
from gyre.store.database import Transaction
from gyre.store.names import check_name


@dataclass(frozen=True)
class DatastoreRecord:
    name: str
    url: str
    secret: str | None
    options: dict[str, Any]
    by_reference: bool  # its datasets are recorded, not copied
    created_at: float


# -- datastores ---------------------------------------------------------------------------------


def add_datastore(
    tx: Transaction,
    name: str,
    url: str,
    *,
    secret: str | None,
    options: dict[str, Any],
    by_reference: bool,
) -> DatastoreRecord:
    check_name(name, "datastore")
    if tx.scalar("SELECT name FROM datastores WHERE name = ?", [name]) is not None:
        raise Conflict(f"Datastore {name!r} exists. 'gyre datastore remove {name}' first.")
    record = DatastoreRecord(name, url, secret, options, by_reference, time.time())
    tx.execute(
        "INSERT INTO datastores (name, url, secret, options, reference, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [name, url, secret, json.dumps(options, sort_keys=True), by_reference, record.created_at],
    )
    return record


def _datastore(row: dict[str, Any]) -> DatastoreRecord:
    return DatastoreRecord(
        row["name"],
        row["url"],
        row["secret"],
        json.loads(row["options"] or "{}"),
        bool(row["reference"]),
        row["created_at"],
    )


def get_datastore(tx: Transaction, name: str) -> DatastoreRecord:
    row = tx.one("SELECT * FROM datastores WHERE name = ?", [name])
    if row is None:
        names = tx.scalars("SELECT name FROM datastores ORDER BY name")
        raise NotFound(
            f"No datastore named {name!r}.{did_you_mean(name, names)} Datastores: "
            f"{', '.join(names) or 'none yet'}. 'gyre datastore add NAME URL' adds one."
        )
    return _datastore(row)


def list_datastores(tx: Transaction) -> list[DatastoreRecord]:
    return [_datastore(r) for r in tx.all("SELECT * FROM datastores ORDER BY name")]


def remove_datastore(tx: Transaction, name: str) -> None:
    get_datastore(tx, name)
    used = tx.scalar("SELECT count(*) FROM dataset_versions WHERE datastore = ?", [name])
    if used:
        raise Conflict(
            f"Datastore {name!r} holds {used} dataset version(s) registered by reference; "
            "delete those versions first."
        )
    tx.execute("DELETE FROM datastores WHERE name = ?", [name])
