"""Users, tokens and grants as rows (see migration 0012)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from gyre.errors import Conflict, NotFound, did_you_mean
from gyre.store.database import Transaction


@dataclass(frozen=True)
class UserRow:
    name: str
    kind: str
    role: str
    created_at: float
    created_by: str
    disabled_at: float | None


@dataclass(frozen=True)
class TokenRow:
    id: str
    user_name: str
    digest: str
    description: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None


@dataclass(frozen=True)
class GrantRow:
    user_name: str
    resource: str
    role: str
    granted_at: float
    granted_by: str


def count_users(tx: Transaction) -> int:
    return int(tx.scalar("SELECT COUNT(*) FROM users") or 0)


def add_user(tx: Transaction, name: str, kind: str, role: str, created_by: str) -> UserRow:
    if tx.one("SELECT name FROM users WHERE name = ?", [name]) is not None:
        raise Conflict(
            f"A user named {name!r} exists already; change its role with "
            f"'gyre user role {name} ROLE', or pick another name."
        )
    now = time.time()
    tx.execute(
        "INSERT INTO users (name, kind, role, created_at, created_by, disabled_at) "
        "VALUES (?, ?, ?, ?, ?, NULL)",
        [name, kind, role, now, created_by],
    )
    return UserRow(name, kind, role, now, created_by, None)


def get_user(tx: Transaction, name: str) -> UserRow:
    row = tx.one("SELECT * FROM users WHERE name = ?", [name])
    if row is None:
        names = tx.scalars("SELECT name FROM users")
        raise NotFound(
            f"No user named {name!r}.{did_you_mean(name, names)} 'gyre user list' shows them; "
            "'gyre user create NAME --role ROLE' adds one."
        )
    return UserRow(**row)


def users(tx: Transaction) -> list[UserRow]:
    return [UserRow(**r) for r in tx.all("SELECT * FROM users ORDER BY name")]


def set_role(tx: Transaction, name: str, role: str) -> None:
    get_user(tx, name)
    tx.execute("UPDATE users SET role = ? WHERE name = ?", [role, name])


def disable_user(tx: Transaction, name: str) -> None:
    get_user(tx, name)
    tx.execute(
        "UPDATE users SET disabled_at = ? WHERE name = ? AND disabled_at IS NULL",
        [time.time(), name],
    )


def add_token(
    tx: Transaction,
    token_id: str,
    user: str,
    digest: str,
    description: str,
    expires_at: float | None,
) -> TokenRow:
    now = time.time()
    tx.execute(
        "INSERT INTO tokens (id, user_name, digest, description, created_at, expires_at, "
        "revoked_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
        [token_id, user, digest, description, now, expires_at],
    )
    return TokenRow(token_id, user, digest, description, now, expires_at, None, None)


def get_token(tx: Transaction, token_id: str) -> TokenRow | None:
    row = tx.one("SELECT * FROM tokens WHERE id = ?", [token_id])
    return TokenRow(**row) if row is not None else None


def tokens(tx: Transaction, user: str | None = None) -> list[TokenRow]:
    if user is None:
        rows = tx.all("SELECT * FROM tokens ORDER BY created_at")
    else:
        rows = tx.all("SELECT * FROM tokens WHERE user_name = ? ORDER BY created_at", [user])
    return [TokenRow(**r) for r in rows]


def revoke_token(tx: Transaction, token_id: str) -> bool:
    """True when the token was live and is revoked now."""
    return (
        tx.execute(
            "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            [time.time(), token_id],
        )
        > 0
    )


def touch_token(tx: Transaction, token_id: str, at: float) -> None:
    tx.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", [at, token_id])


def grant(tx: Transaction, user: str, resource: str, role: str, granted_by: str) -> None:
    get_user(tx, user)
    tx.execute("DELETE FROM grants WHERE user_name = ? AND resource = ?", [user, resource])
    tx.execute(
        "INSERT INTO grants (user_name, resource, role, granted_at, granted_by) "
        "VALUES (?, ?, ?, ?, ?)",
        [user, resource, role, time.time(), granted_by],
    )


def revoke_grant(tx: Transaction, user: str, resource: str) -> bool:
    return (
        tx.execute("DELETE FROM grants WHERE user_name = ? AND resource = ?", [user, resource]) > 0
    )


def grants(tx: Transaction, user: str | None = None) -> list[GrantRow]:
    if user is None:
        rows = tx.all("SELECT * FROM grants ORDER BY user_name, resource")
    else:
        rows = tx.all("SELECT * FROM grants WHERE user_name = ? ORDER BY resource", [user])
    return [GrantRow(**r) for r in rows]
