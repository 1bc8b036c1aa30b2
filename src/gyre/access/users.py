"""People and services (a CI job) who hold tokens, with a role each and grants on resources."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from gyre import actors
from gyre.errors import Conflict, InvalidParameter
from gyre.store import audit
from gyre.store import identity as rows
from gyre.store.identity import GrantRow as GrantRow
from gyre.store.identity import UserRow as UserRow
from gyre.store.names import NAME_PATTERN

if TYPE_CHECKING:
    from gyre.store import Store

KINDS = ("person", "service")
USER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$")
"""A user name: a login or an e-mail address (what an identity provider calls them)."""
RESOURCE_KINDS = ("model", "release", "endpoint", "dataset", "pipeline", "monitor")


def _check_resource(resource: str) -> str:
    kind, _, name = resource.partition(" ")
    if kind not in RESOURCE_KINDS or not NAME_PATTERN.match(name.strip()):
        raise InvalidParameter(
            f"Resource {resource!r} is not 'KIND NAME'; KIND is one of "
            f"{', '.join(RESOURCE_KINDS)} (e.g. 'model seer', 'release seer').",
            field="resource",
        )
    return f"{kind} {name.strip()}"


def create(store: Store, name: str, *, role: str, kind: str = "person") -> UserRow:
    """A new user; an admin's operation (anyone's on a workspace opened directly)."""
    if not USER_PATTERN.match(name):
        raise InvalidParameter(
            f"User name {name!r} is not allowed: use letters, digits, '.', '_', '-' and '@', "
            "starting with a letter or digit (e.g. alice or alice@example.com).",
            field="name",
        )
    actors.rank(role)
    if kind not in KINDS:
        raise InvalidParameter(
            f"User kind {kind!r} is unknown; use person or service (a CI job).", field="kind"
        )
    actors.require("admin", doing=f"create the user {name}")
    with store.write() as tx:
        user = rows.add_user(tx, name, kind, role, actors.user_name())
        audit.append(tx, audit.default_actor(), "user.create", f"user {name}", {"role": role})
    return user


def get(store: Store, name: str) -> UserRow:
    with store.read() as tx:
        return rows.get_user(tx, name)


def list_users(store: Store) -> list[UserRow]:
    with store.read() as tx:
        return rows.users(tx)


def _not_yourself(name: str, doing: str) -> None:
    """An admin does not lock itself out: another admin changes its role or disables it."""
    if actors.current() is not None and actors.user_name() == name:
        raise Conflict(f"You cannot {doing} yourself; another admin can.")


def _keep_an_admin(tx: Any, name: str, doing: str) -> None:
    """Refuse to leave the workspace without an enabled admin (nobody could make tokens)."""
    admins = [u.name for u in rows.users(tx) if u.role == "admin" and u.disabled_at is None]
    if admins == [name]:
        raise Conflict(
            f"{name} is the only enabled admin; {doing} would leave nobody to manage users. "
            "Make another admin first (gyre user create NAME --role admin)."
        )


def set_role(store: Store, name: str, role: str) -> None:
    actors.rank(role)
    actors.require("admin", doing=f"change the role of {name}")
    _not_yourself(name, "change the role of")
    with store.write() as tx:
        before = rows.get_user(tx, name).role
        if before == "admin" and role != "admin":
            _keep_an_admin(tx, name, f"making it {role}")
        rows.set_role(tx, name, role)
        audit.append(
            tx, audit.default_actor(), "user.role", f"user {name}", {"role": role, "was": before}
        )


def disable(store: Store, name: str) -> None:
    """The user's tokens stop authenticating at once; the user and its history stay."""
    actors.require("admin", doing=f"disable the user {name}")
    _not_yourself(name, "disable")
    with store.write() as tx:
        if rows.get_user(tx, name).role == "admin":
            _keep_an_admin(tx, name, "disabling it")
        rows.disable_user(tx, name)
        audit.append(tx, audit.default_actor(), "user.disable", f"user {name}")


def grant(store: Store, name: str, role: str, resource: str) -> None:
    """``name`` holds ``role`` on ``resource`` (``model seer``) beyond its own role."""
    actors.rank(role)
    resource = _check_resource(resource)
    actors.require("admin", doing=f"grant {role} on {resource} to {name}")
    with store.write() as tx:
        rows.grant(tx, name, resource, role, actors.user_name())
        audit.append(
            tx,
            audit.default_actor(),
            "user.grant",
            f"user {name}",
            {"role": role, "resource": resource},
        )


def revoke_grant(store: Store, name: str, resource: str) -> bool:
    resource = _check_resource(resource)
    actors.require("admin", doing=f"revoke {name}'s grant on {resource}")
    with store.write() as tx:
        removed = rows.revoke_grant(tx, name, resource)
        if removed:
            audit.append(
                tx, audit.default_actor(), "user.ungrant", f"user {name}", {"resource": resource}
            )
    return removed


def grants(store: Store, name: str | None = None) -> list[GrantRow]:
    with store.read() as tx:
        return rows.grants(tx, name)
