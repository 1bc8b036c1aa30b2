"""Users, grants and tokens (admins; a user may list and make its own tokens)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field

from gyre import actors
from gyre.access import tokens, users
from gyre.server.access import Workspace, requires
from gyre.server.api.bodies import NO_NUL, Body, Duration
from gyre.server.api.responses import ERRORS, JSON

router = APIRouter(tags=["identity"], default_response_class=JSON, responses=ERRORS)
reader = [Depends(requires("reader"))]
admin = [Depends(requires("admin"))]

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$")]
RESOURCE = r"^(model|release|endpoint|dataset|pipeline|monitor) [A-Za-z0-9][A-Za-z0-9._-]{0,199}$"
Role = Annotated[str, Field(pattern="^(reader|contributor|approver|admin)$")]


class NewUser(Body):
    name: Name
    role: Role
    kind: Annotated[str, Field(pattern="^(person|service)$")] = "person"


class RoleChange(Body):
    role: Role


class NewGrant(Body):
    role: Role
    resource: Annotated[str, Field(pattern=RESOURCE)]


class NewToken(Body):
    user: Name | None = None
    description: Annotated[str, Field(max_length=300, pattern=NO_NUL)] = ""
    expires_in_s: Duration | None = None


def _public(row: Any) -> dict[str, Any]:
    shown = {k: v for k, v in row.__dict__.items() if k != "digest"}
    shown["active"] = row.revoked_at is None and (
        row.expires_at is None or row.expires_at > time.time()
    )
    return shown


@router.get("/users", dependencies=reader, summary="Every user and its role", tags=["users"])
def list_users(store: Workspace) -> list[dict[str, Any]]:
    granted = users.grants(store)
    return [
        {**u.__dict__, "grants": [g.__dict__ for g in granted if g.user_name == u.name]}
        for u in users.list_users(store)
    ]


@router.post("/users", dependencies=admin, status_code=201, summary="Add a user", tags=["users"])
def create_user(store: Workspace, body: NewUser) -> dict[str, Any]:
    return users.create(store, body.name, role=body.role, kind=body.kind).__dict__


@router.put("/users/{name}/role", dependencies=admin, summary="Change a role", tags=["users"])
def set_role(store: Workspace, name: str, body: RoleChange) -> dict[str, Any]:
    users.set_role(store, name, body.role)
    return users.get(store, name).__dict__


@router.post("/users/{name}/disable", dependencies=admin, summary="Disable", tags=["users"])
def disable(store: Workspace, name: str) -> dict[str, Any]:
    users.disable(store, name)
    return users.get(store, name).__dict__


@router.get("/users/{name}/grants", dependencies=reader, summary="Grants", tags=["users"])
def grants(store: Workspace, name: str) -> list[dict[str, Any]]:
    return [g.__dict__ for g in users.grants(store, name)]


@router.post(
    "/users/{name}/grants",
    dependencies=admin,
    status_code=201,
    tags=["users"],
    summary="Grant a role on one resource ('model seer')",
)
def grant(store: Workspace, name: str, body: NewGrant) -> dict[str, Any]:
    users.grant(store, name, body.role, body.resource)
    return {"user": name, "role": body.role, "resource": body.resource}


@router.get(
    "/tokens",
    dependencies=reader,
    summary="Tokens (admins: all; others: their own)",
    tags=["tokens"],
)
def list_tokens(store: Workspace) -> list[dict[str, Any]]:
    actor = actors.current()
    mine = None if actor is None or actor.may("admin") else actor.name
    return [_public(t) for t in tokens.list_tokens(store, mine)]


@router.post(
    "/tokens",
    dependencies=reader,
    status_code=201,
    tags=["tokens"],
    summary="Make a token (for yourself; admins: for anyone); shown once",
)
def create_token(store: Workspace, body: NewToken) -> dict[str, Any]:
    issued = tokens.create(
        store,
        body.user or actors.user_name(),
        description=body.description,
        expires_in_s=body.expires_in_s,
    )
    return {**_public(issued.row), "token": issued.secret}


@router.delete(
    "/tokens/{token_id}",
    dependencies=reader,
    tags=["tokens"],
    summary="Revoke a token (your own; admins: any)",
)
def revoke_token(store: Workspace, token_id: str) -> dict[str, Any]:
    return {"id": token_id, "revoked": tokens.revoke(store, token_id)}
