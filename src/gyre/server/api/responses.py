"""JSON for every answer: dataclasses and NaN (as null) included, in one encoder."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": text,
        "model": None,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "field": {"type": "string"},
                            },
                        }
                    },
                }
            }
        },
    }
    for status, text in (
        (400, "The request is not valid; the message names the field."),
        (401, "No valid token."),
        (403, "The caller's role does not allow it (the refusal is audited)."),
        (404, "No such thing."),
        (409, "It contradicts what is stored."),
        (413, "The body is over the size limit."),
        (503, "The workspace database is not reachable; nothing was written."),
    )
}
"""The error envelope, documented on every route."""

ERRORS[400]["description"] += (
    " A request the HTTP server cannot parse at all (a request line over 64 KiB, say) is "
    "refused before any route, as text/plain."
)
ERRORS[400]["content"]["text/plain"] = {"schema": {"type": "string"}}


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(
            content, default=_fallback, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
        )


def _fallback(value: Any) -> Any:
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)
