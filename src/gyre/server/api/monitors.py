"""Drift monitors: list, show with recent windows."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from gyre.monitoring import monitors
from gyre.server.access import Workspace, requires
from gyre.server.api.responses import ERRORS, JSON

router = APIRouter(
    prefix="/monitors", tags=["monitors"], default_response_class=JSON, responses=ERRORS
)
reader = [Depends(requires("reader"))]


@router.get("", dependencies=reader, summary="Every monitor")
def list_monitors(store: Workspace) -> list[dict[str, Any]]:
    return [m.__dict__ for m in monitors.list_monitors(store)]


@router.get("/{name}", dependencies=reader, summary="A monitor and its windows")
def show(
    store: Workspace,
    name: str,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 48,
) -> dict[str, Any]:
    monitor = monitors.get(store, name)
    found = monitors.windows(store, name, limit=limit)
    return {**monitor.__dict__, "windows": [w.__dict__ for w in found]}
