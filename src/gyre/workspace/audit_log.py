"""Reading the workspace's append-only audit log (``gyre audit``): who published, submitted,
cancelled or deleted what, moved which alias, added which datastore, repaired what."""

from __future__ import annotations

from gyre.store import Store, audit
from gyre.store.audit import Entry


def entries(
    store: Store, *, subject: str | None = None, action: str | None = None, limit: int = 100
) -> list[Entry]:
    """Newest first. ``subject`` matches a prefix (``model seer`` finds every version of it);
    ``action`` is exact (``model.alias``, ``run.delete``, ...)."""
    with store.read() as tx:
        return audit.entries(tx, subject=subject, action=action, limit=limit)
