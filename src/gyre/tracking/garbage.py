"""``gyre gc``: delete blobs that nothing references any more.

Referenced: every artifact (step outputs and inputs, logged artifacts), every step log, the
files listed in directory manifests, and published pipeline snapshots. Blobs younger than the
grace period are kept too, since a running step may have written them and not yet committed
the metadata that references them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from gyre.errors import CorruptBlob
from gyre.pipelines.materializers import dir_manifest
from gyre.store import Store, published
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
    digests.update(manifests)
    for manifest in manifests:
        try:
            digests.update(d for d, _ in dir_manifest(store.blobs, manifest).values())
        except CorruptBlob:
            continue
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
