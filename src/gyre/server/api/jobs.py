"""Jobs and events: the durable queue the agents work from."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from gyre import jobs
from gyre.server.access import Workspace, requires
from gyre.server.api.responses import ERRORS, JSON

router = APIRouter(tags=["jobs"], default_response_class=JSON, responses=ERRORS)
reader = [Depends(requires("reader"))]


@router.get("/jobs", dependencies=reader, summary="Jobs and events, newest first")
def list_jobs(
    store: Workspace,
    kind: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 50,
) -> list[dict[str, Any]]:
    return [j.__dict__ for j in jobs.list_jobs(store, kind=kind, limit=limit)]


@router.get("/events", dependencies=reader, summary="The same queue, as events")
def list_events(
    store: Workspace,
    kind: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 50,
) -> list[dict[str, Any]]:
    return [j.__dict__ for j in jobs.list_jobs(store, kind=kind, limit=limit)]


@router.get("/jobs/{job_id}", dependencies=reader, summary="One job")
def get_job(store: Workspace, job_id: Annotated[int, Path(ge=1, le=2**62)]) -> dict[str, Any]:
    return jobs.get(store, job_id).__dict__
