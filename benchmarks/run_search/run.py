"""Run search benchmark: ``gyre runs list --filter`` on a workspace of 100,000 pipeline runs.

    .venv/bin/python benchmarks/run_search/run.py [--runs N] [--reps N] [--no-postgres]

Generates N pipeline runs (one step each; the step logs val_accuracy at 3 steps; the
pipeline run has params epochs and a build tag) in a fresh SQLite workspace and in a fresh
PostgreSQL database on 127.0.0.1:5432 (dropped at the end), then times ``find_runs`` (what
``gyre runs list`` calls) for each query, median of ``--reps``. The target, from issue 13:
under 0.5 s with 100,000 runs. No peer is named for this figure, so each ratio is
target / measured (> 1: the target is met).

Prints a table, then as its last line one JSON object:
``{"benchmark": "run_search", "figures": {...}, "ratios": {...}}``.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from gyre.config import WorkspaceSettings, _settings_for_uri
from gyre.store import Store, init_workspace, open_store
from gyre.store import metrics as metric_rows
from gyre.tracking.run_query import find_runs

TARGET_S = 0.5
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
QUERIES = {
    "metric": ("metrics.val_accuracy > 0.999", None),
    "metric_and_param": ("metrics.val_accuracy > 0.99 and params.epochs = 20", None),
    "tag": ("tags.build = 'b7'", None),
    "none_matching": ("metrics.val_accuracy > 2", None),
    "unfiltered": (None, None),
    "metric_ordered": ("params.epochs = 20", "metrics.val_accuracy desc"),
}


def generate(store: Store, count: int) -> None:
    rng = random.Random(7)
    now = time.time()
    runs, params, tags, points = [], [], [], []
    for i in range(count):
        pipeline, step = f"p{i:015d}", f"s{i:015d}"
        runs.append((pipeline, "pipeline", None, "exp", "chain", "finished", now + i))
        runs.append((step, "step", pipeline, "exp", "train", "finished", now + i))
        params.append((pipeline, "epochs", json.dumps(rng.choice([5, 10, 20]))))
        tags.append((pipeline, "build", f"b{i % 100}"))
        points.extend((step, "val_accuracy", s, rng.random(), now) for s in range(3))
    with store.write() as tx:
        columns = ("id", "kind", "parent_id", "experiment", "name", "status", "created_at")
        _bulk(tx, "runs", columns, runs)
        _bulk(tx, "params", ("run_id", "key", "value"), params)
        _bulk(tx, "tags", ("run_id", "key", "value"), tags)
        metric_rows.insert_points(tx, points)


def _bulk(tx: object, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    names = ", ".join(columns)
    if tx.dialect == "postgresql":  # type: ignore[attr-defined]
        with tx.raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    tx.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)  # type: ignore[attr-defined]


def measure(store: Store, reps: int) -> dict[str, float]:
    figures = {}
    for name, (text, order) in QUERIES.items():
        times = []
        for _ in range(reps):
            started = time.perf_counter()
            find_runs(store, filter_text=text, order_by=order)
            times.append(time.perf_counter() - started)
        figures[name] = statistics.median(times)
    return figures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="gyre-bench-search-") as folder:
        store = init_workspace(Path(folder) / ".gyre")
        generate(store, args.runs)
        results["sqlite"] = measure(store, args.reps)
        store.close()
        if not args.no_postgres:
            results["postgres"] = _postgres(args, Path(folder))
    print(f"find_runs on {args.runs:,} pipeline runs (median of {args.reps}; target {TARGET_S} s)")
    print(f"{'query':<20}" + "".join(f"{backend:>12}" for backend in results))
    for name in QUERIES:
        print(f"{name:<20}" + "".join(f"{results[b][name]:>11.3f}s" for b in results))
    figures = {f"{b}_{n}_s": round(v, 4) for b, rows in results.items() for n, v in rows.items()}
    ratios = {
        f"{b}_{n}_vs_target": round(TARGET_S / v, 2)
        for b, rows in results.items()
        for n, v in rows.items()
    }
    print(json.dumps({"benchmark": "run_search", "figures": figures, "ratios": ratios}))
    return 0


def _postgres(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    import psycopg

    name = f"gyre_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = _settings_for_uri(f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}", str(folder / "b"), "bench")
        settings = WorkspaceSettings(base.db_url, base.artifacts_url, folder / "pg-local")
        store = open_store(settings, create=True)
        generate(store, args.runs)
        with store.write() as tx:
            tx.execute("ANALYZE")
        figures = measure(store, args.reps)
        store.close()
        return figures
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
