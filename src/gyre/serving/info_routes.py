"""The scoring server's routes that FastAPI answers: health, model metadata, ``/metrics``,
MLflow's ``/ping`` and ``/version``, and the error shape of everything it answers itself.

Errors keep one shape per protocol: ``{"error": "..."}`` under ``/v2`` (the Open Inference
Protocol's), ``{"error_code", "message"}`` for MLflow's routes, and gyre's envelope
``{"error": {"type", "message", "field", "request_id"}}`` elsewhere. An unknown path or a
wrong method is answered in the shape of the protocol its path belongs to.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException

from gyre.errors import NotFound
from gyre.serving import oip
from gyre.serving.journal import Journal
from gyre.serving.metrics import ServingMetrics
from gyre.serving.served_models import Models, ServedModel

MLFLOW_PATHS = ("/invocations", "/ping", "/health", "/version")
REQUEST_ID_KEY = "gyre.request_id"


def error_body(path: str, status: int, message: str, kind: str, request_id: str) -> Any:
    if path == "/v2" or path.startswith("/v2/"):
        return {"error": message}
    if path in MLFLOW_PATHS:
        code = "RESOURCE_DOES_NOT_EXIST" if status == 404 else "BAD_REQUEST"
        return {"error_code": code if status < 500 else "INTERNAL_ERROR", "message": message}
    return {"error": {"type": kind, "message": message, "field": None, "request_id": request_id}}


def add_routes(
    app: FastAPI,
    models: Models,
    metrics: ServingMetrics,
    journal: Journal | None,
    converter: Any,
) -> None:
    _add_error_handlers(app)

    def not_found(error: NotFound) -> Response:
        return JSONResponse({"error": str(error)}, status_code=404)

    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> Response:
        ok = bool(models.by_version)
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @app.get("/v2")
    async def server_metadata() -> dict[str, Any]:
        from gyre import __version__

        return {"name": "gyre", "version": __version__, "extensions": ["binary_tensor_data"]}

    @app.get("/v2/models/{name}")
    @app.get("/v2/models/{name}/versions/{version}")
    async def model_metadata(name: str, version: str | None = None) -> Response:
        try:
            served = models.get(name, version)
        except NotFound as exc:
            return not_found(exc)
        return JSONResponse(metadata(models, served))

    @app.get("/v2/models/{name}/ready")
    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def model_ready(name: str, version: str | None = None) -> Response:
        try:
            models.get(name, version)
        except NotFound as exc:
            return not_found(exc)
        return JSONResponse({"name": name, "ready": True})

    @app.get("/ping", response_class=PlainTextResponse)
    @app.get("/health", response_class=PlainTextResponse)
    async def ping() -> str:
        """MLflow's liveness route: 200 and a newline while a model is served."""
        return "\n"

    @app.get("/version", response_class=PlainTextResponse)
    async def version() -> str:
        from gyre import __version__

        return __version__

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    )
    async def prometheus() -> Response:
        body = metrics.exposition(models.by_version.values(), journal, converter)
        return Response(body, media_type=CONTENT_TYPE_LATEST)


def _add_error_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        request_id = str(request.scope.get(REQUEST_ID_KEY, ""))
        kind = "not_found" if exc.status_code == 404 else "method_not_allowed"
        message = (
            f"no route {request.url.path}"
            if exc.status_code == 404
            else f"{request.url.path} does not take {request.method}"
            if exc.status_code == 405
            else str(exc.detail)
        )
        body = error_body(request.url.path, exc.status_code, message, kind, request_id)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        message = f"{'.'.join(map(str, first.get('loc', ())))}: {first.get('msg', 'invalid')}"
        request_id = str(request.scope.get(REQUEST_ID_KEY, ""))
        body = error_body(request.url.path, 400, message, "invalid_input", request_id)
        return JSONResponse(body, status_code=400)

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)


def metadata(models: Models, served: ServedModel) -> dict[str, Any]:
    """The Open Inference Protocol's model metadata: one input per column for a records
    signature (or the tensor of a tensor signature), and the output every answer holds."""
    signature = served.loaded.signature or {}
    return {
        "name": served.name,
        "versions": [str(v) for n, v in sorted(models.by_version) if n == served.name],
        "platform": served.flavor,
        "inputs": [oip.metadata_tensor(i) for i in signature.get("inputs", [])],
        "outputs": [oip.metadata_tensor(served.output_spec)],
    }
