"""MLflow's tracking REST API under ``/mlflow``: the routes of :mod:`gyre.server.mlflow`,
most specific first, and the refusals last (they answer any other MLflow path)."""

from __future__ import annotations

from fastapi import APIRouter

from gyre.server.mlflow import artifacts, experiments, refusals, runs, search

router = APIRouter(include_in_schema=False)
for part in (experiments, search, runs, artifacts, refusals):
    router.include_router(part.router)
