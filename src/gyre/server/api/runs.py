"""Runs: list and filter, show, create and record (params, metrics, tags, artifacts), end,
delete; metric histories, logs and artifact files."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import Field
from starlette.background import BackgroundTask

from gyre.server.access import Workspace, requires
from gyre.server.api.bodies import Body, Key, Labels, Metric, Step, Text, Time, Values
from gyre.server.api.responses import ERRORS, JSON
from gyre.server.api.spooling import spooled_body
from gyre.server.archives import unpack_folder
from gyre.tracking import recording, run_details, run_query
from gyre.tracking.liveness import effective_status

router = APIRouter(prefix="/runs", tags=["runs"], default_response_class=JSON, responses=ERRORS)
reader = [Depends(requires("reader"))]
contributor = [Depends(requires("contributor"))]


class NewRun(Body):
    experiment: Key = "default"
    name: Key | None = None
    tags: Labels = {}
    started_at: Time | None = None


class MetricPoint(Body):
    key: Key
    value: Metric = Field(description='A number, or "NaN", "Infinity", "-Infinity"')
    step: Step | None = None
    timestamp: Time | None = None


class MetricBatch(Body):
    points: Annotated[list[MetricPoint], Field(max_length=recording.MAX_POINTS_PER_CALL)]


class Params(Body):
    params: Values


class Tags(Body):
    tags: Labels


class EndRun(Body):
    status: Literal["finished", "failed", "cancelled"] = "finished"
    error: Text | None = None


def _row(row: run_query.RunRow) -> dict[str, Any]:
    return {
        **row.record.__dict__,
        "status": effective_status(row.record),
        "params": row.params,
        "tags": row.tags,
        "metrics": row.metrics,
    }


@router.get("", dependencies=reader, summary="Runs, newest first, filtered and ordered")
def list_runs(
    store: Workspace,
    experiment: Annotated[str | None, Query(max_length=250)] = None,
    filter: Annotated[
        str | None, Query(max_length=2000, description='e.g. "metrics.acc > 0.9"')
    ] = None,
    order_by: Annotated[str | None, Query(max_length=250)] = None,
    steps: bool = False,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 50,
) -> list[dict[str, Any]]:
    rows = run_query.find_runs(
        store,
        filter_text=filter,
        order_by=order_by,
        experiment=experiment,
        limit=limit,
        kinds=("step",) if steps else ("pipeline", "run"),
    )
    return [_row(r) for r in rows]


@router.post("", dependencies=contributor, status_code=201, summary="Start a tracked run")
def create_run(store: Workspace, body: NewRun) -> dict[str, Any]:
    record = recording.create_run(
        store,
        experiment=body.experiment,
        name=body.name,
        tags=body.tags,
        started_at=body.started_at,
    )
    return record.__dict__


@router.get("/{run_id}", dependencies=reader, summary="A run with params, tags, metrics, steps")
def show_run(store: Workspace, run_id: str) -> dict[str, Any]:
    return run_details.run_detail(store, run_id)


@router.delete("/{run_id}", dependencies=contributor, summary="Delete a run and its records")
def delete_run(store: Workspace, run_id: str) -> dict[str, Any]:
    return {"deleted": run_details.delete_runs(store, [run_id])}


@router.post("/{run_id}/metrics", dependencies=contributor, summary="Append metric points")
def log_metrics(store: Workspace, run_id: str, body: MetricBatch) -> dict[str, Any]:
    points = [recording.Point(p.key, float(p.value), p.step, p.timestamp) for p in body.points]
    return {"written": recording.log_points(store, run_id, points)}


@router.post("/{run_id}/params", dependencies=contributor, summary="Set params (immutable)")
def log_params(store: Workspace, run_id: str, body: Params) -> dict[str, Any]:
    recording.log_params(store, run_id, body.params)
    return {"ok": True}


@router.post("/{run_id}/tags", dependencies=contributor, summary="Set tags")
def set_tags(store: Workspace, run_id: str, body: Tags) -> dict[str, Any]:
    recording.set_tags(store, run_id, body.tags)
    return {"ok": True}


@router.post("/{run_id}/end", dependencies=contributor, summary="End a run")
def end_run(store: Workspace, run_id: str, body: EndRun) -> dict[str, Any]:
    return recording.end_run(store, run_id, body.status, error=body.error).__dict__


@router.get("/{run_id}/metrics", dependencies=reader, summary="Metric histories")
def metric_histories(
    store: Workspace,
    run_id: str,
    key: Annotated[str | None, Query(max_length=250)] = None,
    step: Annotated[str | None, Query(max_length=250)] = None,
) -> dict[str, list[dict[str, Any]]]:
    histories = run_details.metric_histories(store, run_id, key, step)
    return {
        k: [{"step": s, "value": v, "timestamp": t} for s, v, t in h] for k, h in histories.items()
    }


@router.get("/{run_id}/logs", dependencies=reader, summary="Step logs")
def logs(
    store: Workspace, run_id: str, step: Annotated[str | None, Query(max_length=250)] = None
) -> list[dict[str, Any]]:
    return [entry.__dict__ for entry in run_details.logs(store, run_id, step)]


@router.get("/{run_id}/artifacts", dependencies=reader, summary="A run's artifacts")
def artifacts(store: Workspace, run_id: str) -> list[dict[str, Any]]:
    return run_details.artifacts(store, run_id)


@router.get(
    "/{run_id}/artifacts/{name:path}",
    dependencies=reader,
    summary="An artifact's bytes (a file; a folder as a .tar)",
    response_class=FileResponse,
)
def download_artifact(store: Workspace, run_id: str, name: str) -> FileResponse:
    import shutil

    scratch = Path(tempfile.mkdtemp(prefix="gyre-download-"))
    record = run_details.fetch_artifact(store, run_id, name, scratch / "content")
    target = scratch / "content"
    filename = record.name.rsplit("/", 1)[-1]
    if target.is_dir():
        archive = shutil.make_archive(str(scratch / "folder"), "tar", target)
        target, filename = Path(archive), f"{filename}.tar"
    return FileResponse(
        target,
        filename=filename,
        background=BackgroundTask(shutil.rmtree, scratch, ignore_errors=True),
    )


@router.put(
    "/{run_id}/artifacts/{name:path}",
    dependencies=contributor,
    status_code=201,
    summary="Upload an artifact: a file's bytes, or a folder as a tar (folder=true)",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
            "required": True,
        }
    },
)
async def upload_artifact(
    request: Request,
    store: Workspace,
    run_id: str,
    name: str,
    folder: bool = False,
    filename: Annotated[str | None, Query(max_length=250)] = None,
) -> Any:
    import anyio

    async with spooled_body(request) as body:
        source = body
        if folder:
            source = await anyio.to_thread.run_sync(unpack_folder, body, body.parent / "folder")
        digest = await anyio.to_thread.run_sync(
            functools.partial(
                recording.store_artifact, store, run_id, source, name, filename=filename
            )
        )
    return JSON({"name": name, "digest": digest}, status_code=201)
