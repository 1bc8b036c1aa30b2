"""Release definitions (versioned) and releases (state machines) as rows."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from gyre.errors import Conflict, NotFound, did_you_mean
from gyre.store.database import Transaction

ACTIVE = ("running", "waiting")
ENDED = ("succeeded", "failed", "rolled_back", "rejected", "cancelled")


@dataclass(frozen=True)
class DefinitionRow:
    name: str
    version: int
    spec: dict[str, Any]
    source: str
    folder: str
    digest: str
    created_at: float
    created_by: str


@dataclass(frozen=True)
class ReleaseRow:
    id: int
    definition: str
    definition_version: int
    model: str
    version: int
    digest: str
    status: str
    stage: int
    phase: str
    step: int
    seq: int
    state: dict[str, Any]
    error: str | None
    created_at: float
    updated_at: float

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"


def _definition(row: dict[str, Any]) -> DefinitionRow:
    data = dict(row)
    data["spec"] = json.loads(data["spec"])
    return DefinitionRow(**data)


def _release(row: dict[str, Any]) -> ReleaseRow:
    data = dict(row)
    data["state"] = json.loads(data["state"] or "{}")
    return ReleaseRow(**data)


def add_definition(
    tx: Transaction,
    name: str,
    spec: dict[str, Any],
    source: str,
    folder: str,
    digest: str,
    created_by: str,
) -> tuple[DefinitionRow, bool]:
    """(the definition, whether it is new): applying the same text again adds no version."""
    latest = latest_definition(tx, name)
    if latest is not None and latest.digest == digest:
        return latest, False
    version = (latest.version if latest else 0) + 1
    tx.execute(
        "INSERT INTO release_definitions (name, version, spec, source, folder, digest, "
        "created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            name,
            version,
            json.dumps(spec, sort_keys=True),
            source,
            folder,
            digest,
            time.time(),
            created_by,
        ],
    )
    return get_definition(tx, name, version), True


def latest_definition(tx: Transaction, name: str) -> DefinitionRow | None:
    row = tx.one(
        "SELECT * FROM release_definitions WHERE name = ? ORDER BY version DESC LIMIT 1", [name]
    )
    return _definition(row) if row else None


def get_definition(tx: Transaction, name: str, version: int | None = None) -> DefinitionRow:
    found = (
        latest_definition(tx, name)
        if version is None
        else (
            _definition(row)
            if (
                row := tx.one(
                    "SELECT * FROM release_definitions WHERE name = ? AND version = ?",
                    [name, version],
                )
            )
            else None
        )
    )
    if found is None:
        names = tx.scalars("SELECT DISTINCT name FROM release_definitions ORDER BY name")
        have = f" Definitions: {', '.join(names)}." if names else " None is applied yet."
        raise NotFound(
            f"No release definition {name!r}{f' version {version}' if version else ''}."
            f"{did_you_mean(name, names)}{have} 'gyre release apply release.yaml' adds one."
        )
    return found


def first_applied_at(tx: Transaction, name: str) -> float:
    """When the definition's first version was applied."""
    return float(
        tx.scalar("SELECT MIN(created_at) FROM release_definitions WHERE name = ?", [name])
    )


def latest_definitions(tx: Transaction) -> list[DefinitionRow]:
    rows = tx.all(
        "SELECT d.* FROM release_definitions d JOIN (SELECT name, MAX(version) AS version "
        "FROM release_definitions GROUP BY name) latest "
        "ON d.name = latest.name AND d.version = latest.version ORDER BY d.name"
    )
    return [_definition(r) for r in rows]


def insert_release(
    tx: Transaction,
    definition: DefinitionRow,
    model: str,
    version: int,
    digest: str,
) -> tuple[ReleaseRow, bool]:
    """(the release, whether it is new): one release per definition and model version."""
    existing = tx.one(
        "SELECT * FROM releases WHERE definition = ? AND model = ? AND version = ?",
        [definition.name, model, version],
    )
    if existing is not None:
        return _release(existing), False
    now = time.time()
    new_id = tx.scalar(
        "INSERT INTO releases (definition, definition_version, model, version, digest, status, "
        "stage, phase, step, seq, state, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, 'running', 0, 'deploy', 0, 1, '{}', ?, ?) RETURNING id",
        [definition.name, definition.version, model, version, digest, now, now],
    )
    return get_release(tx, int(new_id)), True


def get_release(tx: Transaction, release_id: int) -> ReleaseRow:
    row = tx.one("SELECT * FROM releases WHERE id = ?", [release_id])
    if row is None:
        raise NotFound(f"No release with id {release_id}. 'gyre release list' shows the releases.")
    return _release(row)


def list_releases(
    tx: Transaction, *, definition: str | None = None, limit: int = 50
) -> list[ReleaseRow]:
    if definition:
        rows = tx.all(
            "SELECT * FROM releases WHERE definition = ? ORDER BY id DESC LIMIT ?",
            [definition, limit],
        )
    else:
        rows = tx.all("SELECT * FROM releases ORDER BY id DESC LIMIT ?", [limit])
    return [_release(r) for r in rows]


def active_on_endpoint_stage(tx: Transaction, definition: str, stage: int) -> list[ReleaseRow]:
    """Other releases of ``definition`` that are at or past ``stage`` and still active."""
    rows = tx.all(
        "SELECT * FROM releases WHERE definition = ? AND stage = ? AND status IN (?, ?)",
        [definition, stage, *ACTIVE],
    )
    return [_release(r) for r in rows]


def advance(
    tx: Transaction,
    release_id: int,
    seq: int,
    *,
    status: str,
    stage: int,
    phase: str,
    step: int,
    state: dict[str, Any],
    error: str | None = None,
) -> ReleaseRow:
    """Move the release from transition ``seq`` to ``seq + 1``; Conflict when another worker
    already did (the caller's transition is stale)."""
    changed = tx.execute(
        "UPDATE releases SET status = ?, stage = ?, phase = ?, step = ?, seq = seq + 1, "
        "state = ?, error = ?, updated_at = ? WHERE id = ? AND seq = ?",
        [
            status,
            stage,
            phase,
            step,
            json.dumps(state, sort_keys=True, default=str),
            error,
            time.time(),
            release_id,
            seq,
        ],
    )
    if not changed:
        raise Conflict(f"release {release_id} moved past transition {seq} meanwhile")
    return get_release(tx, release_id)
