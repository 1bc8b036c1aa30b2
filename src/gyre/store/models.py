"""Registered models: numbered versions, tags, aliases (with who/when history)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from gyre.errors import Conflict, NotFound, did_you_mean
from gyre.store import version_refs
from gyre.store.database import Transaction
from gyre.store.names import check_alias, check_name

_COLUMNS = (
    "name, version, digest, flavor, signature, metrics, run_id, pipeline_run_id, pipeline, "
    "git_commit, datasets, description, created_at, created_by"
)
_JSON = ("signature", "metrics", "datasets")


@dataclass(frozen=True)
class ModelVersionRecord:
    name: str
    version: int
    digest: str
    flavor: str
    signature: dict[str, Any] | None
    metrics: dict[str, Any] | None
    run_id: str | None
    pipeline_run_id: str | None
    pipeline: str | None
    git_commit: str | None
    datasets: list[str] | None
    description: str | None
    created_at: float
    created_by: str | None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def _record(tx: Transaction, row: dict[str, Any]) -> ModelVersionRecord:
    data = dict(row)
    for key in _JSON:
        data[key] = json.loads(data[key]) if data[key] else None
    tags = dict(
        tx.tuples(
            "SELECT key, value FROM model_tags WHERE name = ? AND version = ? ORDER BY key",
            [row["name"], row["version"]],
        )
    )
    aliases = tx.scalars(
        "SELECT alias FROM model_aliases WHERE name = ? AND version = ? ORDER BY alias",
        [row["name"], row["version"]],
    )
    return ModelVersionRecord(**data, tags=tags, aliases=aliases)


def find_by_digest(tx: Transaction, name: str, digest: str) -> ModelVersionRecord | None:
    row = tx.one(
        f"SELECT {_COLUMNS} FROM model_versions WHERE name = ? AND digest = ?", [name, digest]
    )
    return _record(tx, row) if row else None


def add_version(tx: Transaction, **values: Any) -> ModelVersionRecord:
    name = check_name(values["name"], "model")
    if tx.scalar("SELECT name FROM models WHERE name = ?", [name]) is None:
        tx.execute(
            "INSERT INTO models (name, description, created_at) VALUES (?, ?, ?)",
            [name, None, time.time()],
        )
    latest = tx.scalar("SELECT max(version) FROM model_versions WHERE name = ?", [name])
    row = {c.strip(): values.get(c.strip()) for c in _COLUMNS.split(",")}
    row.update(version=(latest or 0) + 1, created_at=time.time())
    for key in _JSON:
        row[key] = json.dumps(row[key], sort_keys=True) if row[key] is not None else None
    marks = ", ".join("?" for _ in row)
    tx.execute(f"INSERT INTO model_versions ({_COLUMNS}) VALUES ({marks})", list(row.values()))
    return get_version(tx, name, row["version"])


def set_tags(tx: Transaction, name: str, version: int, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        tx.execute(
            "DELETE FROM model_tags WHERE name = ? AND version = ? AND key = ?",
            [name, version, key],
        )
        tx.execute(
            "INSERT INTO model_tags (name, version, key, value) VALUES (?, ?, ?, ?)",
            [name, version, key, str(value)],
        )


def resolve(tx: Transaction, name: str, ref: int | str | None) -> int:
    if tx.scalar("SELECT name FROM models WHERE name = ?", [name]) is None:
        names = tx.scalars("SELECT name FROM models ORDER BY name")
        raise NotFound(
            f"No model named {name!r}.{did_you_mean(name, names)} Models: "
            f"{', '.join(names) or 'none yet'}. gyre.register_model(...) adds one."
        )
    return version_refs.resolve(tx, version_refs.MODELS, name, ref)


def exists(tx: Transaction, name: str) -> bool:
    """Whether a model of this name was ever registered."""
    return tx.scalar("SELECT name FROM models WHERE name = ?", [name]) is not None


def get_version(tx: Transaction, name: str, ref: int | str | None = None) -> ModelVersionRecord:
    number = resolve(tx, name, ref)
    row = tx.one(
        f"SELECT {_COLUMNS} FROM model_versions WHERE name = ? AND version = ?", [name, number]
    )
    assert row is not None
    return _record(tx, row)


def versions(tx: Transaction, name: str) -> list[ModelVersionRecord]:
    resolve(tx, name, "latest")
    rows = tx.all(f"SELECT {_COLUMNS} FROM model_versions WHERE name = ? ORDER BY version", [name])
    return [_record(tx, r) for r in rows]


def list_models(tx: Transaction) -> list[dict[str, Any]]:
    return tx.all(
        "SELECT m.name, m.created_at, "
        "(SELECT max(version) FROM model_versions v WHERE v.name = m.name) AS latest, "
        "(SELECT count(*) FROM model_versions v WHERE v.name = m.name) AS versions "
        "FROM models m ORDER BY m.name"
    )


def set_alias(tx: Transaction, name: str, alias: str, version: int, who: str | None) -> int | None:
    """Point ``alias`` at ``version``; returns the version it pointed at before (or None)."""
    check_alias(alias, "production, staging")
    resolve(tx, name, version)
    # Two moves at once: on PostgreSQL the second waits on the model's row lock, then reads
    # the first's version as its previous one (SQLite's write lock serializes them already).
    # The model's row, not the alias's: an alias set for the first time has no row to lock.
    if tx.dialect == "postgresql":
        tx.execute("SELECT name FROM models WHERE name = ? FOR UPDATE", [name])
    previous = tx.scalar(
        "SELECT version FROM model_aliases WHERE name = ? AND alias = ?", [name, alias]
    )
    now = time.time()
    tx.execute(
        "INSERT INTO model_aliases (name, alias, version, updated_at, updated_by) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name, alias) DO UPDATE SET "
        "version = excluded.version, updated_at = excluded.updated_at, "
        "updated_by = excluded.updated_by",
        [name, alias, version, now, who],
    )
    tx.execute(
        "INSERT INTO model_alias_history (name, alias, version, previous, changed_by, changed_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [name, alias, version, previous, who, now],
    )
    return int(previous) if previous is not None else None


def remove_alias(tx: Transaction, name: str, alias: str, who: str | None) -> None:
    previous = tx.scalar(
        "SELECT version FROM model_aliases WHERE name = ? AND alias = ?", [name, alias]
    )
    if previous is None:
        raise NotFound(f"Model {name!r} has no alias {alias!r}.")
    tx.execute("DELETE FROM model_aliases WHERE name = ? AND alias = ?", [name, alias])
    tx.execute(
        "INSERT INTO model_alias_history (name, alias, version, previous, changed_by, changed_at) "
        "VALUES (?, ?, NULL, ?, ?, ?)",
        [name, alias, previous, who, time.time()],
    )


def alias_history(tx: Transaction, name: str) -> list[dict[str, Any]]:
    resolve(tx, name, "latest")
    return tx.all(
        "SELECT alias, version, previous, changed_by, changed_at FROM model_alias_history "
        "WHERE name = ? ORDER BY changed_at, id",
        [name],
    )


def delete_version(tx: Transaction, name: str, version: int) -> None:
    aliases = tx.scalars(
        "SELECT alias FROM model_aliases WHERE name = ? AND version = ? ORDER BY alias",
        [name, version],
    )
    if aliases:
        raise Conflict(
            f"{name}@{version} is what {', '.join(f'{name}@{a}' for a in aliases)} points at; "
            f"move the alias first (gyre model alias {name} {aliases[0]} VERSION)."
        )
    tx.execute("DELETE FROM model_tags WHERE name = ? AND version = ?", [name, version])
    tx.execute("DELETE FROM run_models WHERE name = ? AND version = ?", [name, version])
    tx.execute("DELETE FROM model_versions WHERE name = ? AND version = ?", [name, version])


def record_registration(tx: Transaction, run_id: str, name: str, version: int) -> None:
    tx.execute(
        "DELETE FROM run_models WHERE run_id = ? AND name = ? AND version = ?",
        [run_id, name, version],
    )
    tx.execute(
        "INSERT INTO run_models (run_id, name, version) VALUES (?, ?, ?)", [run_id, name, version]
    )


def registered_by(tx: Transaction, run_id: str) -> list[tuple[str, int]]:
    return [
        (n, int(v))
        for n, v in tx.tuples("SELECT name, version FROM run_models WHERE run_id = ?", [run_id])
    ]


def digests(tx: Transaction) -> set[str]:
    return set(tx.scalars("SELECT digest FROM model_versions"))
