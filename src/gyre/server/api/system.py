"""Health (no token needed) and who the caller is."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from gyre import actors
from gyre.server.access import Workspace, requires
from gyre.server.api.responses import ERRORS, JSON

router = APIRouter(tags=["system"], default_response_class=JSON, responses=ERRORS)


@router.get("/health", summary="Is the server up (no token needed)")
def health() -> dict[str, Any]:
    return {"status": "ok"}


@router.get("/whoami", summary="The caller: name, role, grants, token")
def whoami(actor: Annotated[actors.Actor | None, Depends(requires("reader"))]) -> dict[str, Any]:
    if actor is None:
        return {"name": actors.user_name(), "role": "admin", "grants": {}, "token": None}
    return {
        "name": actor.name,
        "role": actor.role,
        "grants": dict(actor.grants),
        "token": actor.token,
        "origin": actor.origin,
    }


@router.get("/damage", summary="What the last 'gyre fsck --repair' marked lost, per subject")
def damage(
    store: Workspace,
    subject: Annotated[list[str], Query(max_length=100)],
    actor: Annotated[actors.Actor | None, Depends(requires("reader"))],
) -> list[str]:
    from gyre.workspace.fsck import damage_of

    return damage_of(store, subject)
