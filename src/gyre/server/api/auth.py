"""Signing in through the team's identity provider (OIDC): an ID token for a gyre token."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Request
from pydantic import Field

from gyre.errors import NotFound
from gyre.server.access import Workspace
from gyre.server.api.bodies import NO_NUL, Body
from gyre.server.api.responses import ERRORS, JSON

router = APIRouter(prefix="/auth", tags=["auth"], default_response_class=JSON, responses=ERRORS)


class IdToken(Body):
    id_token: Annotated[str, Field(min_length=1, max_length=20_000, pattern=NO_NUL)]


@router.post(
    "/oidc",
    summary="Exchange an ID token of the server's OIDC issuer for a gyre token (no token needed)",
)
async def oidc(request: Request, store: Workspace, body: IdToken) -> dict[str, Any]:
    exchange = request.app.state.oidc
    if exchange is None:
        raise NotFound(
            "This server does not take OIDC logins; its admin starts it with --oidc-issuer "
            "and --oidc-audience, or gives you a token ('gyre token create')."
        )
    issued, name = await anyio.to_thread.run_sync(exchange.exchange, store, body.id_token)
    return {
        "token": issued.secret,
        "id": issued.row.id,
        "user": name,
        "expires_at": issued.row.expires_at,
    }
