"""The team server's ASGI app: routes, authentication, the body limit and the error envelope."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from gyre.errors import GyreError
from gyre.server.access import MLFLOW_PREFIX, OPEN_PATHS, Authentication
from gyre.server.envelope import classify, database_down, error_body
from gyre.server.oidc import OidcExchange, OidcSettings

if TYPE_CHECKING:
    from gyre.store import Store

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 64 << 20
log = logging.getLogger("gyre.server")


def _driver_errors() -> list[type[Exception]]:
    """The database drivers' connection errors (psycopg only when it is installed)."""
    import sqlite3

    found: list[type[Exception]] = [sqlite3.OperationalError]
    try:
        import psycopg
    except ImportError:
        return found
    return [*found, psycopg.OperationalError, psycopg.InterfaceError]


def _refused_values() -> list[type[Exception]]:
    """Driver errors about a value itself (a NUL in text, a number out of range): the
    request's fault, answered 400, never 500."""
    try:
        import psycopg
    except ImportError:
        return []
    return [psycopg.DataError]


def _json_error(status: int, body: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _is_mlflow(request: Request) -> bool:
    return request.url.path.startswith(MLFLOW_PREFIX)


def create_app(
    store: Store,
    *,
    auth: bool = True,
    max_body_bytes: int = MAX_BODY_BYTES,
    oidc: OidcSettings | None = None,
) -> Any:
    """The server for ``store``; ``auth=False`` only for a loopback address (the CLI checks);
    ``oidc``: the identity provider whose ID tokens buy gyre tokens."""
    from gyre.server.api import routers
    from gyre.server.mlflow_api import router as mlflow_router

    app = FastAPI(
        title="gyre",
        version="1",
        description="The gyre team server: every capability of a workspace over REST.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.store = store
    app.state.oidc = OidcExchange(oidc) if oidc is not None else None
    for router in routers():
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(mlflow_router, prefix=MLFLOW_PREFIX)

    @app.exception_handler(GyreError)
    async def gyre_error(request: Request, exc: GyreError) -> Response:
        status, _ = classify(exc)
        if status == 403:
            await _audit_refusal(request, exc)
        return _json_error(status, error_body(exc, mlflow=_is_mlflow(request)))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        field = None
        for error in exc.errors()[:5]:
            where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
            field = field or where
            problems.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
        message = "The request is not valid: " + "; ".join(problems) + "."
        body = error_body(message, mlflow=_is_mlflow(request), field=field)
        return _json_error(400, body)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"No route {request.method} {request.url.path}; {API_PREFIX}/docs lists them."
        body = error_body(message, mlflow=_is_mlflow(request), status=exc.status_code, code=code)
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {"allow": ", ".join(_methods_of(app, request.url.path))}
        return _json_error(exc.status_code, body, headers=headers)

    async def database_unreachable(request: Request, exc: Exception) -> Response:
        if not database_down(exc):
            return await unexpected(request, exc)
        message = (
            "The workspace database is not reachable right now; nothing was written. "
            "Retry in a few seconds."
        )
        body = error_body(message, mlflow=_is_mlflow(request), status=503, code="unavailable")
        return _json_error(503, body, headers={"retry-after": "2"})

    for driver_error in _driver_errors():  # answered without re-raising, unlike Exception
        app.add_exception_handler(driver_error, database_unreachable)

    async def value_refused(request: Request, exc: Exception) -> Response:
        first = (str(exc).strip().splitlines() or [""])[0]
        message = f"The workspace database refused a value of the request: {first}."
        return _json_error(400, error_body(message, mlflow=_is_mlflow(request)))

    for data_error in _refused_values():
        app.add_exception_handler(data_error, value_refused)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        if database_down(exc):
            return await database_unreachable(request, exc)
        message = (
            f"The server failed on {request.method} {request.url.path} ({type(exc).__name__})."
        )
        body = error_body(message, mlflow=_is_mlflow(request), status=500, code="internal")
        return _json_error(500, body)

    app.openapi = lambda: _with_security(app)  # type: ignore[method-assign]
    return BodyLimit(Authentication(app, store, enabled=auth), max_body_bytes)


def _methods_of(app: FastAPI, path: str) -> list[str]:
    """Every method some route answers on ``path`` (Starlette's own 405 names only the
    first route that matched the path)."""
    from fastapi.routing import APIRoute

    found: set[str] = set()
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path_regex.match(path):
            found |= route.methods or set()
    return sorted(found)


def _with_security(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, saying that every route but health takes a bearer token."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    document.setdefault("components", {})["securitySchemes"] = {
        "token": {
            "type": "http",
            "scheme": "bearer",
            "description": "A gyre token: 'gyre token create USER' makes one.",
        }
    }
    for path, operations in document.get("paths", {}).items():
        if path in OPEN_PATHS:
            continue
        for operation in operations.values():
            if isinstance(operation, dict):
                operation["security"] = [{"token": []}]
    app.openapi_schema = document
    return document


async def _audit_refusal(request: Request, exc: GyreError) -> None:
    import anyio

    from gyre.workspace.audit_log import record

    store: Store = request.app.state.store
    detail = {"method": request.method, "path": request.url.path, "reason": str(exc)[:300]}

    def write() -> None:
        record(store, "access.denied", f"route {request.url.path}", detail)

    try:
        await anyio.to_thread.run_sync(write)
    except Exception:  # the refusal stands even when it cannot be written
        log.exception("could not audit a refusal")


class BodyLimit:
    """Refuse a request body over ``limit`` bytes with 413, before a route reads it."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, send)
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await self._refuse(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: dict[str, Any], send: Any) -> None:
        message = (
            f"The request body is over the server's limit of {self.limit >> 20} MiB; send "
            "artifacts in parts or straight to the artifact store."
        )
        body = error_body(
            message, mlflow=scope["path"].startswith(MLFLOW_PREFIX), status=413, code="too_large"
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})
