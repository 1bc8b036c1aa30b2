"""``gyre serve`` with probes, for ``profile_gyre.py`` (never for the benchmark's figures).

    python serve_probe.py serve NAME@1 --port P ...   # the arguments of the gyre command

Writes to stderr (the server's log) one ``PROBE`` line per garbage collection of 5 ms or more
(the collector's converter process logs its own line per pass).
``PROBE_GC_FREEZE=1``: ``gc.freeze()`` once the server has started, to see what the
collections of the objects made at start-up (the libraries, the model) cost.
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


def main() -> None:
    gc.callbacks.append(_gc_probe)
    if os.environ.get("PROBE_GC_FREEZE"):
        _freeze_after_startup()
    from gyre.cli.main import main as gyre_main

    sys.argv = ["gyre", *sys.argv[1:]]
    gyre_main()


if __name__ == "__main__":
    main()
