"""Adaptive micro-batching: requests that arrive together are predicted in one call.

No timer decides alone. A batch takes every request already queued, up to ``max_batch`` rows,
then lets the event loop run the requests it has already received (they validate and queue in
a few microseconds) and takes those too. It waits longer, up to ``max_wait_s``, only while
requests for this model have been admitted but are not queued yet (their bodies are still
arriving). So a lone request is predicted at once, and under load a batch holds whatever
arrived while the previous one was being predicted.

Small models are predicted on the event loop itself: a thread hand-off costs more than their
predict. A model whose calls take longer than ``inline_limit_s`` (a moving average) is
predicted on a worker thread, so the loop keeps reading requests meanwhile.

A request may hand in, with its rows, a function that makes its journal line from its
predictions (:meth:`MicroBatcher.submit_journaled`): the batch's lines are then written with
one call to ``write_lines`` before any of its requests is answered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import numpy as np

INLINE_LIMIT_S = 0.0005
_Entry = tuple[Any, "asyncio.Future[tuple[Any, bool]]", "Callable[[Any], bytes | None] | None"]


def _join(parts: list[Any]) -> Any:
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(p, np.ndarray) for p in parts):
        return np.concatenate(parts)
    return [row for part in parts for row in part]


class MicroBatcher:
    def __init__(
        self,
        predict: Callable[[Any], Any],
        *,
        max_batch: int,
        max_wait_s: float,
        inline_limit_s: float = INLINE_LIMIT_S,
    ) -> None:
        self.predict = predict
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.inline_limit_s = inline_limit_s
        self._queue: asyncio.Queue[_Entry] | None = None
        self.write_lines: Callable[[list[bytes], int], None] | None = None
        self._worker: asyncio.Task[None] | None = None
        self.batches = 0
        self.expected = 0  # requests admitted whose rows are not queued yet
        self.call_seconds = 0.0  # moving average of one predict call

    def _ensure_started(self) -> asyncio.Queue[_Entry]:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._run())
        return self._queue

    def admit(self) -> Admission:
        """A request for this model has started; its rows will follow. The batch waits for it
        until it submits or the returned admission is withdrawn (use it as a context)."""
        self.expected += 1
        return Admission(self)

    async def submit(self, rows: Any, admission: Admission | None = None) -> Any:
        """Predict ``rows`` (a list or an array) in a batch; returns their predictions."""
        predictions, _ = await self._enqueue(rows, admission, None)
        return predictions

    async def submit_journaled(
        self,
        rows: Any,
        line_for: Callable[[Any], bytes | None],
        admission: Admission | None = None,
    ) -> tuple[Any, bool]:
        """Predict ``rows`` and journal ``line_for(predictions)`` with the rest of the batch
        before answering; returns (predictions, whether a line was handed to the journal)."""
        return await self._enqueue(rows, admission, line_for)

    def _enqueue(
        self,
        rows: Any,
        admission: Admission | None,
        line_for: Callable[[Any], bytes | None] | None,
    ) -> asyncio.Future[tuple[Any, bool]]:
        queue = self._ensure_started()
        if admission is not None:
            admission.withdraw()
        future: asyncio.Future[tuple[Any, bool]] = asyncio.get_running_loop().create_future()
        queue.put_nowait((rows, future, line_for))
        return future

    def _drain(self, pending: list[_Entry], size: int) -> int:
        assert self._queue is not None
        while size < self.max_batch and not self._queue.empty():
            item = self._queue.get_nowait()
            pending.append(item)
            size += len(item[0])
        return size

    async def _gather(self, first: _Entry) -> list[_Entry]:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        pending = [first]
        size = self._drain(pending, len(first[0]))
        deadline = loop.time() + self.max_wait_s
        while size < self.max_batch:
            before = size
            await asyncio.sleep(0)  # requests already received get to validate and queue
            size = self._drain(pending, size)
            if size > before:
                continue
            if self.expected <= 0:
                break
            timeout = deadline - loop.time()
            if timeout <= 0:
                break
            try:
                item = await asyncio.wait_for(self._queue.get(), timeout)
            except TimeoutError:
                break
            pending.append(item)
            size += len(item[0])
        return pending

    async def _call(self, rows: Any) -> Any:
        if self.call_seconds < self.inline_limit_s:
            started = time.perf_counter()
            results = self.predict(rows)
            elapsed = time.perf_counter() - started
        else:
            started = time.perf_counter()
            results = await asyncio.get_running_loop().run_in_executor(None, self.predict, rows)
            elapsed = time.perf_counter() - started
        self.call_seconds = (
            elapsed if self.batches == 0 else 0.8 * self.call_seconds + 0.2 * elapsed
        )
        return results

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            pending = await self._gather(await self._queue.get())
            try:
                results = await self._call(_join([rows for rows, _, _ in pending]))
            except Exception as exc:  # every request of the batch gets the model's error
                for _, future, _ in pending:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batches += 1
            answers: list[tuple[asyncio.Future[tuple[Any, bool]], Any, bool]] = []
            lines: list[bytes] = []
            journaled_rows = start = 0
            for rows, future, line_for in pending:
                part = results[start : start + len(rows)]
                start += len(rows)
                line = line_for(part) if line_for is not None else None
                if line is not None:
                    lines.append(line)
                    journaled_rows += len(part)
                answers.append((future, part, line is not None))
            if lines and self.write_lines is not None:
                self.write_lines(lines, journaled_rows)  # before anyone is answered
            for future, part, journaled in answers:
                if not future.done():
                    future.set_result((part, journaled and self.write_lines is not None))

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()


class Admission:
    """One admitted request: withdrawn once, when its rows are queued or it gives up."""

    def __init__(self, batcher: MicroBatcher | None) -> None:
        self._batcher = batcher

    def withdraw(self) -> None:
        if self._batcher is not None:
            self._batcher.expected = max(0, self._batcher.expected - 1)
            self._batcher = None

    def __enter__(self) -> Admission:
        return self

    def __exit__(self, *_: object) -> None:
        self.withdraw()
