"""The audit log: who did what to which object, when. Append-only: there is no function to
change or remove an entry, and the database refuses to (migration 0008)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from gyre.store.database import Transaction


def default_actor() -> str:
    """Who is acting when nobody says: the server's authenticated caller (with token and
    address), else the user name and the host."""
    from gyre import actors

    return actors.audit_label()


@dataclass(frozen=True)
class Entry:
    id: int
    at: float
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]


def append(
    tx: Transaction, actor: str, action: str, subject: str, detail: dict[str, Any] | None = None
) -> None:
    tx.execute(
        "INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
        [
            time.time(),
            actor,
            action,
            subject,
            json.dumps(detail or {}, sort_keys=True, default=str),
        ],
    )


def entries(
    tx: Transaction,
    *,
    subject: str | None = None,
    action: str | None = None,
    since: float | None = None,
    actor: str | None = None,
    limit: int = 100,
) -> list[Entry]:
    """Newest first; ``subject`` matches a prefix (``model seer`` finds every version)."""
    where: list[str] = []
    params: list[Any] = []
    if subject:
        where.append("subject LIKE ? ESCAPE '\\'")
        params.append(subject.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    if action:
        where.append("action = ?")
        params.append(action)
    if since is not None:
        where.append("at >= ?")
        params.append(since)
    if actor:
        where.append("actor LIKE ? ESCAPE '\\'")
        params.append(actor.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    rows = tx.all(
        f"SELECT id, at, actor, action, subject, detail FROM audit {clause}"
        "ORDER BY at DESC, id DESC LIMIT ?",
        [*params, limit],
    )
    return [
        Entry(
            r["id"], r["at"], r["actor"], r["action"], r["subject"], json.loads(r["detail"] or "{}")
        )
        for r in rows
    ]
