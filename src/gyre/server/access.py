"""Who is calling, per request: the token is checked before any route runs.

:class:`Authentication` is a pure ASGI middleware: it authenticates the request's token (a
thread, not the event loop, does the database read) and runs the rest of the request inside
:func:`gyre.actors.acting_as`, so every capability called by a route audits the caller and
checks its per-resource roles. Routes declare the role they need with ``Depends(requires(...))``.

Without auth (``gyre server --no-auth``, loopback only) every request acts as the local user
with the admin role, as the workspace's own CLI does.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

import anyio
from fastapi import Depends, Request

from gyre import actors
from gyre.access.tokens import Authenticator
from gyre.errors import GyreError, Unauthenticated, Unreachable
from gyre.server.envelope import database_down

if TYPE_CHECKING:
    from gyre.store import Store

_DATABASE_DOWN = Unreachable(
    "The workspace database is not reachable right now; nothing was written. Retry in a few "
    "seconds."
)
_FAILED = GyreError("The server failed on this request; its log has the details.")
OPEN_PATHS = frozenset(
    {"/api/v1/health", "/api/v1/openapi.json", "/api/v1/docs", "/api/v1/auth/oidc"}
)
MLFLOW_PREFIX = "/mlflow"
IDENTITY_PATHS = ("/api/v1/users", "/api/v1/tokens")
log = logging.getLogger("gyre.server")


class Authentication:
    """ASGI middleware: resolve the caller, or answer 401 in the error envelope."""

    def __init__(self, app: Any, store: Store, *, enabled: bool) -> None:
        self.app = app
        self.enabled = enabled
        self.authenticator = Authenticator(store)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        client = scope.get("client")
        origin = client[0] if client else ""
        if not self.enabled:
            actor = actors.Actor(name=actors.user_name(), role="admin", origin=origin)
        elif path in OPEN_PATHS:
            actor = None
        else:
            try:
                presented = _token_of(scope)
                actor = self.authenticator.remembered(presented, origin)
                if actor is None:
                    actor = await anyio.to_thread.run_sync(
                        self.authenticator.authenticate, presented, origin
                    )
            except Unauthenticated as exc:
                await _send_error(send, 401, exc, path)
                return
            except GyreError as exc:  # the database is unreachable
                await _send_error(send, 503, exc, path)
                return
            except Exception as exc:
                if not database_down(exc):
                    raise
                await _send_error(send, 503, _DATABASE_DOWN, path)
                return
        scope.setdefault("state", {})["actor"] = actor
        started = False

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        with actors.acting_as(actor):
            try:
                await self.app(scope, receive, tracked)
                if scope["method"] != "GET" and path.startswith(IDENTITY_PATHS):
                    self.authenticator.forget()  # a revocation or role change: at once here
            except Exception:
                # The app's handlers answered already (500 in the envelope) and re-raised:
                # logged once here, so the server keeps the connection instead of dropping it.
                log.exception("%s %s failed", scope.get("method"), path)
                if not started:
                    await _send_error(send, 500, _FAILED, path)


def _token_of(scope: dict[str, Any]) -> str | None:
    """``Authorization: Bearer TOKEN``; for MLflow clients also ``Basic`` with the token as
    the password (``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``)."""
    for name, value in scope.get("headers", ()):
        if name != b"authorization":
            continue
        text = value.decode("latin-1").strip()
        scheme, _, credential = text.partition(" ")
        if scheme.lower() == "bearer":
            return credential.strip() or None
        if scheme.lower() == "basic":
            import base64
            import binascii

            try:
                decoded = base64.b64decode(credential.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            return decoded.partition(":")[2] or None
    return None


async def _send_error(send: Any, status: int, exc: Exception, path: str) -> None:
    from gyre.server.envelope import error_body

    body = error_body(exc, mlflow=path.startswith(MLFLOW_PREFIX), status=status)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="gyre"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def requires(role: str) -> Callable[[Request], Awaitable[actors.Actor | None]]:
    """A dependency: the route needs ``role`` (everywhere). Per-resource rules (who may
    approve this release, move this alias) live in the capability functions themselves."""

    async def check(request: Request) -> actors.Actor | None:  # inline: no thread needed
        actors.require(role, doing=f"{request.method} {request.url.path}")
        return actors.current()

    check.__name__ = f"requires_{role}"
    return check


def workspace(request: Request) -> Store:
    """A dependency: the workspace the server serves."""
    store: Store = request.app.state.store
    return store


Workspace = Annotated[Any, Depends(workspace)]
"""A route's ``store`` parameter (typed Any: FastAPI resolves annotations at run time, and the
server reaches the store's type only for type checking)."""
