"""The scoring server's OpenAPI document: FastAPI's for the routes it answers, and the scoring
routes (answered by plain ASGI) written here from each served model's signature, with every
body and every error shape they can answer.

The document is made for the models this server holds, so ``POST /score/iris`` documents the
records that iris takes, column by column, under their real names.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from gyre.serving import tensor_codec
from gyre.serving.served_models import Models, ServedModel

JSON_TYPES = {
    "float64": "number",
    "float32": "number",
    "int64": "integer",
    "int32": "integer",
    "bool": "boolean",
    "string": "string",
    "bytes": "string",
    "image": "string",
}
GYRE_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message", "field", "request_id"],
            "properties": {
                "type": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": ["string", "null"]},
                "request_id": {"type": "string"},
            },
        }
    },
}
OIP_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
MLFLOW_ERROR = {
    "type": "object",
    "required": ["error_code", "message"],
    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
}
ERROR_STATUSES = {
    "400": "The input does not fit the model; the message names the field or tensor.",
    "404": "No such model or version here.",
    "405": "The route takes POST.",
    "413": "The body is over the server's limit.",
    "415": "The content type is not one the route reads.",
    "500": "The model raised on valid input (the message carries the request id).",
}


def install(app: FastAPI, models: Models) -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``) return the whole document."""

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            from gyre import __version__

            schema = get_openapi(title="gyre scoring", version=__version__, routes=app.routes)
            _declare_framework_errors(schema)
            _name_served_models(schema, models)
            schema["paths"].update(scoring_paths(models))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def _declare_framework_errors(schema: dict[str, Any]) -> None:
    for path, item in schema["paths"].items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)  # FastAPI's own; our handler answers 400
            shape = OIP_ERROR if path.startswith("/v2") else GYRE_ERROR
            if "{" in path:
                responses["404"] = _error_response("No such model or version here.", shape)
            if path == "/v2/health/ready":
                responses["503"] = {
                    "description": "No model is loaded.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }


def _name_served_models(schema: dict[str, Any], models: Models) -> None:
    """Path parameters ``name`` and ``version`` list what this server holds (so a client, or a
    fuzzer, reaches the models; other values are answered 404 as documented)."""
    names = sorted(models.default)
    versions = sorted({str(v) for _, v in models.by_version})
    for item in schema["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") != "path":
                    continue
                if parameter["name"] == "name":
                    parameter["schema"] = {"type": "string", "enum": names}
                elif parameter["name"] == "version":
                    parameter["schema"] = {"type": "string", "enum": versions}


def _error_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(shape: dict[str, Any]) -> dict[str, Any]:
    return {status: _error_response(text, shape) for status, text in ERROR_STATUSES.items()}


def scoring_paths(models: Models) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    single = next(iter(models.default)) if len(models.default) == 1 else None
    for (name, version), served in models.by_version.items():
        if models.default[name] == version:
            paths[f"/score/{name}"] = {"post": _score_operation(served)}
            paths[f"/v2/models/{name}/infer"] = {"post": _infer_operation(served)}
        paths[f"/v2/models/{name}/versions/{version}/infer"] = {"post": _infer_operation(served)}
    if single is not None:
        default = models.by_version[(single, models.default[single])]
        paths["/score"] = {"post": _score_operation(default)}
        paths["/invocations"] = {"post": _invocations_operation(default)}
    return paths


def _record_schema(served: ServedModel) -> dict[str, Any] | None:
    specs = (served.loaded.signature or {}).get("inputs") or []
    if not specs or (len(specs) == 1 and specs[0].get("shape")):
        return None
    properties = {}
    for spec in specs:
        kind: Any = JSON_TYPES.get(spec["type"], "string")
        if spec.get("nullable"):
            kind = [kind, "null"]
        properties[spec["name"]] = {"type": kind}
    return {
        "type": "object",
        "properties": properties,
        "required": [s["name"] for s in specs],
        "additionalProperties": False,
    }


def _rows_schema(served: ServedModel) -> dict[str, Any]:
    """What ``/score`` takes as its list of rows."""
    record = _record_schema(served)
    if record is not None:
        return {"type": "array", "minItems": 1, "items": record}
    specs = (served.loaded.signature or {}).get("inputs") or []
    if len(specs) == 1 and specs[0].get("shape"):
        item: dict[str, Any] = {"type": JSON_TYPES.get(specs[0]["type"], "number")}
        for dim in reversed(specs[0]["shape"][1:]):
            item = {"type": "array", "items": item}
            if dim >= 0:
                item.update(minItems=dim, maxItems=dim)
        return {"type": "array", "minItems": 1, "items": item}
    return {"type": "array", "minItems": 1}


def _score_operation(served: ServedModel) -> dict[str, Any]:
    rows = _rows_schema(served)
    record = _record_schema(served)
    body: dict[str, Any] = {
        "anyOf": [
            rows,
            {
                "type": "object",
                "required": ["records"],
                "properties": {"records": rows},
                "additionalProperties": False,
            },
            *([record] if record is not None else []),
        ]
    }
    if served.flavor == "python":
        body = {}  # whatever the model's run(data) takes
    return {
        "summary": f"Score {served.name}@{served.version}: a record, a list, or {{records}}",
        "operationId": f"score_{served.name}_{served.version}",
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {
            "200": {
                "description": "One prediction per row.",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["predictions", "model", "version", "request_id"],
                            "properties": {
                                "predictions": {"type": "array"},
                                "model": {"type": "string"},
                                "version": {"type": "integer"},
                                "request_id": {"type": "string"},
                            },
                        }
                    }
                },
            },
            **_errors(GYRE_ERROR),
        },
    }


def _infer_operation(served: ServedModel) -> dict[str, Any]:
    tensor = {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": {"type": "string"},
            "shape": {
                "type": "array",
                "maxItems": tensor_codec.MAX_DIMS,
                "items": {"type": "integer", "minimum": 0},
            },
            "datatype": {"type": "string", "enum": list(tensor_codec.DTYPES)},
            "parameters": {"type": "object"},
            "data": {"type": "array"},
        },
    }
    request = {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object"},
            "inputs": {"type": "array", "minItems": 1, "items": tensor},
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}, "parameters": {"type": "object"}},
                },
            },
        },
    }
    output = {
        "type": "object",
        "required": ["name", "shape", "datatype"],
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "datatype": {"type": "string"},
            "parameters": {"type": "object"},
            "data": {"type": "array"},
        },
    }
    answer = {
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "outputs": {"type": "array", "items": output},
        },
    }
    return {
        "summary": f"Open Inference Protocol v2 inference on {served.name}@{served.version}",
        "operationId": f"infer_{served.name}_{served.version}",
        "requestBody": {"required": True, "content": {"application/json": {"schema": request}}},
        "responses": {
            "200": {
                "description": "The output tensor (binary tensor data when asked for).",
                "content": {
                    "application/json": {"schema": answer},
                    "application/octet-stream": {"schema": {"type": "string"}},
                },
            },
            **_errors(OIP_ERROR),
        },
    }


def _invocations_operation(served: ServedModel) -> dict[str, Any]:
    rows = _rows_schema(served)
    record = _record_schema(served) or {"type": "object"}
    columns = {"type": "object", "additionalProperties": {"type": "array"}}
    split = {
        "type": "object",
        "required": ["columns", "data"],
        "properties": {
            "columns": {"type": "array", "items": {"type": "string"}},
            "data": {"type": "array", "items": {"type": "array"}},
            "index": {"type": "array"},
        },
    }

    def one(key: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": [key],
            "properties": {key: schema, "params": {"type": "object"}},
            "additionalProperties": False,
        }

    body = {
        "oneOf": [
            one("dataframe_split", split),
            one("dataframe_records", {"type": "array", "minItems": 1, "items": record}),
            one("instances", rows),
            one("inputs", {"anyOf": [rows, columns]}),
        ]
    }
    return {
        "summary": f"MLflow's scoring protocol on {served.name}@{served.version}",
        "operationId": f"invocations_{served.name}_{served.version}",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": body},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        "responses": {
            "200": {
                "description": "One prediction per row.",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["predictions"],
                            "properties": {"predictions": {"type": "array"}},
                        }
                    }
                },
            },
            **_errors(MLFLOW_ERROR),
        },
    }
