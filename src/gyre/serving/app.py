"""The scoring app (ASGI): Open Inference Protocol v2, ``POST /score``, ``/metrics``.

It holds one or more model versions at once (the release capability routes traffic between
them). Every request gets an id (``X-Request-ID``, taken from the client or made here), one
structured access-log line, and Prometheus counters and a latency histogram per model version.
Input is validated against the model's signature: bad input is a 4xx naming the field; a model
that raises is a 500 carrying the request id, and the server keeps serving. Every scored item
is journaled before the response is sent (see ``journal.py``).

The two scoring routes are plain ASGI (:mod:`gyre.serving.scoring`): a framework's routing,
request objects and dependency solving would cost more than a small model's predict. Health,
metadata and metrics go through FastAPI.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI

from gyre.errors import NotFound
from gyre.serving import info_routes, openapi
from gyre.serving.batching import Lane, MicroBatcher
from gyre.serving.journal import Journal
from gyre.serving.metrics import ServingMetrics
from gyre.serving.payloads import RequestError
from gyre.serving.scoring import Exchange, Scorer
from gyre.serving.served_models import Models, ServedModel

access_log = logging.getLogger("gyre.access")
log = logging.getLogger("gyre.serving")
JSON_HEADERS = [(b"content-type", b"application/json")]
# Which version answered (every scoring response); in a request, the version to answer with.
VERSION_HEADER = b"gyre-model-version"
SHADOW_IN_FLIGHT = 64  # copies a shadow version scores at once; more are skipped and counted
# Copies a shadow scores per second at most (a burst of SHADOW_BURST): under light traffic every
# request is copied; under heavy traffic a sample, so that a release's shadow phase does not
# double the work of the endpoint that clients are waiting on (a copy is a whole second
# scoring: parsing, validation, prediction, journal). Skipped copies are counted.
SHADOW_PER_S = 250.0
SHADOW_BURST = 50.0


@dataclass
class ServerOptions:
    max_batch: int = 512
    max_wait_ms: float = 5.0
    max_body_bytes: int = 10 << 20
    collect: bool = True


def create_app(
    models: Models,
    options: ServerOptions,
    *,
    journal: Journal | None = None,
    converter: Any = None,
) -> ScoringApp:
    """The ASGI app: the scoring routes, and FastAPI for the rest, inside the request context.
    A shadow version's answers go to a journal of their own (:meth:`ScoringApp.collect_shadow`)."""
    metrics = ServingMetrics()
    scorer = Scorer(options.max_body_bytes, metrics, journal if options.collect else None)
    app = ScoringApp(models, options, metrics, scorer, Scorer(options.max_body_bytes, metrics))
    if journal is not None:
        app.collections.append((journal, converter))
    app.framework = _framework_app(models, metrics, journal, converter, _lifespan(app))
    for served in models.by_version.values():
        app.attach(served)
    for served in models.shadows.values():
        app.attach(served, shadow=True)
    return app


def _lifespan(app: ScoringApp) -> Any:
    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        for _, converter in app.collections:
            if converter is not None:
                converter.start()
        app.started = True
        yield
        await app.drain_shadows()
        for served in [*app.models.by_version.values(), *app.models.shadows.values()]:
            if served.batcher is not None:
                await served.batcher.close()
        for journal, _ in app.collections:
            journal.close()  # synced: the converter's last pass sees every line
        for _, converter in app.collections:
            if converter is not None:
                converter.stop()

    return lifespan


def _framework_app(
    models: Models, metrics: ServingMetrics, journal: Journal | None, converter: Any, lifespan: Any
) -> FastAPI:
    app = FastAPI(title="gyre scoring", lifespan=lifespan, docs_url=None, redoc_url=None)
    info_routes.add_routes(app, models, metrics, journal, converter)
    openapi.install(app, models)
    return app


def scoring_route(path: str) -> tuple[str, str | None, str | None] | None:
    """("score" | "infer" | "invocations", model name, version) for the scoring paths."""
    parts = path.strip("/").split("/")
    if parts[0] == "score" and len(parts) <= 2:
        return "score", parts[1] if len(parts) == 2 else None, None
    if parts == ["invocations"]:
        return "invocations", None, None
    if len(parts) >= 4 and parts[:2] == ["v2", "models"] and parts[-1] == "infer":
        if len(parts) == 4:
            return "infer", parts[2], None
        if len(parts) == 6 and parts[3] == "versions":
            return "infer", parts[2], parts[4]
    return None


def mlflow_error(status: int, message: str) -> dict[str, str]:
    code = {404: "RESOURCE_DOES_NOT_EXIST", 413: "BAD_REQUEST"}.get(status, "BAD_REQUEST")
    return {"error_code": code if status < 500 else "INTERNAL_ERROR", "message": message}


class ScoringApp:
    """Request ids, the body-size limit, access logs and per-version metrics around every
    request; the scoring routes answered here, the rest by the framework app."""

    def __init__(
        self,
        models: Models,
        options: ServerOptions,
        metrics: ServingMetrics,
        scorer: Scorer,
        shadow_scorer: Scorer,
    ) -> None:
        self.models = models
        self.options = options
        self.metrics = metrics
        self.scorer = scorer
        self.shadow_scorer = shadow_scorer
        self.framework: FastAPI  # set by create_app: its lifespan needs this app
        self.collections: list[tuple[Journal, Any]] = []  # (journal, its converter or None)
        self.started = False
        self._shadow_tasks: set[asyncio.Task[None]] = set()
        self._shadow_budget = TokenBucket(SHADOW_PER_S, SHADOW_BURST)
        # One batcher per model name, shared by its versions (split and shadow) through lanes.
        self._batchers: dict[str, MicroBatcher] = {}

    def attach(self, served: ServedModel, *, shadow: bool = False) -> None:
        """Give a held version its lane (once) onto its model's micro-batcher, journaling to
        the dataset of its role (the endpoint's, or its shadow's)."""
        if served.flavor == "python":
            return
        if served.batcher is None:
            shared = self._batchers.get(served.name)
            if shared is None or shared.closed:
                shared = MicroBatcher(
                    served.loaded.predict,
                    max_batch=self.options.max_batch,
                    max_wait_s=self.options.max_wait_ms / 1000,
                )
                self._batchers[served.name] = shared
            served.batcher = Lane(shared, served.loaded.predict)
        scorer = self.shadow_scorer if shadow else self.scorer
        served.batcher.write_lines = scorer.write_lines if scorer.journal is not None else None

    def collect_shadow(self, journal: Journal, converter: Any) -> None:
        """Journal shadow answers to ``journal`` from now on (its converter starts with the
        server, or now when the server runs already)."""
        if self.shadow_scorer.journal is not None or not self.options.collect:
            return
        self.shadow_scorer.journal = journal
        self.collections.append((journal, converter))
        if self.started and converter is not None:
            converter.start()
        for served in self.models.shadows.values():
            if served.batcher is not None:
                served.batcher.write_lines = self.shadow_scorer.write_lines

    async def detach(self, served: ServedModel, *, grace_s: float = 30.0) -> None:
        """Close a version no request is routed to any more, once its requests are answered
        (at most ``grace_s`` later)."""
        deadline = time.monotonic() + grace_s
        while served.in_flight > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if served.batcher is not None:
            await served.batcher.close()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.framework(scope, receive, send)
            return
        request_id = pinned = ""
        length = header_length = b""
        content_type = "application/json"
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                request_id = value.decode("latin-1")
            elif key == b"content-length":
                length = value
            elif key == b"content-type":
                content_type = value.decode("latin-1")
            elif key == b"inference-header-content-length":
                header_length = value.strip()
            elif key == VERSION_HEADER:
                pinned = value.decode("latin-1").strip()
        exchange = Exchange(request_id or uuid.uuid4().hex, time.perf_counter())
        exchange.header_length = header_length
        exchange.content_type = content_type
        path = scope["path"]
        route = scoring_route(path)
        try:
            if route is not None and scope["method"] != "POST":
                route = None
                raise RequestError(
                    405, "method_not_allowed", f"{path} takes POST, not {scope['method']}"
                )
            if length.isdigit() and int(length) > self.options.max_body_bytes:
                raise RequestError(
                    413,
                    "too_large",
                    f"the body is {length.decode()} bytes; the limit is "
                    f"{self.options.max_body_bytes}",
                )
            if route is None:
                await self._framework(exchange, scope, receive, send)
            else:
                if pinned and route[2] is None:
                    route = (route[0], route[1], pinned)
                body = await self._score(exchange, route, receive)
                await self._respond(exchange, 200, body, send)
                if self.models.shadows:
                    self._shadow(exchange, route)
        except RequestError as error:
            await self._respond(
                exchange, error.status, self._error_body(exchange, path, error), send
            )
        except Exception:  # a defect of the server itself: answered, logged, and serving goes on
            log.exception("request %s failed", exchange.request_id)
            failure = RequestError(
                500, "internal", f"internal error; request id {exchange.request_id}"
            )
            await self._respond(exchange, 500, self._error_body(exchange, path, failure), send)
        self._account(exchange, scope, route)

    async def _score(
        self, exchange: Exchange, route: tuple[str, str | None, str | None], receive: Any
    ) -> bytes:
        kind, name, version = route
        try:
            served = self.models.route(name, version)
        except NotFound as exc:
            raise RequestError(404, "not_found", str(exc)) from None
        exchange.model = served
        shadow = self.models.shadows.get(served.name) is served
        scorer = self.shadow_scorer if shadow else self.scorer  # asked for by number
        served.in_flight += 1
        try:
            return await self._answer(scorer, kind, exchange, served, receive)
        finally:
            served.in_flight -= 1

    @staticmethod
    async def _answer(
        scorer: Scorer, kind: str, exchange: Exchange, served: ServedModel, receive: Any
    ) -> bytes:
        if kind == "score":
            return await scorer.score(exchange, served, receive)
        if kind == "invocations":
            return await scorer.invocations(exchange, served, receive)
        return await scorer.infer(exchange, served, receive)

    def _shadow(self, exchange: Exchange, route: tuple[str, str | None, str | None]) -> None:
        """Score a copy of an answered request with the shadow version, off the request path:
        its answer is journaled to the shadow's dataset and never returned. At most
        ``SHADOW_IN_FLIGHT`` copies are scored at once and ``SHADOW_PER_S`` a second: a slower
        shadow, or heavy traffic, gives a sample of the traffic (the rest counted as
        ``shadow_skipped`` errors) instead of a backlog that grows."""
        served = exchange.model
        shadow = self.models.shadows.get(served.name) if served is not None else None
        if shadow is None or shadow is served or exchange.body is None:
            return
        if len(self._shadow_tasks) >= SHADOW_IN_FLIGHT or not self._shadow_budget.take():
            self.metrics.error(shadow.name, shadow.version, "shadow_skipped")
            return
        task = asyncio.get_running_loop().create_task(self._score_shadow(exchange, route, shadow))
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_tasks.discard)

    async def _score_shadow(
        self,
        exchange: Exchange,
        route: tuple[str, str | None, str | None],
        shadow: ServedModel,
    ) -> None:
        copy = Exchange(exchange.request_id, time.perf_counter())
        copy.content_type = exchange.content_type
        copy.header_length = exchange.header_length
        body = exchange.body

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        shadow.in_flight += 1
        try:
            await self._answer(self.shadow_scorer, route[0], copy, shadow, receive)
            copy.status = 200
        except RequestError as error:
            copy.status = error.status
            self.metrics.error(shadow.name, shadow.version, error.kind)
        except Exception:  # a shadow never disturbs the answer that was already sent
            log.exception(
                "shadow %s@%s failed on request %s",
                shadow.name,
                shadow.version,
                exchange.request_id,
            )
            self.metrics.error(shadow.name, shadow.version, "internal")
        finally:
            shadow.in_flight -= 1
        self.metrics.observe(
            shadow.name, shadow.version, "shadow", copy.status, time.perf_counter() - copy.started
        )

    async def drain_shadows(self) -> None:
        if self._shadow_tasks:
            await asyncio.wait(list(self._shadow_tasks), timeout=30)

    async def _framework(self, exchange: Exchange, scope: Any, receive: Any, send: Any) -> None:
        id_header = (b"x-request-id", exchange.request_id.encode())

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        scope = {**scope, info_routes.REQUEST_ID_KEY: exchange.request_id}
        await self.framework(scope, receive, send_with_id)

    async def _respond(self, exchange: Exchange, status: int, body: bytes, send: Any) -> None:
        exchange.status = status
        headers = [
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", exchange.request_id.encode()),
        ]
        if exchange.model is not None:
            headers.append((VERSION_HEADER, b"%d" % exchange.model.version))
        if status == 200 and exchange.json_length is not None:  # binary tensor data follows
            headers.append((b"content-type", b"application/octet-stream"))
            headers.append((b"inference-header-content-length", b"%d" % exchange.json_length))
        else:
            headers.extend(JSON_HEADERS)
        if status == 405:
            headers.append((b"allow", b"POST"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _error_body(self, exchange: Exchange, path: str, error: RequestError) -> bytes:
        served = exchange.model
        if served is not None:
            self.metrics.error(served.name, served.version, error.kind)
        if path.startswith("/v2/"):
            return orjson.dumps({"error": str(error)})  # the protocol's own error shape
        if path == "/invocations":
            return orjson.dumps(mlflow_error(error.status, str(error)))  # MLflow's own shape
        return orjson.dumps(
            {
                "error": {
                    "type": error.kind,
                    "message": str(error),
                    "field": error.field,
                    "request_id": exchange.request_id,
                }
            }
        )

    def _account(
        self, exchange: Exchange, scope: Any, route: tuple[str, str | None, str | None] | None
    ) -> None:
        elapsed = time.perf_counter() - exchange.started
        served = exchange.model
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                orjson.dumps(
                    {
                        "ts": time.time(),
                        "request_id": exchange.request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": exchange.status,
                        "latency_ms": round(elapsed * 1000, 3),
                        "model": served.name if served else None,
                        "version": served.version if served else None,
                    }
                ).decode()
            )
        if served is not None and route is not None:
            self.metrics.observe(
                served.name,
                served.version,
                "oip" if route[0] == "infer" else "score",
                exchange.status,
                elapsed,
            )


class TokenBucket:
    """``rate`` takes a second, ``burst`` at once (time from the monotonic clock)."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True
