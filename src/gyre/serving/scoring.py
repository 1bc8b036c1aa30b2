"""The scoring path: a request body in, predictions and a journal line out.

``POST /score[/{name}]`` takes JSON records (or, for python-flavor models, whatever their
``run(data)`` takes, such as the talk's ``{"image": "<base64>"}``); ``POST
/v2/models/{name}[/versions/{v}]/infer`` takes Open Inference Protocol v2 tensors. Records of a
numeric signature become one float array, checked in bulk; the micro-batcher predicts arrays
from several requests in one call. Every scored row is journaled before the answer is sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gyre.errors import GyreError, InvalidParameter
from gyre.serving import journal as journals
from gyre.serving import mlflow_protocol, oip
from gyre.serving.batching import Admission
from gyre.serving.journal import Journal
from gyre.serving.metrics import ServingMetrics
from gyre.serving.payloads import (
    RequestError,
    check_images,
    decode,
    encode,
    records_of,
    records_to_array,
    validate_records,
    validate_tensor_rows,
)
from gyre.serving.served_models import ServedModel

log = logging.getLogger("gyre.serving")
Receive = Callable[[], Awaitable[dict[str, Any]]]


@dataclass
class Exchange:
    """One request as it goes through the server: its id, the model it reached, its status."""

    request_id: str
    started: float
    model: ServedModel | None = None
    status: int = 500
    header_length: bytes = b""  # Inference-Header-Content-Length (binary tensor data)
    content_type: str = "application/json"
    json_length: int | None = None  # of the answer, when binary tensor data follows it
    body: bytes | None = None  # the request's, once read (a shadow version scores it again)


@dataclass
class Scorer:
    max_body_bytes: int
    metrics: ServingMetrics
    journal: Journal | None = None
    _group: _JournalGroup | None = field(default=None, init=False, repr=False)

    async def read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestError(400, "disconnected", "the client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise RequestError(
                    413, "too_large", f"the body is over the limit of {self.max_body_bytes} bytes"
                )
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def score(self, exchange: Exchange, served: ServedModel, receive: Receive) -> bytes:
        """``POST /score``: the response body."""
        with _admit(served) as admission:
            raw = exchange.body = await self.read_body(receive)
            fast = served.records_decoder.decode(raw) if served.records_decoder else None
            if fast is not None:
                array, is_list = fast
                predictions, journaled = await self._predict_journaled(
                    exchange, served, array, admission
                )
                if not journaled:
                    inputs = raw if is_list else b"[" + raw + b"]"
                    await self._collect(exchange, served, inputs, predictions)
                return self._score_answer(exchange, served, predictions)
            body = decode(raw)
            signature = served.loaded.signature or {}
            if served.flavor == "python":
                check_images(body, signature)
                admission.withdraw()
                output = await self._predict_alone(exchange, served, body)
                many = isinstance(body, list) and isinstance(output, list)
                predictions = output if many else [output]
                inputs = raw if isinstance(body, list) else b"[" + raw + b"]"
            else:
                records = records_of(body)
                predictions = await self._predict_records(exchange, served, records, admission)
                inputs = raw if records is body else encode(records)
        await self._collect(exchange, served, inputs, predictions)
        return self._score_answer(exchange, served, predictions)

    async def _predict_records(
        self, exchange: Exchange, served: ServedModel, records: list[Any], admission: Admission
    ) -> Any:
        """Records (or rows) checked against the signature, then predicted in a batch."""
        signature = served.loaded.signature or {}
        rows: Any = records
        specs = signature.get("inputs") or []
        if served.takes_arrays:
            rows = records_to_array(signature, records)
        elif len(specs) == 1 and specs[0].get("shape"):
            validate_tensor_rows(signature, records)
        elif specs:
            validate_records(signature, records)
        return await self._predict_batched(exchange, served, rows, admission)

    async def invocations(self, exchange: Exchange, served: ServedModel, receive: Receive) -> bytes:
        """``POST /invocations`` (MLflow's scoring protocol): the response body."""
        with _admit(served) as admission:
            raw = exchange.body = await self.read_body(receive)
            rows = mlflow_protocol.rows_of(raw, exchange.content_type)
            if served.flavor == "python":
                admission.withdraw()
                output = await self._predict_alone(exchange, served, rows)
                predictions = output if isinstance(output, list) else [output]
            else:
                predictions = await self._predict_records(exchange, served, rows, admission)
        await self._collect(exchange, served, encode(rows), predictions)
        return encode({"predictions": predictions})

    @staticmethod
    def _score_answer(exchange: Exchange, served: ServedModel, predictions: Any) -> bytes:
        return encode(
            {
                "predictions": predictions,
                "model": served.name,
                "version": served.version,
                "request_id": exchange.request_id,
            }
        )

    async def infer(self, exchange: Exchange, served: ServedModel, receive: Receive) -> bytes:
        """``POST /v2/models/{name}/infer``: the response body (Open Inference Protocol v2);
        ``exchange.json_length`` is set when binary tensor data follows the JSON."""
        with _admit(served) as admission:
            raw = exchange.body = await self.read_body(receive)
            request = oip.parse_request(raw, oip.header_length(exchange.header_length))
            oip.check_outputs(request, served.output_name)
            bound = oip.bind(
                served.loaded.signature, served.flavor, served.takes_arrays, request.inputs
            )
            if served.flavor == "python":
                admission.withdraw()
                output = await self._predict_alone(exchange, served, bound.rows)
                await self._collect(exchange, served, encode([bound.rows]), [output])
                predictions = output
            else:
                predictions, journaled = await self._predict_journaled(
                    exchange, served, bound.rows, admission
                )
                if not journaled:
                    await self._collect(exchange, served, encode(bound.rows), predictions)
        body, exchange.json_length = oip.response(
            request,
            served.name,
            served.version,
            exchange.request_id,
            served.output_name,
            predictions,
        )
        return body

    async def _predict_batched(
        self, exchange: Exchange, served: ServedModel, rows: Any, admission: Admission
    ) -> Any:
        assert served.batcher is not None
        try:
            return await served.batcher.submit(rows, admission)
        except Exception as exc:
            raise _model_failure(exchange, served, exc) from exc

    async def _predict_journaled(
        self, exchange: Exchange, served: ServedModel, rows: Any, admission: Admission
    ) -> tuple[Any, bool]:
        """Predict in a batch whose journal lines are written together before any answer."""
        assert served.batcher is not None
        if self.journal is None or not served.columns or not served.takes_arrays:
            return await self._predict_batched(exchange, served, rows, admission), False

        def line_for(predictions: Any) -> bytes | None:
            return self._array_line(exchange, served, rows, predictions)

        try:
            return await served.batcher.submit_journaled(rows, line_for, admission)
        except Exception as exc:
            raise _model_failure(exchange, served, exc) from exc

    def write_lines(self, lines: list[bytes], rows: int) -> None:
        """The batcher's hook: one write for a batch's journal lines. Never raises: rows the
        journal could not take are counted and logged, and the answers go out."""
        assert self.journal is not None
        try:
            recorded = self.journal.append(b"".join(lines), rows)
        except OSError:
            self.journal.dropped += rows
            log.exception("collector: the journal write failed; %d row(s) not recorded", rows)
            return
        if not recorded:
            log.warning(
                "collector: journal full or disk full; %d row(s) of %d request(s) not recorded",
                rows,
                len(lines),
            )

    async def _predict_alone(self, exchange: Exchange, served: ServedModel, data: Any) -> Any:
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, served.loaded.predict, data)
        except Exception as exc:
            raise _model_failure(exchange, served, exc) from exc

    def _array_line(
        self, exchange: Exchange, served: ServedModel, rows: Any, predictions: Any
    ) -> bytes | None:
        if self.journal is None or not served.columns or not isinstance(predictions, np.ndarray):
            return None
        return journals.encode_array_line(
            exchange.request_id,
            served.name,
            served.version,
            time.time(),
            (time.perf_counter() - exchange.started) * 1000,
            served.columns,
            rows,
            predictions,
        )

    async def _collect(
        self, exchange: Exchange, served: ServedModel, inputs: bytes, predictions: Any
    ) -> None:
        if self.journal is None:
            return
        line = journals.encode_line(
            exchange.request_id,
            served.name,
            served.version,
            time.time(),
            (time.perf_counter() - exchange.started) * 1000,
            inputs,
            encode(predictions),
        )
        await self._journal(exchange, line, len(predictions))

    async def _journal(self, exchange: Exchange, line: bytes, rows: int) -> None:
        """Journal one request's line before its answer goes out. The requests answered in the
        same turn of the event loop (a micro-batch) share one write: the first schedules it,
        the others join, and each waits for it."""
        group = self._group
        if group is None:
            loop = asyncio.get_running_loop()
            group = self._group = _JournalGroup(loop.create_future())
            loop.call_soon(self._write_group)
        group.lines.append(line)
        group.rows += rows
        group.request_ids.append(exchange.request_id)
        await group.written

    def _write_group(self) -> None:
        group, self._group = self._group, None
        if group is None or self.journal is None:
            return
        try:
            recorded = self.journal.append(b"".join(group.lines), group.rows)
        except Exception as exc:  # an I/O error other than a full disk: every waiter sees it
            group.written.set_exception(exc)
            return
        if not recorded:
            log.warning(
                "collector: journal full or disk full; %d row(s) of request(s) %s not recorded",
                group.rows,
                ", ".join(group.request_ids),
            )
        group.written.set_result(recorded)


@dataclass
class _JournalGroup:
    written: asyncio.Future[bool]
    lines: list[bytes] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    rows: int = 0


def _admit(served: ServedModel) -> Admission:
    """The request's admission to its model's micro-batcher (a no-op without one)."""
    return served.batcher.admit() if served.batcher is not None else Admission(None)


def _model_failure(exchange: Exchange, served: ServedModel, exc: Exception) -> RequestError:
    if isinstance(exc, InvalidParameter):
        return RequestError(400, "invalid_input", str(exc), exc.field)
    log.error(
        "model %s@%s raised (request %s)",
        served.name,
        served.version,
        exchange.request_id,
        exc_info=exc,
    )
    detail = (
        "on this input" if isinstance(exc, GyreError | ValueError | TypeError | KeyError) else ""
    )
    return RequestError(
        500,
        "model_error",
        f"the model failed{' ' + detail if detail else ''}; request id {exchange.request_id}",
    )
