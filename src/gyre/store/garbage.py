"""``gyre gc``: delete blobs that nothing references any more.

Referenced: every artifact (step outputs and inputs, logged artifacts), every step log, the
files listed in directory manifests, published pipeline snapshots, model versions (and their
files), every dataset version (its manifest or table, its files, its profile) and append-only
partition. Blobs younger than the
grace period are kept too, since a running step may have written them and not yet committed
the metadata that references them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from gyre.store import Store, references
from gyre.store.blobs import LocalBlobStore

GRACE_S = 3600.0


@dataclass
class GcReport:
    removed: int
    kept: int
    bytes_freed: int
    dry_run: bool


def referenced(store: Store) -> set[str]:
    """Every blob a row names, and every blob the manifests among them list."""
    with store.read() as tx:
        holders = references.holders(tx)
    digests = {h.digest for h in holders}
    for manifest in {h.digest for h in holders if h.manifest}:
        digests.update(references.listed(store.blobs, manifest).values())
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
