"""The scoring app (ASGI, FastAPI): Open Inference Protocol v2, ``POST /score``, ``/metrics``.

It holds one or more model versions at once (the release capability routes traffic between
them). Every request gets an id (``X-Request-ID``, taken from the client or made here), one
structured access-log line, and Prometheus counters and a latency histogram per model version.
Input is validated against the model's signature: bad input is a 4xx naming the field; a model
that raises is a 500 carrying the request id, and the server keeps serving. Every scored item
is journaled before the response is sent (see ``journal.py``).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import time
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gyre.errors import GyreError, InvalidParameter
from gyre.registry import signature as signatures
from gyre.registry.models import LoadedModel
from gyre.serving.batching import MicroBatcher
from gyre.serving.journal import Journal

access_log = logging.getLogger("gyre.access")
log = logging.getLogger("gyre.serving")
BATCHING_FLAVORS = ("sklearn", "torch", "onnx")
OIP_TYPES = {
    "float64": "FP64",
    "float32": "FP32",
    "int64": "INT64",
    "int32": "INT32",
    "bool": "BOOL",
    "string": "BYTES",
    "bytes": "BYTES",
    "image": "BYTES",
}


@dataclass
class ServerOptions:
    max_batch: int = 64
    max_wait_ms: float = 5.0
    max_body_bytes: int = 10 << 20
    collect: bool = True


@dataclass
class ServedModel:
    loaded: LoadedModel
    batcher: MicroBatcher | None = None

    @property
    def name(self) -> str:
        return self.loaded.record.name

    @property
    def version(self) -> int:
        return self.loaded.record.version

    @property
    def flavor(self) -> str:
        return self.loaded.record.flavor


@dataclass
class Models:
    """The versions this server holds; the first registered per name is its default."""

    by_version: dict[tuple[str, int], ServedModel] = field(default_factory=dict)
    default: dict[str, int] = field(default_factory=dict)

    def add(self, served: ServedModel) -> None:
        self.by_version[(served.name, served.version)] = served
        self.default.setdefault(served.name, served.version)

    def get(self, name: str, version: str | None = None) -> ServedModel:
        if name not in self.default:
            raise LookupError(
                f"no model named {name!r} here; serving {', '.join(sorted(self.default))}"
            )
        number = self.default[name] if version is None else _as_int(version)
        served = self.by_version.get((name, number))
        if served is None:
            have = sorted(v for n, v in self.by_version if n == name)
            raise LookupError(f"model {name!r} has no version {version} here; serving {have}")
        return served

    def only(self) -> ServedModel:
        if len(self.default) != 1:
            raise LookupError("this server holds several models: POST /score/{name}")
        name = next(iter(self.default))
        return self.by_version[(name, self.default[name])]


def _as_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise LookupError(f"version {text!r} is not a number") from None


class _Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["model", "version", "route", "status"]
        self.requests = Counter(
            "gyre_requests_total", "Scoring requests", labels, registry=self.registry
        )
        self.errors = Counter(
            "gyre_errors_total",
            "Failed requests",
            ["model", "version", "kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gyre_request_latency_seconds",
            "Request latency",
            ["model", "version", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.dropped = Gauge(
            "gyre_collector_dropped_rows",
            "Scored rows the collector could not record",
            registry=self.registry,
        )
        self.journaled = Gauge(
            "gyre_collector_journaled_rows", "Scored rows journaled", registry=self.registry
        )
        self.converted = Gauge(
            "gyre_collector_converted_rows",
            "Rows written to the inference dataset",
            registry=self.registry,
        )
        self.batches = Gauge(
            "gyre_batches_total",
            "Model calls made by the micro-batcher",
            ["model", "version"],
            registry=self.registry,
        )


class _RequestError(Exception):
    def __init__(self, status: int, kind: str, message: str, field_name: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.field = field_name


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return value


def _batch_predictor(served: ServedModel) -> Callable[[list[Any]], list[Any]]:
    def predict(rows: list[Any]) -> list[Any]:
        return list(_jsonable(served.loaded.predict(rows)))

    return predict


def create_app(
    models: Models,
    options: ServerOptions,
    *,
    journal: Journal | None = None,
    converter: Any = None,
) -> Any:
    """The ASGI app: FastAPI routes inside the request-context layer."""
    metrics = _Metrics()

    for served in models.by_version.values():
        if served.flavor in BATCHING_FLAVORS:
            served.batcher = MicroBatcher(
                _batch_predictor(served),
                max_batch=options.max_batch,
                max_wait_s=options.max_wait_ms / 1000,
            )

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        if converter is not None:
            converter.start()
        yield
        for served in models.by_version.values():
            if served.batcher is not None:
                await served.batcher.close()
        if converter is not None:
            converter.stop()
        if journal is not None:
            journal.close()

    app = FastAPI(title="gyre scoring", lifespan=lifespan, docs_url=None, redoc_url=None)

    def _error_response(request: Request, error: _RequestError) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None)
        served = getattr(request.state, "model", None)
        if served is not None:
            metrics.errors.labels(served.name, str(served.version), error.kind).inc()
        if request.url.path.startswith("/v2/"):
            body: dict[str, Any] = {"error": str(error)}  # the protocol's own error shape
        else:
            body = {
                "error": {
                    "type": error.kind,
                    "message": str(error),
                    "field": error.field,
                    "request_id": request_id,
                }
            }
        return JSONResponse(body, status_code=error.status)

    async def _body(request: Request) -> Any:
        raw = await request.body()
        if len(raw) > options.max_body_bytes:
            raise _RequestError(
                413,
                "too_large",
                f"the body is {len(raw)} bytes; the limit is {options.max_body_bytes}",
            )
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _RequestError(400, "invalid_json", f"the body is not JSON: {exc}") from None

    async def _predict(request: Request, served: ServedModel, rows: Any, batchable: bool) -> Any:
        try:
            if batchable and served.batcher is not None:
                return await served.batcher.submit(rows)
            import asyncio

            return _jsonable(
                await asyncio.get_running_loop().run_in_executor(None, served.loaded.predict, rows)
            )
        except (GyreError, ValueError, TypeError, KeyError) as exc:
            if isinstance(exc, InvalidParameter):
                raise _RequestError(400, "invalid_input", str(exc), exc.field) from None
            log.exception(
                "model %s@%s raised (request %s)",
                served.name,
                served.version,
                request.state.request_id,
            )
            raise _RequestError(
                500,
                "model_error",
                f"the model failed on this input; request id {request.state.request_id}",
            ) from exc
        except Exception as exc:
            log.exception(
                "model %s@%s raised (request %s)",
                served.name,
                served.version,
                request.state.request_id,
            )
            raise _RequestError(
                500, "model_error", f"the model failed; request id {request.state.request_id}"
            ) from exc

    def _collect(
        request: Request, served: ServedModel, inputs: list[Any], outputs: list[Any], started: float
    ) -> None:
        if journal is None or not options.collect:
            return
        now = time.time()
        latency = (time.perf_counter() - started) * 1000
        for index, (item, output) in enumerate(zip(inputs, outputs, strict=False)):
            record = {
                "request_id": f"{request.state.request_id}:{index}"
                if len(inputs) > 1
                else request.state.request_id,
                "model": served.name,
                "version": served.version,
                "timestamp": now,
                "latency_ms": latency,
                "inputs": item,
                "outputs": output,
            }
            if not journal.append(record):
                log.warning(
                    "collector: journal full or disk full; row of request %s not recorded",
                    request.state.request_id,
                )

    # -- health and metadata -----------------------------------------------------------------

    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> Response:
        ok = bool(models.by_version)
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @app.get("/v2")
    async def server_metadata() -> dict[str, Any]:
        return {"name": "gyre", "version": _gyre_version(), "extensions": []}

    def _metadata(served: ServedModel) -> dict[str, Any]:
        sig = served.loaded.signature or {}
        return {
            "name": served.name,
            "versions": [str(v) for n, v in sorted(models.by_version) if n == served.name],
            "platform": served.flavor,
            "inputs": [
                {
                    "name": i["name"],
                    "datatype": OIP_TYPES.get(i["type"], "BYTES"),
                    "shape": i.get("shape", [-1]),
                }
                for i in sig.get("inputs", [])
            ],
            "outputs": [
                {
                    "name": o["name"],
                    "datatype": OIP_TYPES.get(o.get("type", ""), "BYTES"),
                    "shape": o.get("shape", [-1]),
                }
                for o in sig.get("outputs", [])
            ],
        }

    @app.get("/v2/models/{name}")
    @app.get("/v2/models/{name}/versions/{version}")
    async def model_metadata(request: Request, name: str, version: str | None = None) -> Response:
        try:
            served = models.get(name, version)
        except LookupError as exc:
            return _error_response(request, _RequestError(404, "not_found", str(exc)))
        return JSONResponse(_metadata(served))

    @app.get("/v2/models/{name}/ready")
    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def model_ready(request: Request, name: str, version: str | None = None) -> Response:
        try:
            models.get(name, version)
        except LookupError as exc:
            return _error_response(request, _RequestError(404, "not_found", str(exc)))
        return JSONResponse({"name": name, "ready": True})

    # -- inference ---------------------------------------------------------------------------

    @app.post("/v2/models/{name}/infer")
    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def infer(request: Request, name: str, version: str | None = None) -> Response:
        started = time.perf_counter()
        try:
            try:
                served = models.get(name, version)
            except LookupError as exc:
                raise _RequestError(404, "not_found", str(exc)) from None
            request.state.model = served
            body = await _body(request)
            tensors = _oip_inputs(body, served)
            if served.flavor == "python":
                outputs = await _predict(
                    request, served, {t["name"]: t["data"] for t in tensors}, False
                )
                rows_in: list[Any] = [{t["name"]: t["data"] for t in tensors}]
                rows_out: list[Any] = [outputs]
            else:
                rows_in = tensors[0]["data"]
                outputs = await _predict(request, served, rows_in, True)
                rows_out = list(outputs)
            _collect(request, served, rows_in, rows_out, started)
        except _RequestError as error:
            return _error_response(request, error)
        data = outputs if isinstance(outputs, list) else [outputs]
        return JSONResponse(
            {
                "model_name": served.name,
                "model_version": str(served.version),
                "id": body.get("id") or request.state.request_id,
                "outputs": [
                    {
                        "name": "output",
                        "datatype": _datatype(data),
                        "shape": _shape(data),
                        "data": _flat(data),
                    }
                ],
            }
        )

    @app.post("/score")
    @app.post("/score/{name}")
    async def score(request: Request, name: str | None = None) -> Response:
        started = time.perf_counter()
        try:
            try:
                served = models.get(name) if name else models.only()
            except LookupError as exc:
                raise _RequestError(404, "not_found", str(exc)) from None
            request.state.model = served
            body = await _body(request)
            if served.flavor == "python":
                _check_images(body, served)
                output = await _predict(request, served, body, False)
                items_in: list[Any] = body if isinstance(body, list) else [body]
                predictions = (
                    output if isinstance(body, list) and isinstance(output, list) else [output]
                )
            else:
                records = (
                    body.get("records", body.get("inputs")) if isinstance(body, dict) else body
                )
                if isinstance(body, dict) and records is None:
                    records = [body]
                if not isinstance(records, list) or not records:
                    raise _RequestError(
                        400,
                        "invalid_input",
                        'send a JSON record, a list of records, or {"records": [...]}',
                        "records",
                    )
                if all(isinstance(r, dict) for r in records) and served.loaded.signature:
                    _validate(served, records)
                elif served.loaded.signature:
                    _validate_tensor(served, records)
                items_in = records
                predictions = await _predict(request, served, records, True)
            _collect(request, served, items_in, list(predictions), started)
        except _RequestError as error:
            return _error_response(request, error)
        return JSONResponse(
            {
                "predictions": predictions,
                "model": served.name,
                "version": served.version,
                "request_id": request.state.request_id,
            }
        )

    @app.get("/metrics")
    async def prometheus() -> Response:
        if journal is not None:
            metrics.dropped.set(journal.dropped)
            metrics.journaled.set(journal.written)
        if converter is not None:
            metrics.converted.set(converter.rows_converted)
        for served in models.by_version.values():
            if served.batcher is not None:
                metrics.batches.labels(served.name, str(served.version)).set(served.batcher.batches)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return _RequestContext(app, options, metrics)


class _RequestContext:
    """Request ids, the body-size limit, access logs and per-version metrics, as plain ASGI
    (Starlette's decorator middleware costs a second response wrapper per request)."""

    def __init__(self, app: FastAPI, options: ServerOptions, metrics: _Metrics) -> None:
        self.app = app
        self.options = options
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode() or uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"], state["model"] = request_id, None
        started = time.perf_counter()
        status = 500
        id_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        length = headers.get(b"content-length", b"")
        limit = self.options.max_body_bytes
        if length.isdigit() and int(length) > limit:
            message = f"the body is {length.decode()} bytes; the limit is {limit}"
            path = scope["path"]
            body: dict[str, Any] = (
                {"error": message}
                if path.startswith("/v2/")
                else {
                    "error": {
                        "type": "too_large",
                        "message": message,
                        "field": None,
                        "request_id": request_id,
                    }
                }
            )
            await JSONResponse(body, status_code=413)(scope, receive, send_with_id)
        else:
            await self.app(scope, receive, send_with_id)
        elapsed = time.perf_counter() - started
        served = state.get("model")
        access_log.info(
            json.dumps(
                {
                    "ts": time.time(),
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "latency_ms": round(elapsed * 1000, 3),
                    "model": served.name if served else None,
                    "version": served.version if served else None,
                }
            )
        )
        if served is not None:
            route = "oip" if scope["path"].startswith("/v2/") else "score"
            labels = (served.name, str(served.version))
            self.metrics.requests.labels(*labels, route, str(status)).inc()
            self.metrics.latency.labels(*labels, route).observe(elapsed)


def _validate(served: ServedModel, records: list[dict[str, Any]]) -> None:
    try:
        signatures.validate_records(served.loaded.signature or {}, records)
    except InvalidParameter as exc:
        raise _RequestError(400, "invalid_input", str(exc), exc.field) from None


def _validate_tensor(served: ServedModel, rows: list[Any]) -> None:
    spec = (served.loaded.signature or {}).get("inputs", [{}])[0]
    shape = spec.get("shape")
    name = spec.get("name", "input")
    for index, row in enumerate(rows):
        if (
            shape
            and len(shape) > 1
            and _shape(row) != [d if d != -1 else _shape(row)[i] for i, d in enumerate(shape[1:])]
        ):
            raise _RequestError(
                400,
                "invalid_input",
                f"row {index} of {name!r} has shape {_shape(row)}; the model takes {shape[1:]}",
                name,
            )
        for value in _flat([row]):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _RequestError(
                    400,
                    "invalid_input",
                    f"row {index} of {name!r} holds {value!r}, not a number",
                    name,
                )
            if isinstance(value, float) and math.isnan(value) and not spec.get("nullable"):
                raise _RequestError(
                    400, "invalid_input", f"row {index} of {name!r} holds NaN", name
                )


def _check_images(body: Any, served: ServedModel) -> None:
    specs = [i for i in (served.loaded.signature or {}).get("inputs", []) if i["type"] == "image"]
    items = body if isinstance(body, list) else [body]
    for spec in specs:
        for index, item in enumerate(items):
            value = item.get(spec["name"]) if isinstance(item, dict) else None
            if not isinstance(value, str):
                raise _RequestError(
                    400,
                    "invalid_input",
                    f"item {index} needs {spec['name']!r}: a base64-encoded image",
                    spec["name"],
                )
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise _RequestError(
                    400,
                    "invalid_input",
                    f"item {index} field {spec['name']!r} is not valid base64",
                    spec["name"],
                ) from None


def _oip_inputs(body: Any, served: ServedModel) -> list[dict[str, Any]]:
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not inputs:
        raise _RequestError(
            400,
            "invalid_input",
            "an inference request needs 'inputs': [{name, shape, datatype, data}]",
            "inputs",
        )
    tensors = []
    for index, tensor in enumerate(inputs):
        for key in ("name", "shape", "datatype", "data"):
            if not isinstance(tensor, dict) or key not in tensor:
                raise _RequestError(
                    400,
                    "invalid_input",
                    f"inputs[{index}] has no {key!r}",
                    f"inputs[{index}].{key}",
                )
        data = tensor["data"]
        shape = tensor["shape"]
        flat = _flat(data)
        expected = math.prod(shape) if shape else len(flat)
        if len(flat) != expected:
            raise _RequestError(
                400,
                "invalid_input",
                f"inputs[{index}] ({tensor['name']!r}) has {len(flat)} values for shape {shape}",
                tensor["name"],
            )
        if tensor["datatype"] != "BYTES":
            for value in flat:
                if (isinstance(value, bool) and tensor["datatype"] != "BOOL") or not isinstance(
                    value, int | float | bool
                ):
                    raise _RequestError(
                        400,
                        "invalid_input",
                        f"inputs[{index}] ({tensor['name']!r}) holds {value!r}, "
                        f"not {tensor['datatype']}",
                        tensor["name"],
                    )
                if isinstance(value, float) and math.isnan(value):
                    raise _RequestError(
                        400,
                        "invalid_input",
                        f"inputs[{index}] ({tensor['name']!r}) holds NaN",
                        tensor["name"],
                    )
        tensors.append(
            {
                "name": tensor["name"],
                "data": _reshape(flat, shape) if shape and len(shape) > 1 else flat,
            }
        )
    return tensors


def _flat(data: Any) -> list[Any]:
    if isinstance(data, list):
        out: list[Any] = []
        for item in data:
            out.extend(_flat(item))
        return out
    return [data]


def _shape(data: Any) -> list[int]:
    shape = []
    while isinstance(data, list):
        shape.append(len(data))
        data = data[0] if data else None
    return shape


def _reshape(flat: list[Any], shape: list[int]) -> list[Any]:
    if len(shape) == 1:
        return flat
    step = math.prod(shape[1:])
    return [_reshape(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def _datatype(data: list[Any]) -> str:
    flat = _flat(data)
    if flat and all(isinstance(v, bool) for v in flat):
        return "BOOL"
    if flat and all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
        return "INT64"
    if flat and all(isinstance(v, int | float) for v in flat):
        return "FP64"
    return "BYTES"


def _gyre_version() -> str:
    from gyre import __version__

    return __version__
