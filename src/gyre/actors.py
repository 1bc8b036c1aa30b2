"""Who is acting: the identity that capabilities audit and check roles against.

On an embedded or direct workspace nobody is authenticated: whoever holds the database holds
the workspace, the actor is ``GYRE_USER`` (or the login name) at this host, and every role
check passes. The team server authenticates each request's token and runs the capability
inside :func:`acting_as`, so the same capability function audits the caller's name and
address and refuses what the caller's role does not allow. One place decides, every face
gets it.

Roles are ordered: each includes the ones before it.

- ``reader``: reads everything (runs, metrics, datasets, models, releases, the audit log).
- ``contributor``: also writes: logs runs, adds datasets, registers models, submits pipelines.
- ``approver``: also approves or rejects release stages and moves protected aliases.
- ``admin``: also manages users and tokens.

A user may hold a higher role on one resource only (``approver`` on ``model seer``): a grant.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from gyre.errors import Forbidden, InvalidParameter

ROLES = ("reader", "contributor", "approver", "admin")
PROTECTED_ALIASES = frozenset({"production"})
"""Aliases only an approver (of that model, or everywhere) may move through the server."""


def rank(role: str) -> int:
    try:
        return ROLES.index(role)
    except ValueError:
        raise InvalidParameter(
            f"Unknown role {role!r}; roles are {', '.join(ROLES)} (each includes the ones "
            "before it).",
            field="role",
        ) from None


@dataclass(frozen=True)
class Actor:
    """An authenticated caller: a user (a person or a service) acting through a token."""

    name: str
    role: str
    grants: Mapping[str, str] = field(default_factory=dict)
    """resource ("model seer", "release seer") -> a role held on it beyond ``role``."""
    origin: str = ""
    """Where the request came from (the client's address)."""
    token: str = ""
    """The public id of the token used (never its secret)."""

    def role_on(self, resource: str | None) -> str:
        granted = self.grants.get(resource, "reader") if resource else "reader"
        return max(self.role, granted, key=rank)

    def may(self, role: str, resource: str | None = None) -> bool:
        return rank(self.role_on(resource)) >= rank(role)

    @property
    def label(self) -> str:
        """How the audit log names this actor: ``alice via t_3f2a from 10.0.0.7``."""
        via = f" via {self.token}" if self.token else ""
        where = f" from {self.origin}" if self.origin else ""
        return f"{self.name}{via}{where}"


_acting: ContextVar[Actor | None] = ContextVar("gyre_acting", default=None)


def current() -> Actor | None:
    """The authenticated caller, or None when nobody is (an embedded or direct workspace)."""
    return _acting.get()


@contextmanager
def acting_as(actor: Actor | None) -> Iterator[None]:
    token = _acting.set(actor)
    try:
        yield
    finally:
        _acting.reset(token)


def user_name() -> str:
    """The acting user's name: the caller's, else ``GYRE_USER`` or the login name."""
    actor = current()
    if actor is not None:
        return actor.name
    return os.environ.get("GYRE_USER") or getpass.getuser()


def audit_label() -> str:
    """Who the audit log says acted: the caller with token and address, else user@host."""
    actor = current()
    if actor is not None:
        return actor.label
    return f"{user_name()}@{socket.gethostname()}"


def require(role: str, resource: str | None = None, *, doing: str) -> None:
    """Refuse ``doing`` unless the caller holds ``role`` (on ``resource`` or everywhere).

    Passes when nobody is authenticated (the workspace's own credentials are the authority).

    Raises:
        Forbidden: naming the caller, what they tried, the role it needs and who grants it.
    """
    actor = current()
    if actor is None or actor.may(role, resource):
        return
    where = f" on {resource}" if resource else ""
    raise Forbidden(
        f"{actor.name} (role {actor.role_on(resource)}) may not {doing}: it needs the role "
        f"{role}{where}. An admin can grant it: gyre user grant {actor.name} {role}"
        + (f" --on '{resource}'" if resource else "")
        + "."
    )
