"""Who holds which blob, and which rows point at rows that are gone (for ``gyre fsck``).

A *holder* is a database row that names a blob: a run's artifact or log, a dataset version's
manifest, table or profile, an append-only partition, a model version's manifest, a published
pipeline's snapshot. Manifests name further blobs; :mod:`gyre.workspace` reads them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from gyre.errors import CorruptBlob
from gyre.store.blobs import BlobStore
from gyre.store.database import Transaction


@dataclass(frozen=True)
class Holder:
    digest: str
    subject: str  # "run 3840fb5c682a0b84", "dataset products@3", "model seer@2", ...
    what: str  # "artifact fit/output", "manifest", "log", ...
    manifest: bool  # the blob lists further blobs ({"files": ...} or {"partitions": ...})
    run_ids: tuple[str, ...] = ()  # the runs it affects (a step run and its pipeline run)


def holders(tx: Transaction) -> list[Holder]:
    found: list[Holder] = []
    for row in tx.all(
        "SELECT a.run_id, a.name, a.digest, a.materializer, r.parent_id, r.name AS step "
        "FROM artifacts a LEFT JOIN runs r ON r.id = a.run_id"
    ):
        runs = tuple(r for r in (row["run_id"], row["parent_id"]) if r)
        found.append(
            Holder(
                row["digest"],
                f"run {row['run_id']}",
                f"artifact {row['step'] or '?'}/{row['name']}",
                row["materializer"] == "dir",
                runs,
            )
        )
    for row in tx.all(
        "SELECT r.id, r.name, r.log_digest, r.parent_id FROM runs r WHERE r.log_digest IS NOT NULL"
    ):
        runs = tuple(r for r in (row["id"], row["parent_id"]) if r)
        log = Holder(row["log_digest"], f"run {row['id']}", f"log of {row['name']}", False, runs)
        found.append(log)
    for row in tx.all(
        "SELECT dataset, version, digest, layout, profile_digest, run_id FROM dataset_versions"
    ):
        subject = f"dataset {row['dataset']}@{row['version']}"
        runs = (row["run_id"],) if row["run_id"] else ()
        table = row["layout"] == "table"
        what = "table" if table else "manifest"
        found.append(Holder(row["digest"], subject, what, not table, runs))
        if row["profile_digest"]:
            found.append(Holder(row["profile_digest"], subject, "profile", False))
    for row in tx.all("SELECT dataset, partition_key, digest FROM dataset_partitions"):
        subject = f"dataset {row['dataset']}"
        found.append(Holder(row["digest"], subject, f"partition {row['partition_key']}", False))
    for row in tx.all("SELECT name, version, digest, run_id, pipeline_run_id FROM model_versions"):
        runs = tuple(r for r in (row["run_id"], row["pipeline_run_id"]) if r)
        found.append(
            Holder(row["digest"], f"model {row['name']}@{row['version']}", "manifest", True, runs)
        )
    for row in tx.all("SELECT name, version, snapshot_digest FROM pipelines"):
        found.append(
            Holder(
                row["snapshot_digest"],
                f"pipeline {row['name']}@{row['version']}",
                "snapshot",
                True,
            )
        )
    return found


def listed(blobs: BlobStore, manifest: str) -> dict[str, str]:
    """name -> digest of the blobs a manifest lists: a folder's files, an append-only
    dataset's partitions; none for a reference dataset (its files stay in the datastore) or
    a manifest that is missing or corrupt."""
    try:
        body = json.loads(blobs.read_bytes(manifest))
    except (CorruptBlob, ValueError):
        return {}
    found: dict[str, str] = {}
    if isinstance(body, dict):
        for rel, entry in (body.get("files") or {}).items():
            if entry and entry[0]:
                found[rel] = entry[0]
        for part in body.get("partitions") or []:
            found[f"partition {part.get('key', part['digest'][:12])}"] = part["digest"]
    return found


@dataclass(frozen=True)
class DanglingRows:
    table: str
    points_at: str
    count: int
    examples: tuple[str, ...]
    fix: str


# (table, what it points at, the query for the rows pointing at nothing, the fix)
_DANGLING: tuple[tuple[str, str, str, str], ...] = (
    (
        "runs",
        "a parent run that is gone",
        "SELECT c.id FROM runs c WHERE c.parent_id IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM runs p WHERE p.id = c.parent_id)",
        "delete the step runs with 'gyre runs delete ID' (their pipeline run was deleted)",
    ),
    (
        "runs",
        "the run it reused outputs from, which is gone",
        "SELECT c.id FROM runs c WHERE c.reused_from IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM runs p WHERE p.id = c.reused_from)",
        "nothing to do for the run itself; its outputs are its own artifact rows",
    ),
    (
        "artifacts",
        "a run that is gone",
        "SELECT a.run_id || '/' || a.name FROM artifacts a WHERE NOT EXISTS "
        "(SELECT 1 FROM runs r WHERE r.id = a.run_id)",
        "these rows are left over from a deleted run; 'gyre runs delete ID' removes them",
    ),
    (
        "metrics",
        "a run that is gone",
        "SELECT DISTINCT m.run_id FROM metrics m WHERE NOT EXISTS "
        "(SELECT 1 FROM runs r WHERE r.id = m.run_id)",
        "these rows are left over from a deleted run; 'gyre runs delete ID' removes them",
    ),
    (
        "dataset_aliases",
        "a dataset version that is gone",
        "SELECT a.dataset || ':' || a.alias FROM dataset_aliases a WHERE NOT EXISTS "
        "(SELECT 1 FROM dataset_versions v WHERE v.dataset = a.dataset "
        "AND v.version = a.version)",
        "point the alias at an existing version ('gyre data alias NAME@N ALIAS')",
    ),
    (
        "model_aliases",
        "a model version that is gone",
        "SELECT a.name || ':' || a.alias FROM model_aliases a WHERE NOT EXISTS "
        "(SELECT 1 FROM model_versions v WHERE v.name = a.name AND v.version = a.version)",
        "point the alias at an existing version ('gyre model alias NAME ALIAS N')",
    ),
    (
        "run_datasets",
        "a dataset version that is gone",
        "SELECT d.run_id || ' ' || d.dataset || '@' || d.version FROM run_datasets d "
        "WHERE NOT EXISTS (SELECT 1 FROM dataset_versions v WHERE v.dataset = d.dataset "
        "AND v.version = d.version)",
        "the lineage of these runs names data that no longer exists; nothing can restore it",
    ),
    (
        "model_versions",
        "the run that trained it, which is gone",
        "SELECT v.name || '@' || v.version FROM model_versions v WHERE v.run_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = v.run_id)",
        "the version's lineage names a deleted run; keep runs that registered models",
    ),
)


def dangling(tx: Transaction, *, examples: int = 5) -> list[DanglingRows]:
    """Rows that point at rows that no longer exist (a crash mid-delete, a manual edit)."""
    found = []
    for table, points_at, query, fix in _DANGLING:
        ids = [str(value) for value in tx.scalars(query)]
        if ids:
            found.append(
                DanglingRows(table, points_at, len(ids), tuple(sorted(ids)[:examples]), fix)
            )
    return found
