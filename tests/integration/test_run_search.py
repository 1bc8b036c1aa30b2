"""`gyre runs list --filter` sees every metric, param and tag of a pipeline run and of its
steps, evaluated in the database, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from gyre.store import Store
from gyre.store import metrics as metric_rows
from gyre.store import runs as run_rows
from gyre.tracking.run_query import find_runs


def _pipeline_run(store: Store, name: str, accuracy: list[float], epochs: object) -> str:
    with store.write() as tx:
        run_id = run_rows.create(tx, kind="pipeline", name=name, experiment="seer")
        run_rows.set_params(tx, run_id, {"epochs": epochs, "optimizer": "adam"})
        run_rows.set_tags(tx, run_id, {"build": "1.42", "stage": "dev"})
        step = run_rows.create(tx, kind="step", name="train", experiment="seer", parent_id=run_id)
        now = time.time()
        metric_rows.insert_points(
            tx, [(step, "val_accuracy", i, value, now) for i, value in enumerate(accuracy)]
        )
    return run_id


@pytest.fixture
def runs(any_store: Store) -> Iterator[tuple[Store, dict[str, str]]]:
    made = {
        "good": _pipeline_run(any_store, "good", [0.5, 0.912], 20),
        "was_good": _pipeline_run(any_store, "was_good", [0.95, 0.4], 5),  # latest is 0.4
        "text_epochs": _pipeline_run(any_store, "text_epochs", [0.7], "many"),
    }
    with any_store.write() as tx:
        tracked = run_rows.create(tx, kind="run", name="notebook", experiment="seer")
        metric_rows.insert_points(tx, [(tracked, "val_accuracy", 0, 0.99, time.time())])
        run_rows.set_params(tx, tracked, {"epochs": 40})
    made["tracked"] = tracked
    yield any_store, made


def _names(store: Store, text: str | None = None, order: str | None = None, **kw: object) -> list:
    return [row.record.name for row in find_runs(store, filter_text=text, order_by=order, **kw)]


def test_a_metric_logged_in_a_step_is_seen_by_the_filter(runs: tuple[Store, dict]) -> None:
    store, _ = runs
    assert set(_names(store, "metrics.val_accuracy > 0.9")) == {"good", "notebook"}
    assert _names(store, "metrics.val_accuracy > 0.9 and params.epochs = 20") == ["good"]


def test_params_compare_as_numbers_and_text_never_as_an_error(runs: tuple[Store, dict]) -> None:
    store, _ = runs
    assert set(_names(store, "params.epochs >= 20")) == {"good", "notebook"}
    assert _names(store, "params.epochs = 'many'") == ["text_epochs"]
    assert set(_names(store, "params.optimizer = 'adam'")) == {"good", "was_good", "text_epochs"}
    assert set(_names(store, "tags.build = 1.42")) == {"good", "was_good", "text_epochs"}
    assert _names(store, "tags.stage > 3") == []  # text is not a number: no match, no error


def test_order_by_a_step_metric_and_rows_show_the_steps_metrics(
    runs: tuple[Store, dict],
) -> None:
    store, _ = runs
    assert _names(store, order="metrics.val_accuracy desc") == [
        "notebook",
        "good",
        "text_epochs",
        "was_good",
    ]
    good = find_runs(store, filter_text="params.epochs = 20")[0]
    assert good.metrics["val_accuracy"] == pytest.approx(0.912)


def test_steps_can_be_listed_themselves(runs: tuple[Store, dict]) -> None:
    store, _ = runs
    steps = find_runs(store, filter_text="metrics.val_accuracy > 0.9", kinds=("step",))
    assert [r.record.kind for r in steps] == ["step"] and len(steps) == 1


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_workspace_of_100k_pipeline_runs_is_filtered_in_the_database(
    backend: str, request: pytest.FixtureRequest, tmp_path: object
) -> None:
    from conftest import _truncate, pg_settings
    from gyre.config import WorkspaceSettings
    from gyre.store import init_workspace, open_store

    if backend == "sqlite":
        store = init_workspace(tmp_path / ".gyre")  # type: ignore[operator]
    else:
        url = request.getfixturevalue("pg_database")
        settings = pg_settings(url, tmp_path / "blobs")  # type: ignore[operator]
        store = open_store(
            WorkspaceSettings(settings.db_url, settings.artifacts_url, tmp_path / "l"),  # type: ignore[operator]
            create=True,
        )
        _truncate(store)
    try:
        generate_runs(store, 100_000)
        rows = find_runs(store, filter_text="metrics.val_accuracy > 0.999 and params.epochs = 20")
        assert rows and all(r.metrics["val_accuracy"] > 0.999 for r in rows)
        assert all(r.params["epochs"] == 20 for r in rows)
        assert len(find_runs(store, filter_text="tags.build = 'b7'", limit=5000)) == 1000
    finally:
        if backend == "postgres":
            _truncate(store)
        store.close()


def generate_runs(store: Store, count: int) -> None:
    """``count`` pipeline runs with one step each, three val_accuracy points per step."""
    import random

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
        _bulk(
            tx,
            "runs",
            ("id", "kind", "parent_id", "experiment", "name", "status", "created_at"),
            runs,
        )
        _bulk(tx, "params", ("run_id", "key", "value"), params)
        _bulk(tx, "tags", ("run_id", "key", "value"), tags)
        metric_rows.insert_points(tx, points)


def _bulk(tx: object, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Rows in one COPY on PostgreSQL (the store's own way for metrics), else executemany."""
    names = ", ".join(columns)
    if tx.dialect == "postgresql":  # type: ignore[attr-defined]
        with tx.raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    tx.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)  # type: ignore[attr-defined]


def test_a_condition_many_runs_meet_gives_the_newest_matches_as_one_few_meet(
    any_store: Store,
) -> None:
    """Past ``BROAD`` matching values PostgreSQL tests run by run, newest first (a different
    query from the set of matches): both must give the same answer, steps included."""
    from gyre.store.run_search import BROAD

    now = time.time()
    expected = []
    with any_store.write() as tx:
        points = []
        for index in range(BROAD + 500):
            run_id = run_rows.create(tx, kind="run", name=f"r{index}", experiment="wide")
            run_rows.update_run(tx, run_id, created_at=now + index)
            accuracy = 0.9 if index % 5 else 0.1  # four in five match
            points.append((run_id, "acc", 0, 0.2, now))
            points.append((run_id, "acc", 1, accuracy, now))  # the latest decides
            if accuracy > 0.5:
                expected.append((now + index, f"r{index}"))
        pipeline = run_rows.create(tx, kind="pipeline", name="pipe", experiment="wide")
        run_rows.update_run(tx, pipeline, created_at=now + 10_000)
        step = run_rows.create(tx, kind="step", name="train", experiment="wide", parent_id=pipeline)
        points.append((step, "acc", 0, 0.95, now))
        metric_rows.insert_points(tx, points)
    newest = ["pipe", *[name for _, name in sorted(expected, reverse=True)][:49]]
    assert _names(any_store, "metrics.acc > 0.5", limit=50) == newest
    assert _names(any_store, "metrics.acc > 0.5", limit=50, kinds=("step",)) == ["train"]
    assert _names(any_store, "metrics.acc > 0.99", limit=50) == []
