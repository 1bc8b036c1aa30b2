"""Adaptive micro-batching: requests that arrive together are predicted in one call.

A batch takes every request already queued, up to ``max_batch`` rows. Alone, a request is
predicted at once; when others arrived with it (load), the batch waits up to ``max_wait_s``
for more, so the model's per-call overhead is shared.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class MicroBatcher:
    def __init__(
        self, predict: Callable[[list[Any]], list[Any]], *, max_batch: int, max_wait_s: float
    ) -> None:
        self.predict = predict
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._queue: asyncio.Queue[tuple[list[Any], asyncio.Future[list[Any]]]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self.batches = 0

    def _ensure_started(self) -> asyncio.Queue[tuple[list[Any], asyncio.Future[list[Any]]]]:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._run())
        return self._queue

    async def submit(self, rows: list[Any]) -> list[Any]:
        queue = self._ensure_started()
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        await queue.put((rows, future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            pending = [first]
            size = len(first[0])
            while size < self.max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                pending.append(item)
                size += len(item[0])
            if len(pending) > 1:  # requests are arriving together: wait a little for more
                deadline = loop.time() + self.max_wait_s
                while size < self.max_batch:
                    timeout = deadline - loop.time()
                    if timeout <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(self._queue.get(), timeout)
                    except TimeoutError:
                        break
                    pending.append(item)
                    size += len(item[0])
            rows = [row for items, _ in pending for row in items]
            try:
                results = await loop.run_in_executor(None, self.predict, rows)
            except Exception as exc:  # every request of the batch gets the model's error
                for _, future in pending:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batches += 1
            start = 0
            for items, future in pending:
                if not future.done():
                    future.set_result(list(results[start : start + len(items)]))
                start += len(items)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
