"""Evidently's side, run in its own environment: ``DataDriftPreset`` on two pandas DataFrames.

Timed: ``Dataset.from_pandas`` of both DataFrames (with a ``DataDefinition`` naming the numeric
and the categorical columns, as alibi-detect gets ``categories_per_feature``) and
``Report([DataDriftPreset()], include_tests=True).run(current, reference)``. Not timed: reading
the Parquet files and ``to_pandas``. A column counts as drifted when its own ``ValueDrift`` test
failed (Evidently's per-column verdict: its method's score against its threshold).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import child
import pyarrow.parquet as pq
from data import CATEGORICAL_COLUMNS, NUMERIC_COLUMNS
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset


def load(baseline: Path, current: Path) -> tuple[Any, Any, dict[str, Any]]:
    started = time.perf_counter()
    frames = pq.read_table(baseline).to_pandas(), pq.read_table(current).to_pandas()
    return *frames, {"convert_s": time.perf_counter() - started}


def detect(reference: Any, current: Any) -> Any:
    definition = DataDefinition(
        numerical_columns=NUMERIC_COLUMNS, categorical_columns=CATEGORICAL_COLUMNS
    )
    report = Report([DataDriftPreset()], include_tests=True)
    return report.run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )


def found(snapshot: Any) -> tuple[list[str], dict[str, Any]]:
    drifted = []
    methods: dict[str, str] = {}
    for result in snapshot.dict()["tests"]:
        name = result["name"]
        if name.startswith("Value Drift for column "):
            column = name.removeprefix("Value Drift for column ")
            if result["status"] == "FAIL":
                drifted.append(column)
            description = result["description"]
            method = description.split("The drift detection method is ")[1].split(". ")[0]
            methods[method] = methods.get(method, "") + f" {column}"
    return drifted, {"methods": {m: c.strip() for m, c in methods.items()}}


if __name__ == "__main__":
    child.measure("evidently", child.arguments(__doc__), load, detect, found)
