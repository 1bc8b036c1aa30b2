"""Datasets, their immutable numbered versions and aliases."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from gyre.errors import Conflict, NotFound, did_you_mean
from gyre.store import version_refs
from gyre.store.database import Transaction
from gyre.store.names import check_alias, check_name


@dataclass(frozen=True)
class DatasetRecord:
    name: str
    kind: str
    description: str | None
    created_at: float


@dataclass(frozen=True)
class VersionRecord:
    dataset: str
    version: int
    digest: str
    layout: str
    source: str | None
    source_digest: str | None
    datastore: str | None
    by_reference: bool  # recorded without copying: the files stay in the datastore
    size: int
    files: int
    rows: int | None
    schema: list[dict[str, str]] | None
    profile_digest: str | None
    description: str | None
    created_at: float
    created_by: str | None
    run_id: str | None
    aliases: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"


_VERSION_COLUMNS = (
    "dataset, version, digest, layout, source, source_digest, datastore, reference, size, "
    "files, rows, schema, profile_digest, description, created_at, created_by, run_id"
)


def _version(row: dict[str, Any], aliases: list[str] | None = None) -> VersionRecord:
    data = dict(row)
    data["by_reference"] = bool(data.pop("reference"))
    data["schema"] = json.loads(data["schema"]) if data["schema"] else None
    return VersionRecord(**data, aliases=aliases or [])


# -- datasets ----------------------------------------------------------------------------------


def ensure_dataset(
    tx: Transaction, name: str, kind: str, description: str | None = None
) -> DatasetRecord:
    check_name(name)
    row = tx.one("SELECT name, kind, description, created_at FROM datasets WHERE name = ?", [name])
    if row is not None:
        if row["kind"] != kind:
            raise Conflict(
                f"Dataset {name!r} holds {row['kind']} versions; this is {kind}. Use another "
                "dataset name, or add data of the same kind."
            )
        return DatasetRecord(**row)
    record = DatasetRecord(name, kind, description, time.time())
    tx.execute(
        "INSERT INTO datasets (name, kind, description, created_at) VALUES (?, ?, ?, ?)",
        [record.name, record.kind, record.description, record.created_at],
    )
    return record


def dataset_exists(tx: Transaction, name: str) -> bool:
    return tx.scalar("SELECT name FROM datasets WHERE name = ?", [name]) is not None


def get_dataset(tx: Transaction, name: str) -> DatasetRecord:
    row = tx.one("SELECT name, kind, description, created_at FROM datasets WHERE name = ?", [name])
    if row is None:
        names = tx.scalars("SELECT name FROM datasets ORDER BY name")
        listed = ", ".join(names) or "none yet"
        raise NotFound(
            f"No dataset named {name!r}.{did_you_mean(name, names)} Datasets: {listed}. "
            "'gyre data add NAME PATH' registers one."
        )
    return DatasetRecord(**row)


def list_datasets(tx: Transaction) -> list[dict[str, Any]]:
    return tx.all(
        "SELECT d.name, d.kind, d.description, d.created_at, "
        "(SELECT max(version) FROM dataset_versions v WHERE v.dataset = d.name) AS latest, "
        "(SELECT count(*) FROM dataset_versions v WHERE v.dataset = d.name) AS versions "
        "FROM datasets d ORDER BY d.name"
    )


# -- versions ----------------------------------------------------------------------------------


def find_by_digest(tx: Transaction, name: str, digest: str) -> VersionRecord | None:
    row = tx.one(
        f"SELECT {_VERSION_COLUMNS} FROM dataset_versions WHERE dataset = ? AND digest = ?",
        [name, digest],
    )
    return _version(row) if row else None


def add_version(tx: Transaction, **values: Any) -> VersionRecord:
    """Insert the next version of ``values['dataset']``; values name the columns."""
    name = values["dataset"]
    latest = tx.scalar("SELECT max(version) FROM dataset_versions WHERE dataset = ?", [name])
    values = {
        **values,
        "version": (latest or 0) + 1,
        "created_at": time.time(),
        "schema": json.dumps(values["schema"]) if values.get("schema") is not None else None,
    }
    columns = [c.strip() for c in _VERSION_COLUMNS.split(",")]
    values["reference"] = bool(values.pop("by_reference", False))
    row = {c: values.get(c) for c in columns}
    marks = ", ".join("?" for _ in columns)
    tx.execute(
        f"INSERT INTO dataset_versions ({_VERSION_COLUMNS}) VALUES ({marks})", list(row.values())
    )
    return get_version(tx, name, row["version"])


def resolve(tx: Transaction, name: str, ref: int | str | None) -> int:
    """A version number for ``ref``: a number, an alias, ``latest`` or None (latest)."""
    get_dataset(tx, name)
    try:
        return version_refs.resolve(tx, version_refs.DATASETS, name, ref)
    except NotFound as exc:
        if ref is None or ref == "latest":
            raise NotFound(f"{exc} 'gyre data add {name} PATH' registers one.") from None
        raise


def get_version(tx: Transaction, name: str, ref: int | str | None = None) -> VersionRecord:
    number = resolve(tx, name, ref)
    row = tx.one(
        f"SELECT {_VERSION_COLUMNS} FROM dataset_versions WHERE dataset = ? AND version = ?",
        [name, number],
    )
    assert row is not None
    aliases = tx.scalars(
        "SELECT alias FROM dataset_aliases WHERE dataset = ? AND version = ? ORDER BY alias",
        [name, number],
    )
    return _version(row, aliases)


def versions(tx: Transaction, name: str) -> list[VersionRecord]:
    get_dataset(tx, name)
    aliases: dict[int, list[str]] = {}
    for alias, version in tx.tuples(
        "SELECT alias, version FROM dataset_aliases WHERE dataset = ? ORDER BY alias", [name]
    ):
        aliases.setdefault(version, []).append(alias)
    rows = tx.all(
        f"SELECT {_VERSION_COLUMNS} FROM dataset_versions WHERE dataset = ? ORDER BY version",
        [name],
    )
    return [_version(r, aliases.get(r["version"], [])) for r in rows]


def set_alias(tx: Transaction, name: str, alias: str, version: int) -> None:
    check_alias(alias, "baseline, balanced")
    resolve(tx, name, version)
    tx.execute(
        "INSERT INTO dataset_aliases (dataset, alias, version, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (dataset, alias) DO UPDATE SET version = excluded.version, "
        "updated_at = excluded.updated_at",
        [name, alias, version, time.time()],
    )


def describe_version(tx: Transaction, name: str, version: int, description: str) -> None:
    tx.execute(
        "UPDATE dataset_versions SET description = ? WHERE dataset = ? AND version = ?",
        [description, name, version],
    )


def delete_version(tx: Transaction, name: str, version: int, *, force: bool = False) -> None:
    users = tx.scalars(
        "SELECT DISTINCT run_id FROM run_datasets WHERE dataset = ? AND version = ? "
        "AND direction = 'read' ORDER BY run_id",
        [name, version],
    )
    if users and not force:
        shown = ", ".join(users[:5]) + (" ..." if len(users) > 5 else "")
        raise Conflict(
            f"{name}@{version} is used by run(s) {shown}; deleting it would break their lineage. "
            "Delete those runs first, or pass --force."
        )
    tx.execute("DELETE FROM dataset_aliases WHERE dataset = ? AND version = ?", [name, version])
    tx.execute("DELETE FROM dataset_versions WHERE dataset = ? AND version = ?", [name, version])


def referenced_digests(tx: Transaction) -> tuple[set[str], set[str]]:
    """(manifests naming further blobs, other blobs: tables, partitions, profiles)."""
    manifests = set(tx.scalars("SELECT digest FROM dataset_versions WHERE layout <> 'table'"))
    other = set(tx.scalars("SELECT digest FROM dataset_versions WHERE layout = 'table'"))
    other.update(tx.scalars("SELECT digest FROM dataset_partitions"))
    other.update(
        tx.scalars("SELECT profile_digest FROM dataset_versions WHERE profile_digest IS NOT NULL")
    )
    return manifests, other
