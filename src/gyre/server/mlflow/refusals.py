"""What the MLflow endpoint does not do, said plainly: MLflow's ``NOT_IMPLEMENTED`` (501)
with the operation's name and what to use instead, for known routes and any other path of
MLflow's API (the model registry, traces, logged models, the UI's ajax routes). A search
for logged models answers empty: the client makes it before it downloads a run's files."""

from __future__ import annotations

from typing import Any, NoReturn

from fastapi import APIRouter, Depends, Request
from starlette.exceptions import HTTPException

from gyre.server.access import requires

router = APIRouter(include_in_schema=False)

SEE = "docs/server.md lists what gyre's MLflow endpoint covers."

REFUSED = {
    "/api/2.0/mlflow/experiments/delete": "deleting an experiment (delete its runs instead)",
    "/api/2.0/mlflow/experiments/restore": "restoring an experiment",
    "/api/2.0/mlflow/experiments/update": "renaming an experiment",
    "/api/2.0/mlflow/experiments/set-experiment-tag": "experiment tags",
    "/api/2.0/mlflow/experiments/delete-experiment-tag": "experiment tags",
    "/api/2.0/mlflow/runs/restore": "restoring a run (gyre deletes runs for good)",
    "/api/2.0/mlflow/runs/delete-tag": "deleting a run's tag",
    "/api/2.0/mlflow/runs/log-inputs": "dataset inputs of a run (use gyre's datasets)",
    "/api/2.0/mlflow/runs/outputs": "logged-model outputs of a run",
    "/api/2.0/mlflow/runs/log-model": "recording a logged model (use gyre model register)",
    "/api/2.0/mlflow/metrics/get-history-bulk-interval": "sampled metric histories",
}


def refuse(what: str) -> NoReturn:
    """Answer 501 NOT_IMPLEMENTED naming ``what`` is not supported."""
    raise HTTPException(501, f"gyre's MLflow endpoint does not support {what}. {SEE}")


@router.post("/api/2.0/mlflow/logged-models/search", dependencies=[Depends(requires("reader"))])
def search_logged_models() -> dict[str, Any]:
    """gyre keeps no MLflow logged models (it has its model registry): the search is empty.
    MLflow's client searches them before downloading a run's artifacts."""
    return {"models": []}


@router.api_route(
    "/{area:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    summary="Any other route of MLflow's API",
    response_model=None,
)
def not_covered(request: Request, area: str) -> NoReturn:
    path = "/" + area
    if path in REFUSED:
        refuse(REFUSED[path])
    if path.startswith(("/api/", "/ajax-api/")):
        refuse(f"{request.method} {path}")
    raise HTTPException(404, f"No route {request.method} {request.url.path}. {SEE}")
