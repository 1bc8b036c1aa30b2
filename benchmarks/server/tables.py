"""The search data set, written straight into each server's own tables by PostgreSQL itself.

``RUNS`` finished runs in one experiment, each with a param ``lr`` and two metrics, ``acc``
and ``loss``, logged at ``STEPS`` steps each: 100,000 runs and 10 million points by default.
The values are the same for both servers: run ``r`` converges to an accuracy ``final(r)``
between 0.5 and 1.0, so about a fifth of the runs end above 0.9 (and their earlier points
cross 0.9 on the way, as real curves do).

Both loads run the same way, server-side ``INSERT ... SELECT generate_series`` with the
table's indexes dropped and built again afterwards and triggers (foreign keys) off for the
load's session, then ``ANALYZE``: the usual bulk load, the same for both. gyre's tables as its
schema defines them (``runs``, ``params``, ``metrics``); MLflow's as its migrations made them
(``runs``, ``params``, ``tags``, ``metrics`` and the ``latest_metrics`` its search reads).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

RUNS = 100_000
STEPS = 50
BASE_TS = 1_700_000_000.0
ID_WIDTH = 27  # ids: 'bench' + 27 digits = 32 characters, the width both servers allow

# final(r): a fixed scramble of r into [0.5, 1.0); acc(r, s) rises to it, loss falls.
_FINAL = "(0.5 + 0.5 * mod(r::bigint * 7919, 10007) / 10007.0)"
_ACC = f"({_FINAL} * (1 - exp(-(s + 1) / 8.0)))"
_LOSS = f"((1.5 - {_FINAL}) * exp(-(s + 1) / 10.0))"
_RUN_ID = f"('bench' || lpad(r::text, {ID_WIDTH}, '0'))"


def run_id(index: int) -> str:
    """The id of run ``index`` (0-based) in both servers."""
    return "bench" + str(index).rjust(ID_WIDTH, "0")


def matching(runs: int, threshold: float = 0.9) -> int:
    """How many runs end with acc above ``threshold`` (the search's expected answer size)."""
    import math

    last = 1 - math.exp(-STEPS / 8.0)
    return sum(
        1 for r in range(runs) if (0.5 + 0.5 * ((r * 7919) % 10007) / 10007.0) * last > threshold
    )


@contextmanager
def _bulk_session(url: str, tables: list[str]) -> Iterator[psycopg.Connection]:
    """A connection for a bulk load: the tables' indexes dropped (primary keys too) and made
    again at the end, triggers off, a large maintenance_work_mem for the index builds."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET synchronous_commit = off")
        rebuild: list[str] = []
        for table in tables:
            for name, definition in conn.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype IN ('p', 'u')",
                [table],
            ).fetchall():
                if _referenced(conn, name):
                    continue  # another table's foreign key needs it
                conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
                rebuild.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            for name, definition in conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND "
                "indexname NOT IN (SELECT conname FROM pg_constraint)",
                [table],
            ).fetchall():
                conn.execute(f'DROP INDEX "{name}"')
                rebuild.append(definition)
        yield conn
        for statement in rebuild:
            conn.execute(statement)
        for table in tables:
            conn.execute(f"ANALYZE {table}")


def _referenced(conn: psycopg.Connection, constraint: str) -> bool:
    found = conn.execute(
        "SELECT 1 FROM pg_constraint c JOIN pg_constraint f ON f.conindid = c.conindid "
        "WHERE c.conname = %s AND f.contype = 'f'",
        [constraint],
    ).fetchone()
    return found is not None


def load_gyre(url: str, runs: int = RUNS) -> float:
    """gyre's runs, params, metric points and latest metrics; the seconds it took."""
    started = time.perf_counter()
    with _bulk_session(url, ["metrics", "latest_metrics", "params"]) as conn:
        conn.execute(
            "INSERT INTO runs (id, kind, experiment, name, status, created_at, started_at, "
            f"ended_at) SELECT {_RUN_ID}, 'run', 'bench', 'run-' || r, 'finished', "
            f"{BASE_TS} + r * 100, {BASE_TS} + r * 100, {BASE_TS} + r * 100 + 60 "
            "FROM generate_series(0, %s) r",
            [runs - 1],
        )
        conn.execute(
            "INSERT INTO params (run_id, key, value) SELECT "
            f"{_RUN_ID}, 'lr', ((mod(r, 10) + 1) / 1000.0)::float8::text FROM generate_series(0, %s) r",
            [runs - 1],
        )
        conn.execute(
            "INSERT INTO metrics (run_id, key, step, value, timestamp) "
            f"SELECT {_RUN_ID}, 'acc', s, {_ACC}, {BASE_TS} + r * 100 + s "
            "FROM generate_series(0, %s) r, generate_series(0, %s) s "
            f"UNION ALL SELECT {_RUN_ID}, 'loss', s, {_LOSS}, {BASE_TS} + r * 100 + s "
            "FROM generate_series(0, %s) r, generate_series(0, %s) s",
            [runs - 1, STEPS - 1, runs - 1, STEPS - 1],
        )
        conn.execute(  # what gyre keeps beside the points as it writes them
            "INSERT INTO latest_metrics (run_id, key, step, value, timestamp) "
            "SELECT DISTINCT ON (run_id, key) run_id, key, step, value, timestamp FROM metrics "
            "ORDER BY run_id, key, step DESC, timestamp DESC"
        )
    return time.perf_counter() - started


def load_mlflow(url: str, experiment_id: int, runs: int = RUNS) -> float:
    """MLflow's runs, params, run-name tags, metric points and latest metrics in experiment
    ``experiment_id`` (made through its API first); the seconds it took."""
    started = time.perf_counter()
    ms = int(BASE_TS * 1000)
    tables = ["metrics", "latest_metrics", "params", "tags"]
    with _bulk_session(url, tables) as conn:
        conn.execute(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
            "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
            "artifact_uri, experiment_id) SELECT "
            f"{_RUN_ID}, 'run-' || r, 'LOCAL', '', '', 'bench', 'FINISHED', "
            f"{ms} + r::bigint * 100000, {ms} + r::bigint * 100000 + 60000, '', 'active', "
            f"'mlflow-artifacts:/{experiment_id}/' || {_RUN_ID} || '/artifacts', %s "
            "FROM generate_series(0, %s) r",
            [experiment_id, runs - 1],
        )
        conn.execute(
            "INSERT INTO params (key, value, run_uuid) SELECT "
            f"'lr', ((mod(r, 10) + 1) / 1000.0)::float8::text, {_RUN_ID} FROM generate_series(0, %s) r",
            [runs - 1],
        )
        conn.execute(
            "INSERT INTO tags (key, value, run_uuid) SELECT "
            f"'mlflow.runName', 'run-' || r, {_RUN_ID} FROM generate_series(0, %s) r",
            [runs - 1],
        )
        for key, value in (("acc", _ACC), ("loss", _LOSS)):
            conn.execute(
                "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                f"SELECT '{key}', {value}, {ms} + r::bigint * 100000 + s * 1000, {_RUN_ID}, s, false "
                "FROM generate_series(0, %s) r, generate_series(0, %s) s",
                [runs - 1, STEPS - 1],
            )
            conn.execute(
                "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                f"SELECT '{key}', {value}, {ms} + r::bigint * 100000 + s * 1000, s, false, {_RUN_ID} "
                "FROM generate_series(0, %s) r, (SELECT %s AS s) last",
                [runs - 1, STEPS - 1],
            )
    return time.perf_counter() - started


def counts(url: str, runs_table: str = "runs") -> tuple[int, int]:
    """(runs, metric points) in a database, to check a load."""
    with psycopg.connect(url) as conn:
        found_runs = conn.execute(f"SELECT count(*) FROM {runs_table}").fetchone()
        points = conn.execute("SELECT count(*) FROM metrics").fetchone()
    assert found_runs is not None and points is not None
    return int(found_runs[0]), int(points[0])
