"""One error envelope for every route: ``{"error": {"code": ..., "message": ..., "field": ...}}``.

Under ``/mlflow`` the envelope is MLflow's own (``{"error_code": ..., "message": ...}``), which
its client reads. Which status a :class:`~gyre.errors.GyreError` gets is decided here only.
"""

from __future__ import annotations

from typing import Any

import orjson

from gyre import errors

STATUS: list[tuple[type[errors.GyreError], int, str]] = [
    (errors.Unauthenticated, 401, "unauthenticated"),
    (errors.Forbidden, 403, "forbidden"),
    (errors.NotFound, 404, "not_found"),
    (errors.Conflict, 409, "conflict"),
    (errors.InvalidParameter, 400, "invalid_parameter"),
    (errors.InvalidRelease, 400, "invalid_release"),
    (errors.InvalidPipeline, 400, "invalid_pipeline"),
    (errors.UntrustedContent, 400, "untrusted_content"),
    (errors.Unreachable, 503, "unavailable"),
    (errors.WorkspaceError, 503, "unavailable"),
    (errors.CorruptBlob, 500, "corrupt_blob"),
]

MLFLOW_CODES = {
    400: "INVALID_PARAMETER_VALUE",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    409: "RESOURCE_ALREADY_EXISTS",
    413: "INVALID_PARAMETER_VALUE",
    501: "NOT_IMPLEMENTED",
    503: "TEMPORARILY_UNAVAILABLE",
}


def classify(exc: BaseException) -> tuple[int, str]:
    for kind, status, code in STATUS:
        if isinstance(exc, kind):
            return status, code
    if isinstance(exc, errors.GyreError):
        return 400, "invalid_request"
    return 500, "internal"


def error_body(
    exc: BaseException | str,
    *,
    mlflow: bool = False,
    status: int | None = None,
    code: str | None = None,
    field: str | None = None,
) -> bytes:
    if isinstance(exc, BaseException):
        found_status, found_code = classify(exc)
        message = str(exc)
        field = field or getattr(exc, "field", None)
    else:
        found_status, found_code, message = 400, "invalid_request", exc
    status = status or found_status
    code = code or found_code
    if mlflow:
        payload: dict[str, Any] = {
            "error_code": MLFLOW_CODES.get(status, "INTERNAL_ERROR"),
            "message": message,
        }
    else:
        error: dict[str, Any] = {"code": code, "message": message}
        if field:
            error["field"] = field
        payload = {"error": error}
    return orjson.dumps(payload)


def database_down(exc: BaseException) -> bool:
    """A driver error that says the database cannot be reached (restarting, gone)."""
    name = type(exc).__module__ + "." + type(exc).__name__
    return name.startswith(("psycopg.", "sqlite3.")) and type(exc).__name__ in {
        "OperationalError",
        "InterfaceError",
        "AdminShutdown",
        "ConnectionTimeout",
    }
