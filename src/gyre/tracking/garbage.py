"""``gyre gc``: delete blobs that nothing references any more.

Referenced: every artifact (step outputs and inputs, logged artifacts), every step log, the
files listed in directory manifests, published pipeline snapshots, model versions (and their
files), every dataset version (its manifest or table, its files, its profile) and append-only
partition. Blobs younger than the
grace period are kept too, since a running step may have written them and not yet committed
the metadata that references them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from gyre.errors import CorruptBlob
from gyre.store import Store, published
from gyre.store import datasets as dataset_rows
from gyre.store import models as model_rows
from gyre.store import runs as run_rows
from gyre.store.blobs import LocalBlobStore

GRACE_S = 3600.0


@dataclass
class GcReport:
    removed: int
    kept: int
    bytes_freed: int
    dry_run: bool


def referenced(store: Store) -> set[str]:
    with store.read() as conn:
        digests = run_rows.referenced_digests(conn)
        manifests = set(run_rows.artifact_manifests(conn))
        manifests.update(published.snapshot_digests(conn))
        dataset_manifests, dataset_blobs = dataset_rows.referenced_digests(conn)
        manifests.update(model_rows.digests(conn))
    digests.update(manifests, dataset_manifests, dataset_blobs)
    for manifest in manifests | dataset_manifests:
        try:
            listed = json.loads(store.blobs.read_bytes(manifest))
        except (CorruptBlob, ValueError):
            continue  # a missing blob: nothing further to keep
        if isinstance(listed, dict):
            digests.update(d for d, _ in listed.get("files", {}).values() if d)
            digests.update(p["digest"] for p in listed.get("partitions", []))
    return digests


def collect(store: Store, *, dry_run: bool = False, grace_s: float = GRACE_S) -> GcReport:
    keep = referenced(store)
    cutoff = time.time() - grace_s
    removed = kept = freed = 0
    for digest in list(store.blobs.digests()):
        if digest in keep:
            kept += 1
            continue
        size = 0
        if isinstance(store.blobs, LocalBlobStore):
            stat = store.blobs.path(digest).stat()
            if stat.st_mtime > cutoff:
                kept += 1
                continue
            size = stat.st_size
        removed += 1
        freed += size
        if not dry_run:
            store.blobs.delete(digest)
    return GcReport(removed, kept, freed, dry_run)
