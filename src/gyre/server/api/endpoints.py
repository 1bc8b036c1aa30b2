"""Endpoints: list, show, change the traffic split (live)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field, WithJsonSchema

from gyre import endpoints
from gyre.server.access import Workspace, requires
from gyre.server.api.bodies import NO_NUL, Body, Bool, Percent, Wait
from gyre.server.api.responses import ERRORS, JSON

router = APIRouter(
    prefix="/endpoints", tags=["endpoints"], default_response_class=JSON, responses=ERRORS
)
reader = [Depends(requires("reader"))]
contributor = [Depends(requires("contributor"))]


VERSION_OR_ALIAS = r"^([0-9]{1,9}|[A-Za-z][A-Za-z0-9_-]{0,99})$"


class Traffic(Body):
    weights: Annotated[
        dict[str, Percent],
        WithJsonSchema(
            {
                "type": "object",
                "propertyNames": {"minLength": 1, "maxLength": 100, "pattern": VERSION_OR_ALIAS},
                "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 100},
                "description": "version or alias -> percent, adding up to 100",
            }
        ),
    ]
    shadow: Annotated[str, Field(min_length=1, max_length=100, pattern=NO_NUL)] | None = None
    keep_shadow: Bool = True
    wait_s: Wait | None = None
    """Answer once the serving process applies the change (at most this long)."""


@router.get("", dependencies=reader, summary="Every endpoint")
def list_endpoints(store: Workspace) -> list[dict[str, Any]]:
    return [e.__dict__ for e in endpoints.list_endpoints(store)]


@router.get("/{name}", dependencies=reader, summary="One endpoint")
def show(store: Workspace, name: str) -> dict[str, Any]:
    return endpoints.get(store, name).__dict__


@router.put("/{name}/traffic", dependencies=contributor, summary="Change the split (live)")
def traffic(store: Workspace, name: str, body: Traffic) -> dict[str, Any]:
    row = endpoints.set_traffic(
        store,
        name,
        {k: str(v) for k, v in body.weights.items()},
        shadow=body.shadow,
        keep_shadow=body.keep_shadow,
    )
    if body.wait_s is not None and row.pid is not None:
        row = endpoints.wait_applied(store, name, row.generation, body.wait_s)
    return row.__dict__
