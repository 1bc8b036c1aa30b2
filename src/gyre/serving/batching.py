"""Adaptive micro-batching: requests that arrive together are predicted in one call.

No timer decides alone. A batch takes every request already queued, up to ``max_batch`` rows,
then lets the event loop run the requests it has already received (they validate and queue in
a few microseconds) and takes those too. It waits longer, up to ``max_wait_s``, only while
requests for this model have been admitted but are not queued yet (their bodies are still
arriving). So a lone request is predicted at once, and under load a batch holds whatever
arrived while the previous one was being predicted.

Where a batch is predicted, on the event loop itself ("inline") or on a worker thread, is
measured, not guessed (:class:`PathChooser`). A call under ``inline_limit_s`` always runs inline:
a thread hand-off costs more than such a predict. A call over ``latency_cap_s`` always goes to
a thread, so the loop keeps reading requests (and answering health checks) meanwhile. Between
the two it depends on the model: one that releases the interpreter lock (native code) gains
from a thread, since the loop decodes the next requests while it runs, but one that holds it
(a scikit-learn forest's per-tree Python) loses: the loop and the thread then take turns at the
lock, each wait up to the interpreter's switch interval, and the batches shrink. So the batcher
measures the rows per second each path achieves over short windows of consecutive batches,
keeps the better one, and tries the other now and then (less often while it keeps losing).

A request may hand in, with its rows, a function that makes its journal line from its
predictions (:meth:`MicroBatcher.submit_journaled`): the batch's lines are then written with
one call to ``write_lines`` before any of its requests is answered.

The versions of one model that a server holds (a traffic split, a shadow) share one batcher
through a :class:`Lane` each: a batch then takes the rows of every version that arrived
together, predicts each version's rows with its own model and writes each journal's lines
once, so that splitting the traffic between two versions does not double the batches, the
journal writes and the event loop's turns (a release's canary steps cost 1.6 to 1.8 times the
steady p99 with a batcher per version).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

INLINE_LIMIT_S = 0.0005  # a call under this runs on the event loop, no question asked
# A call over this runs on a thread: the loop may not stall longer. (A 100-tree forest's call,
# 10 to 25 ms on the serving benchmark's 2-core VM, serves twice the rows inline.)
LATENCY_CAP_S = 0.05
WINDOW_S = 0.2  # a path's rows per second are measured over at least this long...
WINDOW_BATCHES = 5  # ...and this many batches
PROBE_EVERY_S = 2.0  # then the other path is tried; twice as late each time it loses...
PROBE_EVERY_MAX_S = 32.0  # ...up to this
MARGIN = 1.1  # the path tried must beat the one in use by this factor to take over
IDLE_S = 0.05  # a batch that waited this long for its first request: the server was idle
INLINE = "inline"
THREAD = "thread"
_PROBE = "probe"
_CONFIRM = "confirm"
log = logging.getLogger("gyre.serving")
_Entry = tuple[
    Any, "asyncio.Future[tuple[Any, bool]]", "Callable[[Any], bytes | None] | None", "Lane | None"
]


def _join(parts: list[Any]) -> Any:
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(p, np.ndarray) for p in parts):
        return np.concatenate(parts)
    return [row for part in parts for row in part]


class PathChooser:
    """Chooses where each batch is predicted, :data:`INLINE` or :data:`THREAD`, from what
    the calls cost and what each path achieves.

    ``call_seconds`` is a moving average of one call's own time: wall time when inline, the
    worker thread's CPU time when on a thread (waiting for the interpreter lock costs no CPU,
    so a call slowed by the loop's turns at the lock does not look slow and stay on a thread).
    The first call (a cold one: imports, caches) goes to a thread and only hints at the next.

    Between the limits, a window is a run of consecutive batches on one path, at least
    ``window_s`` long and ``WINDOW_BATCHES`` batches, from the first batch's start to the start
    of the batch after the last; its rate is their rows over that time. Every ``probe_every_s``
    the other path gets one window, and the path in use one more; the other takes over if its
    rate beats, by ``MARGIN``, both the window before it and the one after (a load that rises
    or falls during the try must not decide). Otherwise the next try waits twice as long (up to
    ``PROBE_EVERY_MAX_S``). Time the server spent idle (:meth:`idle`) is left out.
    """

    def __init__(
        self,
        *,
        inline_limit_s: float = INLINE_LIMIT_S,
        latency_cap_s: float = LATENCY_CAP_S,
        window_s: float = WINDOW_S,
        probe_every_s: float = PROBE_EVERY_S,
    ) -> None:
        self.inline_limit_s = inline_limit_s
        self.latency_cap_s = latency_cap_s
        self.window_s = window_s
        self.probe_every_s = probe_every_s
        self.path = INLINE  # the path in use between the limits
        self.call_seconds: float | None = None
        self.rates: dict[str, float] = {}  # path -> rows/s of its last window
        self.switches = 0
        self._calls = 0
        self._stage: str | None = None  # _PROBE: the other path's window; _CONFIRM: this one's
        self._before = 0.0  # the rate of the path in use before the probe
        self._every = probe_every_s
        self._next_probe: float | None = None
        self._last: tuple[str, float, int] | None = None  # the batch in progress
        self._window: list[Any] | None = None  # [path, start, rows, batches]

    def choose(self, now: float, rows: int) -> str:
        """A batch of ``rows`` starts at ``now`` (a monotonic clock): where it is predicted."""
        self._account(now)
        forced = self._forced()
        if forced is not None:
            self._stage = None
            path = forced
        else:
            if self._stage is None and self._next_probe is not None and now >= self._next_probe:
                self._stage = _PROBE
                self._before = self.rates.get(self.path, 0.0)
                self._window = None
            path = _other(self.path) if self._stage == _PROBE else self.path
        self._last = (path, now, rows)
        return path

    def record(self, path: str, seconds: float) -> None:
        """One call's own time (wall inline, the thread's CPU time on a thread)."""
        self._calls += 1
        if self._calls <= 2 or self.call_seconds is None:
            self.call_seconds = seconds  # the cold first call is only a hint for the second
        else:
            self.call_seconds = 0.8 * self.call_seconds + 0.2 * seconds

    def idle(self) -> None:
        """The next batch waited for its first request: the time since the last is no work."""
        self._last = None
        self._window = None

    def _forced(self) -> str | None:
        if self._calls == 0 or self.call_seconds is None:
            return THREAD
        if self.call_seconds >= self.latency_cap_s:
            return THREAD
        if self.call_seconds < self.inline_limit_s:
            return INLINE
        return None

    def _account(self, now: float) -> None:
        if self._last is None:
            return
        path, started, rows = self._last
        window = self._window
        if window is None or window[0] != path:
            window = self._window = [path, started, 0, 0]
        window[2] += rows
        window[3] += 1
        elapsed = now - window[1]
        if elapsed >= self.window_s and window[3] >= WINDOW_BATCHES:
            self._window = None
            self._close(path, window[2] / elapsed, now)

    def _close(self, path: str, rate: float, now: float) -> None:
        self.rates[path] = rate
        if self._stage == _PROBE and path != self.path:
            self._stage = _CONFIRM  # one more window of the path in use, after the probe
        elif self._stage == _CONFIRM and path == self.path:
            # The path tried must beat the one in use both before and after it: a load that
            # rose or fell during the probe must not decide.
            self._stage = None
            tried = _other(path)
            if self.rates.get(tried, 0.0) > MARGIN * max(self._before, rate):
                log.debug("batcher: %s beat %s; switching", tried, path)
                self.path, self._every = tried, self.probe_every_s
                self.switches += 1
            else:
                self._every = min(2 * self._every, PROBE_EVERY_MAX_S)
            self._next_probe = now + self._every
        elif self._next_probe is None:
            self._next_probe = now + self._every


def _other(path: str) -> str:
    return THREAD if path == INLINE else INLINE


class MicroBatcher:
    def __init__(
        self,
        predict: Callable[[Any], Any],
        *,
        max_batch: int,
        max_wait_s: float,
        inline_limit_s: float = INLINE_LIMIT_S,
        latency_cap_s: float = LATENCY_CAP_S,
    ) -> None:
        self.predict = predict
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.paths = PathChooser(inline_limit_s=inline_limit_s, latency_cap_s=latency_cap_s)
        self._queue: asyncio.Queue[_Entry] | None = None
        self.write_lines: Callable[[list[bytes], int], None] | None = None
        self._worker: asyncio.Task[None] | None = None
        self.batches = 0
        self.batches_by_path = {INLINE: 0, THREAD: 0}
        self.expected = 0  # requests admitted whose rows are not queued yet
        self.lanes = 0  # the lanes open onto it: the last one to close closes it
        self.closed = False

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
        lane: Lane | None = None,
    ) -> asyncio.Future[tuple[Any, bool]]:
        queue = self._ensure_started()
        if admission is not None:
            admission.withdraw()
        future: asyncio.Future[tuple[Any, bool]] = asyncio.get_running_loop().create_future()
        queue.put_nowait((rows, future, line_for, lane))
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

    async def _call(self, rows: Any, path: str, predict: Callable[[Any], Any]) -> Any:
        if path == INLINE:
            started = time.perf_counter()
            results = predict(rows)
            spent = time.perf_counter() - started
        else:
            loop = asyncio.get_running_loop()
            results, spent = await loop.run_in_executor(None, _timed, predict, rows)
        self.paths.record(path, spent)
        self.batches_by_path[path] += 1
        return results

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            if self._queue.empty():
                waited = loop.time()
                first = await self._queue.get()
                if loop.time() - waited >= IDLE_S:
                    self.paths.idle()
            else:
                first = self._queue.get_nowait()
            pending = await self._gather(first)
            path = self.paths.choose(loop.time(), sum(len(entry[0]) for entry in pending))
            parts = await self._predict_lanes(pending, path)
            self.batches += 1
            answers: list[tuple[asyncio.Future[tuple[Any, bool]], Any, bool]] = []
            journals: dict[int, tuple[Callable[[list[bytes], int], None], list[bytes], list[int]]]
            journals = {}
            for (_, future, line_for, lane), part in zip(pending, parts, strict=True):
                if part is None:  # its model failed: the future has the error
                    continue
                writer = lane.write_lines if lane is not None else self.write_lines
                line = line_for(part) if line_for is not None else None
                if line is not None and writer is not None:
                    _, lines, counted = journals.setdefault(id(writer), (writer, [], [0]))
                    lines.append(line)
                    counted[0] += len(part)
                answers.append((future, part, line is not None and writer is not None))
            for writer, lines, counted in journals.values():
                writer(lines, counted[0])  # before anyone is answered
            for future, part, journaled in answers:
                if not future.done():
                    future.set_result((part, journaled))
            # Let the answers go out and the requests that came meanwhile be read before the
            # next batch: with a backlog of full batches and no thread hand-off, the loop
            # would otherwise predict batch after batch while the answers wait to be sent.
            await asyncio.sleep(0)

    async def _predict_lanes(self, pending: list[_Entry], path: str) -> list[Any]:
        """Each entry's predictions: one call per lane (version) in the batch, in the order
        the lanes first appear; None for the entries whose call raised (their futures hold
        the model's error)."""
        by_lane: dict[int, list[int]] = {}
        for index, entry in enumerate(pending):
            by_lane.setdefault(id(entry[3]), []).append(index)
        parts: list[Any] = [None] * len(pending)
        for indexes in by_lane.values():
            lane = pending[indexes[0]][3]
            predict = lane.predict if lane is not None else self.predict
            try:
                results = await self._call(_join([pending[i][0] for i in indexes]), path, predict)
            except Exception as exc:  # every request of this version gets the model's error
                for i in indexes:
                    if not pending[i][1].done():
                        pending[i][1].set_exception(exc)
                continue
            if lane is not None:
                lane.batches += 1
            start = 0
            for i in indexes:
                size = len(pending[i][0])
                parts[i] = results[start : start + size]
                start += size
        return parts

    async def close(self) -> None:
        self.closed = True
        if self._worker is not None:
            self._worker.cancel()


def _timed(predict: Callable[[Any], Any], rows: Any) -> tuple[Any, float]:
    """On the worker thread: the predictions and the thread's CPU time for them."""
    started = time.thread_time()
    results = predict(rows)
    return results, time.thread_time() - started


class Lane:
    """One model version's way into a batcher it may share with the other versions of its
    model: its own predict function, its own journal (an endpoint's or its shadow's) and its
    own count of model calls. The batcher closes with its last lane."""

    def __init__(self, batcher: MicroBatcher, predict: Callable[[Any], Any]) -> None:
        self.batcher = batcher
        self.predict = predict
        self.write_lines: Callable[[list[bytes], int], None] | None = None
        self.batches = 0
        self._open = True
        batcher.lanes += 1

    @property
    def paths(self) -> PathChooser:
        return self.batcher.paths

    def admit(self) -> Admission:
        return self.batcher.admit()

    async def submit(self, rows: Any, admission: Admission | None = None) -> Any:
        predictions, _ = await self.batcher._enqueue(rows, admission, None, self)
        return predictions

    async def submit_journaled(
        self,
        rows: Any,
        line_for: Callable[[Any], bytes | None],
        admission: Admission | None = None,
    ) -> tuple[Any, bool]:
        return await self.batcher._enqueue(rows, admission, line_for, self)

    async def close(self) -> None:
        if not self._open:
            return
        self._open = False
        self.batcher.lanes -= 1
        if self.batcher.lanes <= 0:
            await self.batcher.close()


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
