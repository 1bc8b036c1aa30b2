"""``gyre serve`` with probes, for ``profile_gyre.py`` (never for the benchmark's figures).

    python serve_probe.py serve NAME@1 --port P ...   # the arguments of the gyre command

Writes to stderr (the server's log) one ``PROBE`` line per garbage collection of 5 ms or more
(the collector's converter process logs its own line per pass).
``PROBE_GC_FREEZE=1``: ``gc.freeze()`` once the server has started, to see what the
collections of the objects made at start-up (the libraries, the model) cost.

What-ifs for the collector's cost (``collector_cost.py``), each taking one of its parts away
while the rest runs as shipped:

- ``PROBE_NO_CONVERTER=1``: no converter process (the journal is written and synced, never
  converted);
- ``PROBE_NO_FSYNC=1``: the journal's background thread syncs nothing (and no longer re-counts
  the journal's size by listing the segments);
- ``PROBE_NO_WRITE=1``: journal lines are made but never written (nor synced, nor converted);
- ``PROBE_IDLE_CONVERTER=1``: the converter process under ``SCHED_IDLE`` (it runs only on
  CPU nothing else wants) instead of nice 10 alone;
- ``PROBE_WRITE_TIMES=1``: one ``PROBE`` line per journal write that took 1 ms or more.

``PROBE_NO_GC=1``: no garbage-collection probe (what-ifs compared without its cost).
``PROBE_BATCHER_MODE=1``: one ``PROBE`` line each time a micro-batcher switches between
predicting on the event loop and on a worker thread (``batching.PathChooser`` decides from the
rows per second each achieves), with the batches made in the mode it leaves.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from typing import Any

_started: dict[str, float] = {}


def _gc_probe(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started["gc"] = time.perf_counter()
        return
    ms = (time.perf_counter() - _started.get("gc", time.perf_counter())) * 1000
    if ms >= 5:
        _emit({"kind": "gc", "generation": info["generation"], "ms": round(ms, 1)})


def _emit(record: dict[str, Any]) -> None:
    print("PROBE " + json.dumps({"ts": time.time(), **record}), file=sys.stderr, flush=True)


def _freeze_after_startup() -> None:
    import uvicorn.server

    original = uvicorn.server.Server.startup

    async def startup(self: uvicorn.server.Server, *args: Any, **kwargs: Any) -> None:
        await original(self, *args, **kwargs)
        gc.collect()
        gc.freeze()
        _emit({"kind": "freeze", "objects": gc.get_freeze_count()})

    uvicorn.server.Server.startup = startup  # type: ignore[method-assign]


def _collector_what_ifs() -> None:
    from gyre.serving import converter_process, journal

    if os.environ.get("PROBE_NO_CONVERTER") or os.environ.get("PROBE_NO_WRITE"):
        converter_process.ConverterProcess.start = lambda self: None  # type: ignore[method-assign]
    elif os.environ.get("PROBE_IDLE_CONVERTER"):
        start = converter_process.ConverterProcess.start

        def start_idle(self: converter_process.ConverterProcess) -> None:
            start(self)
            os.sched_setscheduler(self.process.pid, os.SCHED_IDLE, os.sched_param(0))

        converter_process.ConverterProcess.start = start_idle  # type: ignore[method-assign]
    if os.environ.get("PROBE_NO_FSYNC") or os.environ.get("PROBE_NO_WRITE"):

        def no_sync_loop(self: journal.Journal) -> None:
            self._stop.wait()

        journal.Journal._sync_loop = no_sync_loop  # type: ignore[method-assign]
    if os.environ.get("PROBE_NO_WRITE"):

        def count_only(self: journal.Journal, line: bytes, rows: int = 1) -> bool:
            self.written += rows
            return True

        journal.Journal.append = count_only  # type: ignore[method-assign]
    elif os.environ.get("PROBE_WRITE_TIMES"):
        append = journal.Journal.append

        def timed(self: journal.Journal, line: bytes, rows: int = 1) -> bool:
            started = time.perf_counter()
            done = append(self, line, rows)
            ms = (time.perf_counter() - started) * 1000
            if ms >= 1:
                _emit({"kind": "journal_write", "ms": round(ms, 2), "bytes": len(line)})
            return done

        journal.Journal.append = timed  # type: ignore[method-assign]


def _batcher_mode_probe() -> None:
    from gyre.serving import batching

    call = batching.MicroBatcher._call
    modes: dict[int, list[Any]] = {}  # batcher -> [mode, batches in it]

    async def probed(self: batching.MicroBatcher, rows: Any, path: str) -> Any:
        state = modes.setdefault(id(self), [path, 0])
        if state[0] != path:
            _emit(
                {
                    "kind": "batcher_mode",
                    "to": path,
                    "batches_before": state[1],
                    "call_ms": round((self.paths.call_seconds or 0.0) * 1000, 3),
                }
            )
            state[0], state[1] = path, 0
        state[1] += 1
        return await call(self, rows, path)

    batching.MicroBatcher._call = probed  # type: ignore[method-assign]


def main() -> None:
    if os.environ.get("PROBE_BATCHER_MODE"):
        _batcher_mode_probe()
    if not os.environ.get("PROBE_NO_GC"):
        gc.callbacks.append(_gc_probe)
    if os.environ.get("PROBE_GC_FREEZE"):
        _freeze_after_startup()
    _collector_what_ifs()
    from gyre.cli.main import main as gyre_main

    sys.argv = ["gyre", *sys.argv[1:]]
    gyre_main()


if __name__ == "__main__":
    main()
