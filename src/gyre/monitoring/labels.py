"""Ground truth that arrives later, joined to collected rows by request id, and the model
quality it gives per monitored window.

``gyre data label seer-inference --from labels.csv --key request_id`` adds a version of the
table dataset ``seer-inference-labels``: every label received so far, the newest label of a
request winning. The collected rows are never edited. A monitor of ``seer-inference`` then
joins each window's rows with the newest labels and reports accuracy and macro F1 (classes)
or MAE and RMSE (numbers) for the rows that have a label.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gyre.errors import InvalidParameter

if TYPE_CHECKING:
    from gyre.store import Store
    from gyre.store.datasets import VersionRecord

SUFFIX = "-labels"
LABEL = "label"
AT_LEAST = ("accuracy", "f1_macro")
AT_MOST = ("mae", "rmse")


def labels_dataset(dataset: str) -> str:
    return f"{dataset}{SUFFIX}"


def add(
    store: Store, dataset: str, source: Path, *, key: str = "request_id", column: str | None = None
) -> tuple[VersionRecord, int, int]:
    """(the new labels version, labels in the file, how many match a collected request).

    ``column``: the file's label column (default: ``label``, or its only other column)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from gyre.data import append_only, tables, versions
    from gyre.store import datasets as dataset_rows

    with store.read() as tx:
        dataset_rows.get_dataset(tx, dataset)  # NotFound names the datasets
    fmt = tables.table_format(source.name)
    if fmt is None or not source.is_file():
        raise InvalidParameter(
            f"{source} is not a CSV, Parquet or JSON lines file: give the labels as a table "
            f"with a {key} column and a label column."
        )
    table = tables.read_table(source.read_bytes(), fmt, str(source))
    if key not in table.column_names:
        raise InvalidParameter(
            f"{source} has no {key!r} column (it has {', '.join(table.column_names)}): name the "
            "column that holds the request ids with --key."
        )
    others = [c for c in table.column_names if c != key]
    chosen = column or (LABEL if LABEL in others else (others[0] if len(others) == 1 else None))
    if chosen is None or chosen not in others:
        raise InvalidParameter(
            f"Which column of {source} holds the labels? It has {', '.join(others)}: choose one "
            "with --column, or name it 'label'."
        )
    fresh = pa.table(
        {"request_id": pc.cast(table.column(key), pa.string()), LABEL: table.column(chosen)}
    )
    name = labels_dataset(dataset)
    with store.read() as tx:
        has_earlier = dataset_rows.dataset_exists(tx, name)
    if has_earlier:
        earlier = versions.to_arrow(store, versions.get(store, name, "latest"))
        fresh = _newest_wins(earlier, fresh)
    collected = append_only.window(store, dataset) if _is_append_only(store, dataset) else None
    matched = 0
    if collected is not None and "request_id" in collected.column_names:
        ids = pc.cast(collected.column("request_id"), pa.string())
        matched = int(pc.sum(pc.is_in(fresh.column("request_id"), value_set=ids)).as_py() or 0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.parquet"
        buffer = io.BytesIO()
        pq.write_table(fresh, buffer)
        path.write_bytes(buffer.getvalue())
        added = versions.add(
            store, name, str(path), description=f"labels of {dataset} from {source.name}"
        )
    return added.version, table.num_rows, matched


def _is_append_only(store: Store, dataset: str) -> bool:
    from gyre.store import datasets as dataset_rows

    with store.read() as tx:
        return dataset_rows.get_dataset(tx, dataset).kind == "append"


def _newest_wins(earlier: Any, fresh: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    kept = earlier.filter(
        pc.invert(pc.is_in(earlier.column("request_id"), value_set=fresh.column("request_id")))
    )
    try:
        return pa.concat_tables(
            [kept.select(["request_id", LABEL]), fresh], promote_options="permissive"
        )
    except pa.ArrowInvalid as exc:
        raise InvalidParameter(
            f"The new labels do not have the type of the earlier ones: {exc}."
        ) from None


def check_limits(limits: dict[str, float]) -> dict[str, float]:
    """Quality limits, checked: the metric names and numbers."""
    checked = {}
    for name, value in limits.items():
        if name not in AT_LEAST + AT_MOST:
            raise InvalidParameter(
                f"Unknown quality metric {name!r}: limits can be set on "
                f"{', '.join(AT_LEAST)} (at least) and {', '.join(AT_MOST)} (at most)."
            )
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise InvalidParameter(f"The {name} limit must be a number >= 0, not {value!r}.")
        checked[name] = float(value)
    return checked


def breaches(quality: dict[str, Any] | None, limits: dict[str, float]) -> list[str]:
    """Which limits a window's quality breaks, as text (none without labelled rows)."""
    if not quality or not quality.get("labelled"):
        return []
    found = []
    for name, limit in limits.items():
        value = quality.get(name)
        if value is None:
            continue
        if name in AT_LEAST and value < limit:
            found.append(f"{name} {value:.3g} < {limit:.3g}")
        if name in AT_MOST and value > limit:
            found.append(f"{name} {value:.3g} > {limit:.3g}")
    return found


def window_quality(store: Store, dataset: str, window: Any) -> dict[str, Any] | None:
    """Quality of the window's predictions on the rows that have a label; None when there are
    no labels for this dataset."""
    from gyre.data import versions
    from gyre.store import datasets as dataset_rows

    name = labels_dataset(dataset)
    with store.read() as tx:
        if not dataset_rows.dataset_exists(tx, name):
            return None
    labels = versions.to_arrow(store, versions.get(store, name, "latest"))
    return quality(window, labels)


def quality(window: Any, labels: Any) -> dict[str, Any] | None:
    """Accuracy and macro F1, or MAE and RMSE, of a window's predictions against labels."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if "request_id" not in window.column_names or "outputs" not in window.column_names:
        return None
    per_row = _predictions(window)
    if per_row is None:
        return None
    ids = pc.cast(window.column("request_id"), pa.string())
    joined = pa.table({"request_id": ids, "predicted": per_row}).join(
        labels.select(["request_id", LABEL]), "request_id", join_type="inner"
    )
    n = joined.num_rows
    if n == 0:
        return {"labelled": 0}
    truth, guess = joined.column(LABEL), joined.column("predicted")
    if pa.types.is_floating(truth.type) and pa.types.is_floating(guess.type):
        error = np.asarray(guess, dtype=float) - np.asarray(truth, dtype=float)
        return {
            "labelled": n,
            "mae": float(np.mean(np.abs(error))),
            "rmse": float(np.sqrt(np.mean(error**2))),
        }
    t = [str(v) for v in truth.to_pylist()]
    g = [str(v) for v in guess.to_pylist()]
    return {
        "labelled": n,
        "accuracy": sum(a == b for a, b in zip(t, g, strict=True)) / n,
        "f1_macro": _f1_macro(t, g),
    }


def _predictions(window: Any) -> Any:
    """One prediction per row: the class (or value) the model answered; None if unknown."""
    from gyre.monitoring.features import PREDICTION, prediction_columns

    found = prediction_columns(window.column("outputs"), {}).get(PREDICTION)
    return found[0] if found is not None else None


def _f1_macro(truth: list[str], guess: list[str]) -> float:
    classes = sorted(set(truth) | set(guess))
    scores = []
    for c in classes:
        tp = sum(1 for t, g in zip(truth, guess, strict=True) if t == c and g == c)
        fp = sum(1 for t, g in zip(truth, guess, strict=True) if t != c and g == c)
        fn = sum(1 for t, g in zip(truth, guess, strict=True) if t == c and g != c)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return sum(scores) / len(scores) if scores else 0.0
