"""Reading the workspace's append-only audit log (``gyre audit``): who published, submitted,
cancelled or deleted what, moved which alias, added which datastore, repaired what."""

from __future__ import annotations

from typing import Any

from gyre.store import Store, audit
from gyre.store.audit import Entry as Entry


def entries(
    store: Store,
    *,
    subject: str | None = None,
    action: str | None = None,
    since: float | None = None,
    actor: str | None = None,
    limit: int = 100,
) -> list[Entry]:
    """Newest first. ``subject`` matches a prefix (``model seer`` finds every version of it);
    ``action`` is exact (``model.alias``, ``run.delete``, ...); ``since`` a Unix time;
    ``actor`` a prefix of who acted (a user name)."""
    with store.read() as tx:
        return audit.entries(
            tx, subject=subject, action=action, since=since, actor=actor, limit=limit
        )


def record(store: Store, action: str, subject: str, detail: dict[str, Any] | None = None) -> None:
    """Append one entry as the acting caller (the server audits refused requests this way)."""
    with store.write() as tx:
        audit.append(tx, audit.default_actor(), action, subject, detail)
