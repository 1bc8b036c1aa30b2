"""What every measured process of the monitoring benchmark does (gyre's and each peer's, each in
its own environment; standard library only, so every environment can import it).

One process per tool and size: it imports the tool, reads the two Parquet files, converts them
to the tool's input type (not timed), runs one untimed warm-up detection on the first
``WARM_UP_ROWS`` rows of each input (lazy imports, first-call caches: what a long-running
process has already paid), then runs the detection ``reps`` times. Each repetition:

- ``gc.collect()``, then the resident set size (``VmRSS`` of ``/proc/self/status``) is noted and
  the peak (``VmHWM``) is reset by writing ``5`` to ``/proc/self/clear_refs``;
- the detection is timed with ``time.perf_counter`` (from the inputs in memory to the tool's
  result object);
- ``VmHWM`` is read again: the repetition's peak memory is ``VmHWM`` minus the ``VmRSS`` before,
  i.e. what the detection added on top of the loaded inputs, numpy's, Arrow's and every other
  allocator's memory included (tracemalloc would only see Python's).

The process prints, as its last line, one JSON object with the times, the peaks, and the columns
that the tool found drifted (from the last repetition).
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLEAR_REFS = Path("/proc/self/clear_refs")
WARM_UP_ROWS = 2_000


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak() -> bool:
    """Reset ``VmHWM`` to the current RSS; False where the kernel does not let us."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("baseline", type=Path)
    parser.add_argument("current", type=Path)
    parser.add_argument("--reps", type=int, default=3)
    return parser.parse_args()


def measure(
    tool: str,
    args: argparse.Namespace,
    load: Callable[[Path, Path], tuple[Any, Any, dict[str, Any]]],
    detect: Callable[[Any, Any], Any],
    found: Callable[[Any], tuple[list[str], dict[str, Any]]],
) -> None:
    """Load, then ``args.reps`` timed detections; prints the JSON line.

    ``load(baseline_path, current_path)`` returns the two inputs in the tool's type and notes
    (e.g. how long the conversion took); ``detect(baseline, current)`` is what is timed;
    ``found(result)`` gives the drifted columns and notes, after the clock stopped.
    """
    started = time.perf_counter()
    baseline, current, notes = load(args.baseline, args.current)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    found(detect(baseline[:WARM_UP_ROWS], current[:WARM_UP_ROWS]))
    notes["warm_up_s"] = time.perf_counter() - started
    seconds: list[float] = []
    peaks: list[float] = []
    columns: list[str] = []
    resettable = True
    for _ in range(args.reps):
        gc.collect()
        before = status_kib("VmRSS")
        resettable = reset_peak() and resettable
        started = time.perf_counter()
        result = detect(baseline, current)
        seconds.append(time.perf_counter() - started)
        peaks.append((status_kib("VmHWM") - before) / 1024)
        columns, more = found(result)
        notes.update(more)
        del result
    gc.collect()
    print(
        json.dumps(
            {
                "tool": tool,
                "seconds": seconds,
                "peak_mb": peaks,
                "peak_reset": resettable,
                "rss_inputs_mb": status_kib("VmRSS") / 1024,
                "load_s": load_s,
                "found": sorted(columns),
                "notes": notes,
            }
        ),
        flush=True,
    )
