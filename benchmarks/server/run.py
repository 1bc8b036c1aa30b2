"""Team server benchmark: ``gyre server`` against ``mlflow server`` (its own environment, its
default workers), both on fresh databases of the one PostgreSQL server on 127.0.0.1:5432,
side by side in one run. See README.md beside this file.

    .venv/bin/python benchmarks/server/run.py [--reps 3] [--quick]

(a) single metric points logged by one client, end to end (until stored and readable):
    gyre's SDK in client mode against MLflow's client on its server, per-point rates;
(b) one MLflow client script (params, single and batched metrics, tags, end run), unchanged,
    against MLflow's server and then gyre's /mlflow endpoint;
(c) the run list filtered by a metric with 100,000 runs and 10 million points loaded into
    each server's tables: latency of ``GET /api/v1/runs?filter=metrics.acc > 0.9&limit=50``
    and of MLflow's ``runs/search`` with the same filter;
(d) 32 concurrent clients reading run pages (wrk): requests/s and p99 for both.

Prints a table, then as its last line one JSON object:
``{"benchmark": "server", "figures": {...}, "ratios": {...}}`` (ratios > 1: gyre ahead).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import reads  # noqa: E402
import servers  # noqa: E402
import tables  # noqa: E402
import venvs  # noqa: E402

SEARCH_TARGET_MS = 100.0
SEARCH_FILTER = "metrics.acc > 0.9"
SEARCH_BUDGET_S = 60.0  # per server: fewer requests when each takes seconds
CHILD_TIMEOUT_S = 900


class Failed(Exception):
    """A measured step failed; the message says how and where its log is."""


def child(argv: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run one measured client process; its last stdout line, parsed."""
    with open(log, "w") as err:
        try:
            done = subprocess.run(
                argv,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=env,
                timeout=CHILD_TIMEOUT_S,
                check=False,
                cwd=log.parent,
            )
        except subprocess.TimeoutExpired as exc:
            raise Failed(f"ran past {CHILD_TIMEOUT_S} s (see {log})") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise Failed(f"exited with {done.returncode}: {tail[0][:300]} (see {log})")
    return dict(json.loads(lines[-1]))


class Bench:
    """Both servers running, and what is measured against them."""

    def __init__(self, args: argparse.Namespace, work: Path, mlflow_bin: Path) -> None:
        self.args = args
        self.work = work
        self.mlflow_python = mlflow_bin / "python"
        self.databases = servers.Databases()
        self.gyre_db = self.mlflow_db = ""
        self.gyre: servers.GyreServer | None = None
        self.mlflow: servers.MlflowServer | None = None
        self.mlflow_bin = mlflow_bin
        self.figures: dict[str, float] = {}
        self.notes: list[str] = []

    def start(self) -> None:
        self.gyre_db = self.databases.create("gyre_bench")
        self.mlflow_db = self.databases.create("mlflow_bench")
        started = time.perf_counter()
        self.gyre = servers.GyreServer(self.gyre_db, self.work / "gyre")
        gyre_up = time.perf_counter() - started
        self.mlflow = servers.MlflowServer(self.mlflow_bin, self.mlflow_db, self.work / "mlflow")
        print(
            f"servers up: gyre {self.gyre.url} ({gyre_up:.1f} s), mlflow {self.mlflow.url} "
            f"({time.perf_counter() - started - gyre_up:.1f} s, its migrations included)",
            flush=True,
        )

    def close(self) -> list[str]:
        for server in (self.gyre, self.mlflow):
            if server is not None:
                server.stop()
        return self.databases.drop()

    @property
    def gyre_headers(self) -> dict[str, str]:
        assert self.gyre is not None
        return {"Authorization": f"Bearer {self.gyre.token}"}

    def gyre_env(self) -> dict[str, str]:
        assert self.gyre is not None
        return {**servers.clean_env(), "GYRE_URI": self.gyre.url, "GYRE_TOKEN": self.gyre.token}

    def mlflow_env(self, on_gyre: bool) -> dict[str, str]:
        assert self.gyre is not None and self.mlflow is not None
        env = servers.clean_env()
        if on_gyre:
            env["MLFLOW_TRACKING_URI"] = f"{self.gyre.url}/mlflow"
            env["MLFLOW_TRACKING_TOKEN"] = self.gyre.token
        else:
            env["MLFLOW_TRACKING_URI"] = self.mlflow.url
        return env

    # -- (c) the data set, loaded first: the servers are measured holding it ------------------

    def load(self) -> None:
        assert self.mlflow is not None
        import httpx

        runs = self.args.runs
        answer = httpx.post(
            f"{self.mlflow.url}/api/2.0/mlflow/experiments/create", json={"name": "bench"}
        )
        answer.raise_for_status()
        self.mlflow_experiment = str(answer.json()["experiment_id"])
        print(
            f"(c) loading {runs:,} runs and {runs * 2 * tables.STEPS:,} metric points into each "
            "server's tables (both at once) ...",
            flush=True,
        )
        took: dict[str, float] = {}
        errors: list[str] = []

        def load(name: str, work: Any) -> None:
            try:
                took[name] = work()
            except Exception as exc:
                errors.append(f"{name} load failed: {type(exc).__name__}: {exc}")

        started = time.perf_counter()
        threads = [
            threading.Thread(
                target=load, args=("gyre", lambda: tables.load_gyre(self.gyre_db, runs))
            ),
            threading.Thread(
                target=load,
                args=(
                    "mlflow",
                    lambda: tables.load_mlflow(self.mlflow_db, int(self.mlflow_experiment), runs),
                ),
            ),
        ]
        for thread in threads:
            thread.daemon = True  # an interrupted benchmark does not wait for its loads
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.5)
        if errors:
            raise Failed("; ".join(errors))
        gyre_counts = tables.counts(self.gyre_db)
        mlflow_counts = tables.counts(self.mlflow_db)
        expected = (runs, runs * 2 * tables.STEPS)
        if gyre_counts != expected or mlflow_counts != expected:
            raise Failed(f"loaded gyre {gyre_counts}, mlflow {mlflow_counts}; wanted {expected}")
        print(
            f"  loaded in {time.perf_counter() - started:.0f} s (gyre {took['gyre']:.0f} s, "
            f"mlflow {took['mlflow']:.0f} s, at once on the same PostgreSQL)",
            flush=True,
        )
        self.figures.update(
            search_runs=runs,
            search_metric_points=expected[1],
            load_gyre_s=round(took["gyre"], 1),
            load_mlflow_s=round(took["mlflow"], 1),
        )

    # -- (a) --------------------------------------------------------------------------------

    def log_metric(self) -> None:
        args = self.args
        print(
            f"(a) single log_metric calls, end to end: gyre {args.points:,} a rep, MLflow "
            f"{args.mlflow_points:,} a rep (its rate is per call; {args.reps} reps)",
            flush=True,
        )
        gyre = child(
            [sys.executable, str(HERE / "gyre_logging.py"), str(args.points), str(args.reps)],
            self.gyre_env(),
            self.work / "a-gyre.log",
        )
        peer = child(
            [
                str(self.mlflow_python),
                str(HERE / "peers" / "mlflow_client.py"),
                "log-metric",
                str(args.mlflow_points),
                str(args.reps),
            ],
            self.mlflow_env(on_gyre=False),
            self.work / "a-mlflow.log",
        )
        gyre_s, peer_s = statistics.median(gyre["seconds"]), statistics.median(peer["seconds"])
        gyre_rate, peer_rate = args.points / gyre_s, args.mlflow_points / peer_s
        for name, result, rate in (("gyre", gyre, gyre_rate), ("mlflow", peer, peer_rate)):
            times = ", ".join(f"{s:.2f}" for s in result["seconds"])
            print(
                f"  {name}: {result['points']:,} points in {statistics.median(result['seconds']):.2f} s"
                f" median ({times}): {rate:,.0f} points/s",
                flush=True,
            )
        self.figures.update(
            gyre_log_metric_points=args.points,
            gyre_log_metric_s=round(gyre_s, 3),
            gyre_log_metric_points_per_s=round(gyre_rate, 1),
            mlflow_log_metric_points=args.mlflow_points,
            mlflow_log_metric_s=round(peer_s, 3),
            mlflow_log_metric_points_per_s=round(peer_rate, 1),
        )

    # -- (b) --------------------------------------------------------------------------------

    def mlflow_client(self) -> None:
        args = self.args
        print(
            f"(b) one MLflow client script ({args.training_runs} runs a rep: params, single and "
            f"batched metrics, tags, end), on MLflow's server, then on gyre's /mlflow",
            flush=True,
        )
        results = {}
        for name, on_gyre in (("mlflow", False), ("gyre", True)):
            results[name] = child(
                [
                    str(self.mlflow_python),
                    str(HERE / "peers" / "mlflow_client.py"),
                    "training",
                    str(args.training_runs),
                    str(args.reps),
                ],
                self.mlflow_env(on_gyre),
                self.work / f"b-{name}.log",
            )
        for name, result in results.items():
            median = statistics.median(result["seconds"])
            times = ", ".join(f"{s:.2f}" for s in result["seconds"])
            print(
                f"  on {name}: {median:.2f} s median ({times}), {result['calls']} client calls: "
                f"{result['calls'] / median:,.0f} calls/s",
                flush=True,
            )
            self.figures[f"mlflow_client_on_{name}_s"] = round(median, 3)
            self.figures[f"mlflow_client_on_{name}_calls_per_s"] = round(
                result["calls"] / median, 1
            )
        self.figures["mlflow_client_calls"] = results["gyre"]["calls"]

    # -- (c) --------------------------------------------------------------------------------

    def search(self) -> None:
        assert self.gyre is not None and self.mlflow is not None
        args = self.args
        expected = tables.matching(args.runs)
        print(
            f"(c) the run list filtered by '{SEARCH_FILTER}' ({expected:,} of {args.runs:,} runs "
            f"match), limit 50: up to {args.search_requests} requests each, one at a time",
            flush=True,
        )
        seen: dict[str, set[str]] = {}

        def gyre_check(answer: Any) -> None:
            seen["gyre"] = {row["id"] for row in answer.json()}

        def mlflow_check(answer: Any) -> None:
            seen["mlflow"] = {run["info"]["run_id"] for run in answer.json().get("runs", [])}

        gyre = reads.timed_requests(
            lambda http: http.get("/api/v1/runs", params={"filter": SEARCH_FILTER, "limit": 50}),
            self.gyre.url,
            self.gyre_headers,
            args.search_requests,
            budget_s=SEARCH_BUDGET_S,
            check=gyre_check,
        )
        body = {
            "experiment_ids": [self.mlflow_experiment],
            "filter": SEARCH_FILTER,
            "max_results": 50,
        }
        peer = reads.timed_requests(
            lambda http: http.post("/api/2.0/mlflow/runs/search", json=body),
            self.mlflow.url,
            {},
            args.search_requests,
            budget_s=SEARCH_BUDGET_S,
            check=mlflow_check,
        )
        want = min(50, expected)
        for name in ("gyre", "mlflow"):
            if len(seen.get(name, ())) != want:
                self.notes.append(f"(c) {name} answered {len(seen.get(name, ()))} runs, not {want}")
        if seen.get("gyre") != seen.get("mlflow"):
            self.notes.append("(c) gyre and MLflow answered different runs (both: newest first)")
        for name, found in (("gyre", gyre), ("mlflow", peer)):
            print(
                f"  {name}: p95 {found.p95_ms:,.1f} ms, median {found.median_ms:,.1f} ms "
                f"({len(found.seconds)} requests)",
                flush=True,
            )
            self.figures[f"{name}_search_p95_ms"] = round(found.p95_ms, 1)
            self.figures[f"{name}_search_median_ms"] = round(found.median_ms, 1)
            self.figures[f"{name}_search_requests"] = len(found.seconds)

    # -- (d) --------------------------------------------------------------------------------

    def run_pages(self) -> None:
        assert self.gyre is not None and self.mlflow is not None
        args = self.args
        every = max(1, args.runs // 1000)
        ids = [tables.run_id(i) for i in range(0, args.runs, every)]
        print(
            f"(d) {args.clients} concurrent clients reading run pages ({len(ids)} runs in turn), "
            f"{args.seconds:.0f} s a rep, {args.reps} reps alternating, wrk",
            flush=True,
        )
        targets = {
            "gyre": (self.gyre.url, [f"/api/v1/runs/{i}" for i in ids], self.gyre_headers),
            "mlflow": (self.mlflow.url, [f"/api/2.0/mlflow/runs/get?run_id={i}" for i in ids], {}),
        }
        found: dict[str, list[Any]] = {"gyre": [], "mlflow": []}
        for url, paths, headers in targets.values():  # warm-up, not counted
            reads.run_pages(url, paths, headers, args.clients, 1, self.work)
        for _ in range(args.reps):
            for name, (url, paths, headers) in targets.items():
                result = reads.run_pages(url, paths, headers, args.clients, args.seconds, self.work)
                found[name].append(result)
                if result.errors:
                    self.notes.append(
                        f"(d) {name}: {result.non_2xx} non-2xx answers, "
                        f"{result.socket_errors} socket errors in a rep"
                    )
        for name, results in found.items():
            rps = statistics.median(r.rps for r in results)
            p99 = statistics.median(r.p99_ms for r in results)
            each = ", ".join(f"{r.rps:,.0f}" for r in results)
            print(f"  {name}: {rps:,.0f} requests/s ({each}), p99 {p99:,.1f} ms", flush=True)
            self.figures[f"{name}_run_page_rps"] = round(rps, 1)
            self.figures[f"{name}_run_page_p99_ms"] = round(p99, 1)
        self.figures["run_page_clients"] = args.clients


def ratios_of(figures: dict[str, float]) -> dict[str, float]:
    """Each oriented so that > 1 means gyre is ahead."""
    pairs = {
        "http_log_metric_vs_mlflow": (
            "gyre_log_metric_points_per_s",
            "mlflow_log_metric_points_per_s",
        ),
        "mlflow_client_on_gyre_vs_mlflow": ("mlflow_client_on_mlflow_s", "mlflow_client_on_gyre_s"),
        "search_p95_vs_mlflow": ("mlflow_search_p95_ms", "gyre_search_p95_ms"),
        "run_page_rps_vs_mlflow": ("gyre_run_page_rps", "mlflow_run_page_rps"),
        "run_page_p99_vs_mlflow": ("mlflow_run_page_p99_ms", "gyre_run_page_p99_ms"),
    }
    ratios = {
        name: round(figures[top] / figures[bottom], 2)
        for name, (top, bottom) in pairs.items()
        if figures.get(top) and figures.get(bottom)
    }
    if figures.get("gyre_search_p95_ms"):
        ratios["search_p95_vs_target"] = round(SEARCH_TARGET_MS / figures["gyre_search_p95_ms"], 3)
    return ratios


def report(figures: dict[str, float], ratios: dict[str, float], notes: list[str]) -> None:
    print()
    rows = [
        (
            "(a) log_metric points/s, end to end",
            "gyre_log_metric_points_per_s",
            "mlflow_log_metric_points_per_s",
        ),
        ("(b) MLflow client script, s", "mlflow_client_on_gyre_s", "mlflow_client_on_mlflow_s"),
        ("(c) filtered run list p95, ms", "gyre_search_p95_ms", "mlflow_search_p95_ms"),
        ("(c) filtered run list median, ms", "gyre_search_median_ms", "mlflow_search_median_ms"),
        ("(d) run pages requests/s", "gyre_run_page_rps", "mlflow_run_page_rps"),
        ("(d) run pages p99, ms", "gyre_run_page_p99_ms", "mlflow_run_page_p99_ms"),
    ]
    print(f"{'measure':38} {'gyre':>12} {'mlflow':>12}")
    for label, gyre, peer in rows:
        cells = [f"{figures[k]:>12,.1f}" if k in figures else f"{'-':>12}" for k in (gyre, peer)]
        print(f"{label:38} {cells[0]} {cells[1]}")
    print("ratios (> 1: gyre ahead): " + ", ".join(f"{k} {v}" for k, v in ratios.items()))
    for note in notes:
        print(f"note: {note}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a smoke run: small counts, 1 rep")
    parser.add_argument("--points", type=int, default=10_000, help="(a) gyre's calls a rep")
    parser.add_argument("--mlflow-points", type=int, default=300, help="(a) MLflow's calls a rep")
    parser.add_argument("--training-runs", type=int, default=3, help="(b) runs a rep")
    parser.add_argument("--runs", type=int, default=tables.RUNS, help="(c) runs loaded")
    parser.add_argument("--search-requests", type=int, default=30, help="(c) per server")
    parser.add_argument("--clients", type=int, default=32, help="(d) concurrent clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="(d) seconds a rep")
    args = parser.parse_args(argv)
    if args.quick:
        args.reps, args.points, args.mlflow_points = 1, 1000, 50
        args.training_runs, args.runs, args.search_requests, args.seconds = 1, 2000, 5, 2.0
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    print(
        f"server benchmark at {commit}: {args.reps} reps{', quick' if args.quick else ''}; "
        f"mlflow {' '.join(venvs.MLFLOW)}",
        flush=True,
    )
    started = time.perf_counter()
    try:  # installed before anything is timed
        mlflow_bin = venvs.mlflow_bin()
        reads.ensure_wrk()
    except (venvs.Unavailable, reads.WrkMissing) as exc:
        print(f"cannot run: {exc}", flush=True)
        return 1
    work = venvs.CACHE / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    bench = Bench(args, work, mlflow_bin)
    notes = bench.notes
    try:
        bench.start()
        loaded = False
        try:
            bench.load()
            loaded = True
        except Failed as exc:
            notes.append(f"(c)/(d) not measured: {exc}")
        steps = [bench.log_metric, bench.mlflow_client]
        if loaded:
            steps += [bench.search, bench.run_pages]
        for step in steps:
            try:
                step()
            except (Failed, RuntimeError) as exc:
                notes.append(f"{step.__name__} failed: {exc}")
                print(f"  FAILED: {exc}", flush=True)
    finally:
        notes.extend(bench.close())
    figures = bench.figures
    figures["wall_s"] = round(time.perf_counter() - started, 1)
    ratios = ratios_of(figures)
    notes.append(
        f"(a) MLflow is measured on {args.mlflow_points:,} calls a rep and gyre on "
        f"{args.points:,}; both as points per second (MLflow's client makes one request a call)"
    )
    notes.append("servers: gyre server 1 process (its default); mlflow server its default workers")
    report(figures, ratios, notes)
    print(json.dumps({"benchmark": "server", "figures": figures, "ratios": ratios}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
