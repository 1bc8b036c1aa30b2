"""The collector's converter alone: CPU per row for journals of small and large records.

    .venv/bin/python benchmarks/serving/converter_cost.py [--rows 20000] [--per-record 1,4,8,64]
        [--reps 3] [--profile]

Writes a journal as a gyre server does (compact records of 20 float columns and an integer
prediction, 8 records per ``write``) into a fresh workspace, then converts it once with the
collector's ``Converter`` (imports and a first small conversion done beforehand, as in the
converter process) and reports the CPU seconds per row and per record, median of ``--reps``.
``--per-record``: rows per record; a server journals one record per request, so 1 is what
1-row requests make. ``--profile``: cProfile of one conversion per size, top functions.
CPU time on one process, so it depends far less on what else runs on the machine than
requests/s do.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import venvs
from gyre_tool import _env
from workload import FEATURES


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows per journal")
    parser.add_argument("--per-record", default="1,4,8,64", help="rows per record")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    return parser.parse_args(argv)


def write_journal(folder: Path, rows: int, per_record: int) -> None:
    import numpy as np

    from gyre.serving import journal

    writer = journal.Journal(folder)
    x = np.random.default_rng(0).normal(size=(per_record, len(FEATURES)))
    y = np.ones(per_record, dtype=np.int64)
    columns = ",".join(FEATURES)
    lines = [
        journal.encode_array_line(uuid.uuid4().hex, "m", 1, time.time(), 1.0, columns, x, y)
        for _ in range(max(1, rows // per_record))
    ]
    for start in range(0, len(lines), 8):
        batch = lines[start : start + 8]
        writer.append(b"".join(batch), len(batch) * per_record)
    writer.close()


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from gyre.config import embedded_settings
    from gyre.serving.collector import Converter
    from gyre.serving.journal import JournalReader
    from gyre.store import open_store

    work = venvs.CACHE / "converter-cost"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    gyre = str(Path(sys.executable).parent / "gyre")
    subprocess.run([gyre, "init"], cwd=work, env=_env(work), check=True, capture_output=True)
    store = open_store(embedded_settings(work / ".gyre"))
    write_journal(work / "warm", 64, 8)  # imports and first-call costs, as the process has
    Converter(store, JournalReader(work / "warm"), "warm-inference").convert()
    figures: dict[str, float] = {}
    print(f"converting {args.rows} rows of 20 float columns, median of {args.reps}\n")
    print(f"{'rows/record':>11} {'records':>8} {'CPU s':>7} {'us/row':>7} {'us/record':>10}")
    for per_record in [int(n) for n in args.per_record.split(",")]:
        cpu = []
        profiled = None
        for rep in range(args.reps):
            folder = work / f"journal-{per_record}-{rep}"
            write_journal(folder, args.rows, per_record)
            converter = Converter(store, JournalReader(folder), f"m{per_record}-{rep}-inference")
            profile = cProfile.Profile() if args.profile and rep == 0 else None
            started = time.process_time()
            if profile:
                profile.enable()
            rows = converter.convert()
            if profile:
                profile.disable()
                profiled = profile
            cpu.append(time.process_time() - started)
        seconds = statistics.median(cpu)
        records = max(1, args.rows // per_record)
        print(
            f"{per_record:11} {records:8} {seconds:7.3f} {1e6 * seconds / rows:7.1f} "
            f"{1e6 * seconds / records:10.1f}"
        )
        figures[f"converter_us_per_row_{per_record}_per_record"] = round(1e6 * seconds / rows, 2)
        if profiled is not None:
            pstats.Stats(profiled).sort_stats("tottime").print_stats(10)
    store.close()
    print(json.dumps({"benchmark": "serving_converter", "figures": figures, "ratios": {}}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
