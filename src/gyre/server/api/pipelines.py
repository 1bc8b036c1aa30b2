"""Published pipelines: list, versions, submit a run (queued for the agents)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from gyre.pipelines import submission
from gyre.server.access import Workspace, requires
from gyre.server.api.bodies import Body, Key, Labels, Values, Version
from gyre.server.api.responses import ERRORS, JSON

router = APIRouter(
    prefix="/pipelines", tags=["pipelines"], default_response_class=JSON, responses=ERRORS
)
reader = [Depends(requires("reader"))]
contributor = [Depends(requires("contributor"))]


class Submission(Body):
    version: Version | None = None
    params: Values = {}
    tags: Labels = {}
    idempotency_key: Key | None = None


@router.get("", dependencies=reader, summary="The newest version of every published pipeline")
def list_pipelines(store: Workspace) -> list[dict[str, Any]]:
    return [p.__dict__ for p in submission.newest_published(store)]


@router.get("/{name}/versions", dependencies=reader, summary="Every version with its files")
def pipeline_versions(store: Workspace, name: str) -> list[dict[str, Any]]:
    return [
        {**v.definition.__dict__, "files": v.files}
        for v in submission.published_versions(store, name)
    ]


@router.post(
    "/{name}/runs", dependencies=contributor, status_code=201, summary="Submit a run (queued)"
)
def submit(store: Workspace, name: str, body: Submission) -> dict[str, Any]:
    submitted = submission.submit(
        store,
        name,
        body.version,
        params=body.params,
        tags=body.tags,
        idempotency_key=body.idempotency_key,
    )
    return {
        "job_id": submitted.job_id,
        "run_id": submitted.run_id,
        "pipeline": submitted.pipeline.name,
        "version": submitted.pipeline.version,
        "queued": submitted.queued,
    }


@router.post("/runs/{run_id}/cancel", dependencies=contributor, summary="Cancel a run")
def cancel(store: Workspace, run_id: str) -> dict[str, Any]:
    return {"run_id": run_id, "status": submission.cancel_run(store, run_id)}
