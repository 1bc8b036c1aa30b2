"""The append-only audit log: who did what, from where, when."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from gyre.server.access import Workspace, requires
from gyre.server.api.responses import ERRORS, JSON
from gyre.workspace import audit_log

router = APIRouter(prefix="/audit", tags=["audit"], default_response_class=JSON, responses=ERRORS)


@router.get("", dependencies=[Depends(requires("reader"))], summary="Entries, newest first")
def entries(
    store: Workspace,
    subject: Annotated[str | None, Query(max_length=300)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[float | None, Query(ge=0, le=1e11, description="Unix time")] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 100,
) -> list[dict[str, Any]]:
    found = audit_log.entries(
        store, subject=subject, action=action, actor=actor, since=since, limit=limit
    )
    return [e.__dict__ for e in found]
