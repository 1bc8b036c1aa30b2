"""Tokens: how a person or a CI job proves who it is to the team server.

A token reads ``gyre_t_3f2a9c1e0b_<43 random characters>``. Its first part is the public id
(``t_3f2a9c1e0b``, named in the audit log and by ``gyre token revoke``); only the SHA-256 of
the random part is stored, so the token is shown once, when it is made, and never again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from gyre import actors
from gyre.errors import Forbidden, NotFound, Unauthenticated
from gyre.store import audit
from gyre.store import identity as rows
from gyre.store.identity import TokenRow as TokenRow

if TYPE_CHECKING:
    from gyre.store import Store

PREFIX = "gyre_"
ID_LENGTH = 12  # "t_" + 10 hex characters
TOUCH_EVERY_S = 60.0
BOOTSTRAP_ADMIN = "admin"
REMEMBER_S = 1.0
REMEMBER_MAX = 10_000


@dataclass(frozen=True)
class IssuedToken:
    """A token just made: ``secret`` is the whole token, shown this once."""

    row: TokenRow
    secret: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(
    store: Store,
    user: str,
    *,
    description: str = "",
    expires_in_s: float | None = None,
) -> IssuedToken:
    """A new token for ``user``: an admin may make one for anyone, a user for itself."""
    if user != actors.user_name():
        actors.require("admin", doing=f"create a token for {user}")
    token_id = "t_" + secrets.token_hex(5)
    secret = secrets.token_urlsafe(32)
    expires_at = time.time() + expires_in_s if expires_in_s else None
    with store.write() as tx:
        owner = rows.get_user(tx, user)
        if owner.disabled_at is not None:
            raise Forbidden(f"User {user} is disabled; it cannot be given a token.")
        row = rows.add_token(tx, token_id, user, _digest(secret), description, expires_at)
        audit.append(
            tx,
            audit.default_actor(),
            "token.create",
            f"user {user}",
            {"token": token_id, "expires_at": expires_at, "description": description},
        )
    return IssuedToken(row, f"{PREFIX}{token_id}_{secret}")


def bootstrap_admin(store: Store, *, description: str = "first admin token") -> IssuedToken | None:
    """The first admin's token when the workspace has no users yet, else None.

    ``gyre server`` calls this when it first starts on a workspace; ``gyre token create
    --admin`` on the workspace directly makes one at any time."""
    with store.write() as tx:
        if rows.count_users(tx) > 0:
            return None
        rows.add_user(tx, BOOTSTRAP_ADMIN, "person", "admin", actors.user_name())
        audit.append(
            tx, audit.default_actor(), "user.create", f"user {BOOTSTRAP_ADMIN}", {"role": "admin"}
        )
    return create(store, BOOTSTRAP_ADMIN, description=description)


def admin_token(store: Store, *, description: str = "admin token") -> IssuedToken:
    """An admin token made on the workspace directly (its database credentials are the
    authority): the bootstrap admin is created when missing."""
    actors.require("admin", doing="create an admin token")
    issued = bootstrap_admin(store, description=description)
    if issued is not None:
        return issued
    with store.read() as tx:
        admins = [u for u in rows.users(tx) if u.role == "admin" and u.disabled_at is None]
    if not admins:
        raise NotFound(
            "The workspace has users but no enabled admin; make one with "
            "'gyre user create NAME --role admin' on the workspace directly."
        )
    name = next((u.name for u in admins if u.name == BOOTSTRAP_ADMIN), admins[0].name)
    return create(store, name, description=description)


def list_tokens(store: Store, user: str | None = None) -> list[TokenRow]:
    with store.read() as tx:
        return rows.tokens(tx, user)


def revoke(store: Store, token_id: str) -> bool:
    """Revoke a token at once (an admin's, or its owner's); False if it was revoked already."""
    with store.write() as tx:
        row = rows.get_token(tx, token_id)
        if row is None:
            raise NotFound(f"No token {token_id!r}; 'gyre token list' shows them.")
        if row.user_name != actors.user_name():
            actors.require("admin", doing=f"revoke {row.user_name}'s token {token_id}")
        revoked = rows.revoke_token(tx, token_id)
        if revoked:
            audit.append(
                tx,
                audit.default_actor(),
                "token.revoke",
                f"user {row.user_name}",
                {"token": token_id},
            )
    return revoked


class Authenticator:
    """Turns a presented token into an :class:`~gyre.actors.Actor`.

    A token checked in the last ``REMEMBER_S`` is taken as it was (no database read): a
    revocation, an expiry, a disabled user or a changed role takes effect within that second
    in every server process, and at once in the process that made the change. ``last_used_at``
    is written at most once a minute per token per process, so reading a page costs no write."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._touched: dict[str, float] = {}
        self._remembered: dict[str, tuple[float, float | None, actors.Actor]] = {}

    def remembered(self, presented: str | None, origin: str = "") -> actors.Actor | None:
        """The actor of a token checked less than ``REMEMBER_S`` ago, else None."""
        if not presented:
            return None
        kept = self._remembered.get(presented)
        if kept is None:
            return None
        checked_at, expires_at, actor = kept
        now = time.monotonic()
        if now - checked_at > REMEMBER_S or (expires_at is not None and expires_at <= time.time()):
            self._remembered.pop(presented, None)
            return None
        return actor if actor.origin == origin else replace(actor, origin=origin)

    def forget(self) -> None:
        """Check every token against the database again (after a revocation or role change)."""
        self._remembered.clear()

    def authenticate(self, presented: str | None, origin: str = "") -> actors.Actor:
        """Raises:
        Unauthenticated: no token, a malformed or unknown one, expired, revoked, or its user
            disabled; the message says which and what to do, never echoing the secret."""
        if not presented:
            raise Unauthenticated(
                "This server needs a token: send 'Authorization: Bearer <token>' (the CLI and "
                "SDK send GYRE_TOKEN, or what 'gyre login' saved). An admin makes one with "
                "'gyre token create USER'."
            )
        token_id, secret = _split(presented)
        now = time.time()
        with self.store.read() as tx:
            row = rows.get_token(tx, token_id)
            user = rows.get_user(tx, row.user_name) if row is not None else None
            granted = rows.grants(tx, row.user_name) if row is not None else []
        if row is None or user is None or not hmac.compare_digest(row.digest, _digest(secret)):
            raise Unauthenticated("The token is not valid for this workspace; get a new one.")
        if row.revoked_at is not None:
            raise Unauthenticated(f"Token {token_id} was revoked; ask an admin for a new one.")
        if row.expires_at is not None and row.expires_at <= now:
            raise Unauthenticated(f"Token {token_id} has expired; ask an admin for a new one.")
        if user.disabled_at is not None:
            raise Unauthenticated(f"User {user.name} is disabled; its tokens are refused.")
        if now - self._touched.get(token_id, 0.0) > TOUCH_EVERY_S:
            self._touched[token_id] = now
            with self.store.write() as tx:
                rows.touch_token(tx, token_id, now)
        actor = actors.Actor(
            name=user.name,
            role=user.role,
            grants={g.resource: g.role for g in granted},
            origin=origin,
            token=token_id,
        )
        if len(self._remembered) > REMEMBER_MAX:
            self._remembered.clear()
        self._remembered[presented] = (time.monotonic(), row.expires_at, actor)
        return actor


def _split(presented: str) -> tuple[str, str]:
    start = len(PREFIX)
    if (
        not presented.startswith(PREFIX + "t_")
        or len(presented) < start + ID_LENGTH + 2
        or presented[start + ID_LENGTH] != "_"
    ):
        raise Unauthenticated(
            "The token is malformed: a gyre token reads gyre_t_<id>_<secret>. Copy it whole, "
            "as 'gyre token create' printed it."
        )
    return presented[start : start + ID_LENGTH], presented[start + ID_LENGTH + 1 :]
