"""Where a gyre server's time goes under load: py-spy samples it while wrk drives it.

    .venv/bin/python benchmarks/serving/profile_gyre.py [--model logreg] [--rows 1]
        [--concurrency 8] [--seconds 15] [--no-collect] [--gil] [--no-spy]
        [--serve-args "--max-wait-ms 0"] [--freeze]

Starts ``gyre serve`` as the benchmark does, but through ``serve_probe.py``, loads it with wrk
and samples every thread with py-spy (installed into ``.bench-cache/serving/pyspy/``) at
250 Hz. Prints wrk's figures; the garbage collections of 5 ms or more, the collector's
converter passes and the stalls (no response logged for 50 ms or more) during the load; then
the functions with the most samples: inclusive (anywhere on the stack) and self (the leaf).
``--gil``: only samples that hold the GIL, i.e. what serializes a Python server. ``--no-spy``:
no sampling (figures without its overhead). ``--serve-args``: more ``gyre serve`` options.
``--freeze``: ``gc.freeze()`` once the server has started (a what-if). The raw collapsed stacks
are kept in ``.bench-cache/serving/profile/`` (flame graphs: any collapsed-stack viewer, e.g.
speedscope).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import procs
import venvs
from gyre_tool import Gyre, GyreWorkspace
from load import ensure_wrk, run_wrk
from workload import train

RATE_HZ = 250
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model", default="logreg", choices=["logreg", "forest"])
    parser.add_argument("--rows", type=int, default=1, choices=[1, 100])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--no-collect", action="store_true")
    parser.add_argument("--gil", action="store_true", help="only samples holding the GIL")
    parser.add_argument("--no-spy", action="store_true", help="no py-spy sampling")
    parser.add_argument("--serve-args", default="", help="more gyre serve options")
    parser.add_argument("--freeze", action="store_true", help="gc.freeze() after start-up")
    parser.add_argument("--top", type=int, default=30)
    return parser.parse_args(argv)


def _frame_name(frame: str) -> str:
    found = _FRAME.match(frame.strip())
    if found is None:
        return frame.strip()
    file = found.group("file")
    short = file.split("site-packages/")[-1].split("/src/")[-1]
    return f"{found.group('func')} ({short})"


def summarize(raw: Path, top: int) -> None:
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if f]
        total += count
        for name in set(frames):
            inclusive[name] += count
        if frames:
            leaf[frames[-1]] += count
    print(f"\n{total} samples ({total / RATE_HZ:.1f} thread-seconds busy)")
    for title, counter in (("inclusive", inclusive), ("self", leaf)):
        print(f"\ntop {top} by {title} samples:")
        for name, count in counter.most_common(top):
            print(f"  {100 * count / max(1, total):5.1f}%  {name[:150]}")


def print_probes(log: Path, window: tuple[float, float]) -> None:
    """GC pauses, converter passes and stalls from the server's log, within ``window``."""
    pauses: dict[int, list[float]] = {}
    passes: list[dict[str, float]] = []
    answered: list[float] = []
    for line in log.read_text(errors="replace").splitlines():
        record = line.removeprefix("PROBE ")
        if not record.startswith("{"):
            continue
        try:
            item = json.loads(record)
        except json.JSONDecodeError:
            continue
        if not window[0] <= item.get("ts", 0) <= window[1]:
            continue
        if item.get("kind") == "gc":
            pauses.setdefault(item["generation"], []).append(item["ms"])
        elif item.get("collector") == "converted":  # the converter process's line per pass
            passes.append(item)
        elif "request_id" in item:  # gyre's access log: one line per response
            answered.append(item["ts"])
    seconds = window[1] - window[0]
    for generation, ms in sorted(pauses.items()):
        print(
            f"  GC generation {generation}: {len(ms)} pauses >= 5 ms, {sum(ms):.0f} ms in all "
            f"({100 * sum(ms) / 1000 / seconds:.1f}% of the load), longest {max(ms):.0f} ms"
        )
    if passes:
        rows = sum(p["rows"] for p in passes)
        cpu = sum(p["cpu_seconds"] for p in passes)
        print(
            f"  converter process: {len(passes)} passes wrote {rows:.0f} rows, {cpu:.2f} s CPU "
            f"({1e6 * cpu / max(rows, 1):.1f} us a row), longest pass "
            f"{max(p['seconds'] for p in passes):.2f} s"
        )
    gaps = [b - a for a, b in itertools.pairwise(sorted(answered))]
    stalls = [g for g in gaps if g >= 0.05]
    if answered:
        print(
            f"  stalls (no response for >= 50 ms): {len(stalls)}, "
            f"{sum(stalls):.2f} s in all, longest {max(gaps, default=0) * 1000:.0f} ms"
        )


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    wrk = ensure_wrk()
    work = venvs.CACHE / "profile"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    pyspy = venvs.ensure("pyspy", ["py-spy==0.4.3"]) / "py-spy"
    workloads = train([args.model], work / "models")
    workspace = GyreWorkspace()
    if args.freeze:
        os.environ["PROBE_GC_FREEZE"] = "1"
    launcher = [sys.executable, str(Path(__file__).resolve().parent / "serve_probe.py")]
    tool = Gyre(
        workspace,
        collect=not args.no_collect,
        launcher=launcher,
        extra_args=shlex.split(args.serve_args),
    )
    tool.prepare(workloads, work)
    workload = workloads[0]
    server = tool.start(workload, work)
    try:
        server.wait_ready(tool.ready_path(workload))
        body = work / "body.json"
        body.write_bytes(tool.body(workload.request(args.rows)))
        url = server.url(tool.score_path(workload))
        run_wrk(wrk, url, body, args.concurrency, 2)  # warm-up
        raw = work / f"{args.model}-rows{args.rows}-c{args.concurrency}.txt"
        spy = [str(pyspy), "record", "--pid", str(server.process.pid), "--rate", str(RATE_HZ)]
        spy += ["--format", "raw", "--duration", str(args.seconds), "-o", str(raw), "--nonblocking"]
        if args.gil:
            spy.append("--gil")
        sampler = None
        if not args.no_spy:
            sampler = subprocess.Popen(spy, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        window = (time.time(), 0.0)
        result = run_wrk(wrk, url, body, args.concurrency, args.seconds)
        window = (window[0], time.time())
        if sampler is not None:
            _, errors = sampler.communicate(timeout=args.seconds + 60)
            if sampler.returncode != 0:
                print(f"py-spy failed: {errors.decode(errors='replace')[-500:]}")
                return 1
    finally:
        procs.stop_all([server])
    options = " ".join([args.serve_args, "gc.freeze()" if args.freeze else ""]).strip()
    print(
        f"{tool.label} {options}, {args.model}, {args.rows} row(s) per request, concurrency "
        f"{args.concurrency}: {result.rps:.1f} req/s, p50 {result.p50_ms:.2f} ms, "
        f"p99 {result.p99_ms:.2f} ms, errors {result.errors}"
        + ("" if args.no_spy else " (while sampled)")
    )
    print_probes(server.log, window)
    if not args.no_spy:
        summarize(raw, args.top)
        print(f"\nraw stacks: {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
