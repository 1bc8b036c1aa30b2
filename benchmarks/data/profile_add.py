"""Profile ``gyre data add`` on a benchmark input: first add, then the unchanged re-add.

    .venv/bin/python benchmarks/data/profile_add.py small|large [--quick] [--top N]

gyre stores files from a thread pool, and cProfile sees only the thread that enabled it, so
``python -m cProfile gyre data add`` shows the main thread waiting on futures. Here the pool is
replaced by an inline ``map`` for the profile, which makes the per-file work visible (single
threaded: the total is not the benchmark's time, the split is what to read). The code under
test is ``gyre.data.versions.add``, what the CLI command calls.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inputs import CACHE, file_set, large_file
from tools import GYRE


class _InlinePool:
    """Stands in for ThreadPoolExecutor: runs each task in the calling thread."""

    def __init__(self, max_workers: int | None = None) -> None:
        del max_workers

    def __enter__(self) -> _InlinePool:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def map(self, func: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        return map(func, items)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", choices=["small", "large"])
    parser.add_argument("--quick", action="store_true", help="the --quick inputs")
    parser.add_argument("--top", type=int, default=15, help="rows of the profile to print")
    args = parser.parse_args(argv)
    if args.input == "small":
        item = file_set(1_000, 20) if args.quick else file_set(10_000, 20)
    else:
        item = large_file(100) if args.quick else large_file(1024)

    import gyre.data.file_sets
    from gyre import config
    from gyre.data import versions
    from gyre.store import open_store

    gyre.data.file_sets.ThreadPoolExecutor = _InlinePool  # type: ignore[attr-defined,misc]
    workspace = CACHE / "work" / "profile"
    shutil.rmtree(workspace, ignore_errors=True)
    workspace.mkdir(parents=True)
    os.environ["GYRE_URI"] = str(workspace / ".gyre")
    try:
        subprocess.run([str(GYRE), "init"], cwd=workspace, check=True, capture_output=True)
        store = open_store(config.resolve())
        for label in ("first add", "unchanged re-add"):
            os.sync()
            profile = cProfile.Profile()
            started = time.perf_counter()
            profile.enable()
            result = versions.add(store, item.key, str(item.path))
            profile.disable()
            elapsed = time.perf_counter() - started
            print(f"\n== {label} of {item.label}: {elapsed:.2f} s, created={result.created}")
            pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
