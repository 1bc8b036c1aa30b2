"""What the data collector costs a gyre server, and which of its parts costs it.

    .venv/bin/python benchmarks/serving/collector_cost.py [--model logreg] [--rows 1]
        [--concurrency 8] [--seconds 10] [--reps 3] [--busy 0] [--pin]
        [--variants no-collect,shipped,no-converter,no-fsync,no-write,idle-converter]

One gyre server per variant, all up together (one workspace; each collecting variant its own
endpoint, so its own journal and converter), loaded in turn by wrk with the order rotating
from one repetition to the next, as ``run.py`` does. Variants (``serve_probe.py`` what-ifs):

- ``no-collect``: ``gyre serve --no-collect``, the baseline;
- ``shipped``: the collector as shipped (journal lines made per request, one ``write`` per
  micro-batch, an fsync a second by a background thread, the converter process every 5 s);
- ``no-converter``: as shipped, without the converter process;
- ``no-fsync``: as shipped, without the background thread's fsync;
- ``no-write``: journal lines made, never written (nor synced, nor converted);
- ``idle-converter`` (not by default): as shipped, the converter under ``SCHED_IDLE``.

After each load of a variant that converts, the benchmark waits until its converter has caught
up, as ``run.py`` does. Reported per variant: median requests/s, p50 and p99; the overhead
``1 - rps / rps(no-collect)`` from the medians and per repetition (paired, adjacent loads); the
CPU the server process used per request and its converter process per load (from
``/proc``; CPU time, which a busy machine inflates less than it deflates requests/s), and how
often its micro-batcher switched between predicting on the event loop and on a thread (from
``serve_probe.py``'s ``PROBE_BATCHER_MODE`` lines). ``--busy N``: N spinning processes (nice 0) run during the
loads, standing in for the other sessions of a shared machine. ``--pin``: wrk on CPU 0, the
servers on CPU 1 (their converters inherit it), so the converter competes with the server
alone. Last line: one JSON object ``{"benchmark": "serving_collector", ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gyre_tool
import procs
import venvs
from gyre_tool import Gyre, GyreWorkspace
from load import LoadResult, ensure_wrk, run_wrk
from procs import Server
from workload import train

VARIANTS = {
    "no-collect": {},
    "shipped": {},
    "no-converter": {"PROBE_NO_CONVERTER": "1"},
    "no-fsync": {"PROBE_NO_FSYNC": "1"},
    "no-write": {"PROBE_NO_WRITE": "1"},
    "idle-converter": {"PROBE_IDLE_CONVERTER": "1"},
}
DEFAULT_VARIANTS = "no-collect,shipped,no-converter,no-fsync,no-write"
CONVERTING = ("shipped", "no-fsync", "idle-converter")  # wait for their catch-up after a load
COLLECTOR_TARGET = 0.10
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Samples:
    loads: list[LoadResult] = field(default_factory=list)
    server_cpu_s: list[float] = field(default_factory=list)
    converter_cpu_s: list[float] = field(default_factory=list)
    windows: list[tuple[float, float]] = field(default_factory=list)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model", default="logreg", choices=["logreg", "forest"])
    parser.add_argument("--rows", type=int, default=1, choices=[1, 100])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--busy", type=int, default=0, help="spinning processes during loads")
    parser.add_argument("--pin", action="store_true", help="wrk on CPU 0, servers on CPU 1")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS)
    return parser.parse_args(argv)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def converter_pid(server: Server) -> int | None:
    """The converter process the server started (its child running converter_process)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        if parent == server.process.pid and b"converter_process" in cmdline:
            return int(entry.name)
    return None


def start_busy(count: int) -> list[subprocess.Popen[bytes]]:
    spin = "while True:\n    pass"
    return [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(count)]


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    names = [n for n in args.variants.split(",") if n in VARIANTS]
    wrk = ensure_wrk()
    work = venvs.CACHE / "collector-cost"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    workloads = train([args.model], work / "models")
    workload = workloads[0]
    workspace = GyreWorkspace()
    launcher = [sys.executable, str(Path(__file__).resolve().parent / "serve_probe.py")]
    wrk_argv0 = [wrk]
    if args.pin:
        launcher = ["taskset", "-c", "1", *launcher]
        wrk_argv0 = ["taskset", "-c", "0", wrk]
    servers: dict[str, Server] = {}
    tools: dict[str, Gyre] = {}
    samples = {name: Samples() for name in names}
    busy: list[subprocess.Popen[bytes]] = []
    started = time.perf_counter()
    try:
        for name in names:
            extra = [] if name == "no-collect" else ["--endpoint", f"{args.model}-{name}"]
            tool = Gyre(
                workspace, collect=name != "no-collect", launcher=launcher, extra_args=extra
            )
            tool.key = f"gyre-{name}"  # its log: logs/gyre-NAME-MODEL.log
            tool.prepare(workloads, work)
            probes = {"PROBE_NO_GC": "1", "PROBE_BATCHER_MODE": "1"}
            os.environ.update({**probes, **VARIANTS[name]})
            try:
                server = tool.start(workload, work)
            finally:
                for key in [*probes, *VARIANTS[name]]:
                    os.environ.pop(key, None)
            servers[name], tools[name] = server, tool
        for name, server in servers.items():
            server.wait_ready(tools[name].ready_path(workload))
        body = work / "body.json"
        body.write_bytes(tools[names[0]].body(workload.request(args.rows)))
        for name, server in servers.items():  # warm-up
            run_wrk(wrk, server.url("/score"), body, args.concurrency, 2)
            if name in CONVERTING:
                gyre_tool.wait_converted(server)
        busy = start_busy(args.busy)
        for rep in range(args.reps):
            order = names[rep % len(names) :] + names[: rep % len(names)]
            for name in order:
                server = servers[name]
                child = converter_pid(server)
                window_start = time.time()
                before = cpu_seconds(server.process.pid), cpu_seconds(child) if child else 0.0
                if args.pin:
                    result = _run_pinned(wrk_argv0, server.url("/score"), body, args)
                else:
                    result = run_wrk(
                        wrk, server.url("/score"), body, args.concurrency, args.seconds
                    )
                window = (window_start, time.time())
                if name in CONVERTING:
                    gyre_tool.wait_converted(server)
                after = cpu_seconds(server.process.pid), cpu_seconds(child) if child else 0.0
                s = samples[name]
                s.loads.append(result)
                s.server_cpu_s.append(after[0] - before[0])
                s.converter_cpu_s.append(after[1] - before[1])
                s.windows.append(window)
                print(
                    f"  rep {rep + 1} {name:13} {result.rps:8.1f} req/s  p50 {result.p50_ms:6.2f}"
                    f" ms  p99 {result.p99_ms:6.2f} ms  errors {result.errors}  server CPU "
                    f"{after[0] - before[0]:5.2f} s  converter CPU {after[1] - before[1]:5.2f} s",
                    flush=True,
                )
    finally:
        for process in busy:
            process.kill()
            process.wait()
        procs.stop_all(list(servers.values()))
    threaded = {name: thread_share(servers[name].log, samples[name].windows) for name in names}
    return report(args, names, samples, threaded, time.perf_counter() - started)


def thread_share(log: Path, windows: list[tuple[float, float]]) -> list[float]:
    """Per load window, the share of its time the micro-batcher predicted on a worker thread
    (from the server's ``batcher_mode`` probe lines; it starts on the event loop)."""
    switches: list[tuple[float, str]] = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("PROBE ") and '"batcher_mode"' in line:
            item = json.loads(line.removeprefix("PROBE "))
            switches.append((item["ts"], item["to"]))
    shares = []
    for start, end in windows:
        mode = next((to for ts, to in reversed(switches) if ts <= start), "inline")
        at, threaded = start, 0.0
        for ts, to in switches:
            if start < ts < end:
                threaded += (ts - at) if mode == "thread" else 0.0
                at, mode = ts, to
        threaded += (end - at) if mode == "thread" else 0.0
        shares.append(threaded / (end - start))
    return shares


def _run_pinned(wrk_argv: list[str], url: str, body: Path, args: argparse.Namespace) -> LoadResult:
    import load

    argv = [
        *wrk_argv,
        "-t1",
        f"-c{args.concurrency}",
        f"-d{max(1, round(args.seconds))}s",
        f"--timeout={load.WRK_TIMEOUT}",
        "--latency",
        "-s",
        str(load.SCRIPT),
        url,
    ]
    done = subprocess.run(
        argv,
        env={**os.environ, "BENCH_BODY": str(body)},
        capture_output=True,
        text=True,
        timeout=args.seconds + 60,
        check=True,
    )
    return load.parse(done.stdout)


def report(
    args: argparse.Namespace,
    names: list[str],
    samples: dict[str, Samples],
    threaded: dict[str, list[float]],
    seconds: float,
) -> int:
    base = samples.get("no-collect")
    print(
        f"\ncollector cost: {args.model}, {args.rows} row(s) per request, concurrency "
        f"{args.concurrency}, {args.seconds:g} s per load, median of {args.reps}; "
        f"{args.busy} busy process(es){', pinned' if args.pin else ''}; "
        f"load average {os.getloadavg()[0]:.1f}; {seconds / 60:.1f} min\n"
    )
    print(
        f"{'variant':13} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'overhead':>9} "
        f"{'per rep':>22} {'server CPU us/req':>18} {'converter CPU s':>16} "
        f"{'on a thread, per rep':>22}"
    )
    figures: dict[str, float | None] = {}
    for name in names:
        s = samples[name]
        rps = statistics.median(r.rps for r in s.loads)
        p50 = statistics.median(r.p50_ms for r in s.loads)
        p99 = statistics.median(r.p99_ms for r in s.loads)
        per_request = statistics.median(
            1e6 * cpu / max(1, r.answered) for cpu, r in zip(s.server_cpu_s, s.loads, strict=True)
        )
        conv = statistics.median(s.converter_cpu_s)
        overhead = paired = None
        if base is not None and name != "no-collect":
            overhead = 1 - rps / statistics.median(r.rps for r in base.loads)
            paired = [1 - a.rps / b.rps for a, b in zip(s.loads, base.loads, strict=True) if b.rps]
        shown = "" if overhead is None else f"{overhead:9.3f}"
        reps = "" if paired is None else " ".join(f"{p:.3f}" for p in paired)
        print(
            f"{name:13} {rps:9.1f} {p50:8.2f} {p99:8.2f} {shown:>9} {reps:>22} "
            f"{per_request:18.1f} {conv:16.2f} "
            f"{' '.join(f'{t:.0%}' for t in threaded[name]):>22}"
        )
        key = name.replace("-", "_")
        figures[f"{key}_rps"] = round(rps, 1)
        figures[f"{key}_p99_ms"] = round(p99, 3)
        figures[f"{key}_server_cpu_us_per_request"] = round(per_request, 1)
        figures[f"{key}_converter_cpu_s"] = round(conv, 2)
        figures[f"{key}_batcher_on_thread_share"] = round(statistics.median(threaded[name]), 2)
        if overhead is not None and paired:
            figures[f"{key}_overhead"] = round(overhead, 3)
            figures[f"{key}_overhead_paired_median"] = round(statistics.median(paired), 3)
    shipped = figures.get("shipped_overhead")
    ratios = {}
    if shipped is not None:
        verdict = "met" if shipped < COLLECTOR_TARGET else "MISSED"
        print(
            f"\ncollector_overhead (shipped) {shipped:.3f}: target < {COLLECTOR_TARGET} {verdict}"
        )
        ratios["collector_target_margin"] = (
            round(COLLECTOR_TARGET / shipped, 2) if shipped > 0 else None
        )
    print(json.dumps({"benchmark": "serving_collector", "figures": figures, "ratios": ratios}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
