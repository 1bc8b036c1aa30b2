"""The REST API under ``/api/v1``: one module per noun, each route one capability call."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from gyre.server.api import (
        audit,
        auth,
        blobs,
        datasets,
        endpoints,
        identity,
        jobs,
        models,
        monitors,
        pipelines,
        releases,
        runs,
        system,
    )

    return [
        system.router,
        auth.router,
        blobs.router,
        runs.router,
        datasets.router,
        models.router,
        pipelines.router,
        jobs.router,
        endpoints.router,
        releases.router,
        monitors.router,
        audit.router,
        identity.router,
    ]
