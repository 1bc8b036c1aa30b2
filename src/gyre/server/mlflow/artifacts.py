"""MLflow's artifact proxy (``mlflow-artifacts:/``): upload, list and download a run's files
through the server, as ``mlflow.log_artifact`` and ``mlflow.artifacts.download_artifacts``
do when the tracking server proxies artifacts.

A path reads ``EXPERIMENT_ID/RUN_ID/artifacts/NAME`` (the run's ``artifact_uri`` is
``mlflow-artifacts:/EXPERIMENT_ID/RUN_ID/artifacts``). Each uploaded file is one artifact of
the run named by its relative path (``plots/loss.png``); a folder artifact of a gyre run is
seen as the files it holds.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from gyre.errors import InvalidParameter, NotFound
from gyre.server.access import Workspace, requires
from gyre.server.mlflow.entities import MAX_KEY, MLflowJSON, experiment_id
from gyre.server.mlflow.refusals import refuse
from gyre.tracking import artifact_files, recording, run_details

router = APIRouter(
    prefix="/api/2.0/mlflow-artifacts/artifacts",
    default_response_class=MLflowJSON,
    include_in_schema=False,
)


def _locate(store: Any, path: str) -> tuple[str, str]:
    """(run id, artifact path inside the run) of ``EXPERIMENT_ID/RUN_ID/artifacts[/NAME]``."""
    parts = path.strip("/").split("/")
    if len(parts) < 3 or parts[2] != "artifacts":
        raise NotFound(
            f"No artifact location {path[:200]!r}: paths read EXPERIMENT_ID/RUN_ID/artifacts/"
            "NAME, under a run's artifact_uri."
        )
    record = run_details.get_run(store, parts[1])
    if record.id != parts[1] or experiment_id(record.experiment) != parts[0]:
        raise NotFound(f"Run {parts[1][:64]!r} is not in experiment {parts[0][:80]!r}.")
    inner = parts[3:]
    if any(p in ("", ".", "..") or "\x00" in p or "\\" in p for p in inner):
        raise InvalidParameter(
            f"The artifact path {'/'.join(inner)[:200]!r} is not usable: no empty, '.' or "
            "'..' parts, no backslash.",
            field="path",
        )
    return record.id, "/".join(inner)


@router.put("/{path:path}", dependencies=[Depends(requires("contributor"))])
async def upload(request: Request, store: Workspace, path: str) -> dict[str, Any]:
    run_id, name = await anyio.to_thread.run_sync(_locate, store, path)
    if not name:
        raise InvalidParameter("Name the file: PUT .../artifacts/NAME.", field="path")
    if len(name) > MAX_KEY:
        raise InvalidParameter(
            f"The artifact path is {len(name)} characters; gyre keeps at most {MAX_KEY}.",
            field="path",
        )
    scratch = Path(tempfile.mkdtemp(prefix="gyre-mlflow-upload-"))
    try:
        upload_path = scratch / "upload"
        with upload_path.open("wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
        await anyio.to_thread.run_sync(recording.store_artifact, store, run_id, upload_path, name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {}


@router.get("", dependencies=[Depends(requires("reader"))])
def list_artifacts(
    store: Workspace, path: Annotated[str, Query(max_length=2000)] = ""
) -> dict[str, Any]:
    run_id, inner = _locate(store, path)
    prefix = f"{inner}/" if inner else ""
    entries: dict[str, dict[str, Any]] = {}
    for found in artifact_files.artifact_files(store, run_id):
        if not found.path.startswith(prefix):
            continue
        head, slash, _ = found.path[len(prefix) :].partition("/")
        if slash:
            entries.setdefault(head, {"path": head, "is_dir": True})
        else:
            entry: dict[str, Any] = {"path": head, "is_dir": False}
            if found.size is not None:
                entry["file_size"] = found.size
            entries[head] = entry
    return {"files": [entries[k] for k in sorted(entries)]}


@router.get("/{path:path}", dependencies=[Depends(requires("reader"))])
def download(store: Workspace, path: str) -> FileResponse:
    run_id, inner = _locate(store, path)
    scratch = Path(tempfile.mkdtemp(prefix="gyre-mlflow-download-"))
    try:
        target = scratch / "file"
        artifact_files.fetch_artifact_file(store, run_id, inner, target)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return FileResponse(
        target,
        filename=inner.rsplit("/", 1)[-1],
        background=BackgroundTask(shutil.rmtree, scratch, ignore_errors=True),
    )


@router.delete("/{path:path}", dependencies=[Depends(requires("contributor"))], response_model=None)
def delete(path: str) -> None:
    refuse("deleting artifacts (they are deleted with their run)")
