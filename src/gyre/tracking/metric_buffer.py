"""Buffered metric writes: ``log_metric`` appends to a list; a thread flushes it.

A point costs a tuple and a list append on the caller's thread. A daemon thread writes the
batch at least every ``interval`` seconds (sooner when it grows past ``max_batch``), and
``close()`` writes the rest, so a process killed with SIGKILL loses at most the last interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from gyre.store.metrics import MetricPoint

_now = time.time  # bound once: log_metric is a hot path

FLUSH_INTERVAL_S = 1.0
MAX_BATCH = 50_000


class MetricBuffer:
    def __init__(
        self,
        write: Callable[[Sequence[MetricPoint]], None],
        *,
        interval: float = FLUSH_INTERVAL_S,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._write = write
        self._interval = interval
        self._max_batch = max_batch
        self._points: list[MetricPoint] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="gyre-metrics", daemon=True)
        self._thread.start()

    def add(self, run_id: str, key: str, step: int, value: float) -> None:
        points = self._points
        points.append((run_id, key, step, value, _now()))
        if len(points) >= self._max_batch:
            self._wake.set()

    def flush(self) -> None:
        """Write what is buffered; points a failed write did not take stay for the next."""
        with self._lock:
            points, self._points = self._points, []
            if points:
                try:
                    self._write(points)
                except BaseException:
                    self._points[:0] = points
                    raise

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # kept; close() flushes again and raises if it still fails
                continue

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join()
        self.flush()  # raises when the points still cannot be written
