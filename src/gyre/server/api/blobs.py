"""Files by content: which digests the artifact store lacks, and sending one."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from pydantic import Field

from gyre.server.access import Workspace, requires
from gyre.server.api.bodies import Body
from gyre.server.api.responses import ERRORS, JSON
from gyre.server.api.spooling import spooled_body
from gyre.workspace import uploads

router = APIRouter(prefix="/blobs", tags=["blobs"], default_response_class=JSON, responses=ERRORS)
contributor = [Depends(requires("contributor"))]
SHA256 = r"^[0-9a-f]{64}$"


class Digests(Body):
    digests: Annotated[list[Annotated[str, Field(pattern=SHA256)]], Field(max_length=100_000)]


@router.post("", dependencies=contributor, summary="Which of these digests the store lacks")
def missing(store: Workspace, body: Digests) -> dict[str, Any]:
    return {"missing": uploads.missing(store, body.digests)}


@router.put(
    "/{digest}",
    dependencies=contributor,
    status_code=201,
    summary="Send a file; kept only when its bytes have this SHA-256",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
            "required": True,
        }
    },
)
async def put_blob(
    request: Request,
    store: Workspace,
    digest: Annotated[str, PathParam(pattern=SHA256)],
) -> dict[str, Any]:
    async with spooled_body(request) as path:
        size = await anyio.to_thread.run_sync(uploads.receive, store, digest, path)
    return {"digest": digest, "size": size}
