"""alibi-detect's side, run in its own environment: ``TabularDrift`` on two numpy arrays.

Input type: one float64 array per sample, 25 columns in the benchmark's order, each categorical
column as integer codes (one code per level over the union of both samples' levels, as the
detector needs numbers). Not timed: reading the Parquet files and that encoding (its time is
reported as ``convert_s``). Timed: ``TabularDrift(x_ref, p_val=0.05, categories_per_feature=
{i: None for the categorical columns})`` (default ``correction="bonferroni"``) and
``predict(x, drift_type="feature")``. A column counts as drifted when its ``is_drift`` is 1.

alibi-detect compares each feature's p-value with ``p_val`` itself when ``drift_type="feature"``
(the Bonferroni correction only enters the batch-level verdict), so the notes also count the
columns whose p-value is below 0.05 / 25.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import child
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from alibi_detect.cd import TabularDrift
from data import CATEGORICAL_COLUMNS, COLUMNS

P_VAL = 0.05
CATEGORICAL = [COLUMNS.index(c) for c in CATEGORICAL_COLUMNS]


def encode(baseline: pa.Table, current: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    arrays: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
    for name in COLUMNS:
        if name in CATEGORICAL_COLUMNS:
            levels = pc.unique(pa.chunked_array(baseline[name].chunks + current[name].chunks))
            for table, out in ((baseline, arrays[0]), (current, arrays[1])):
                out.append(pc.index_in(table[name], value_set=levels).to_numpy().astype(float))
        else:
            arrays[0].append(baseline[name].to_numpy())
            arrays[1].append(current[name].to_numpy())
    return np.column_stack(arrays[0]), np.column_stack(arrays[1])


def load(baseline: Path, current: Path) -> tuple[Any, Any, dict[str, Any]]:
    tables = pq.read_table(baseline), pq.read_table(current)
    started = time.perf_counter()
    x_ref, x = encode(*tables)
    return x_ref, x, {"convert_s": time.perf_counter() - started}


def detect(x_ref: np.ndarray, x: np.ndarray) -> Any:
    detector = TabularDrift(x_ref, p_val=P_VAL, categories_per_feature=dict.fromkeys(CATEGORICAL))
    return detector.predict(x, drift_type="feature", return_p_val=True)


def found(prediction: Any) -> tuple[list[str], dict[str, Any]]:
    flags = prediction["data"]["is_drift"]
    p_vals = prediction["data"]["p_val"]
    drifted = [name for name, flag in zip(COLUMNS, flags, strict=True) if flag]
    corrected = [name for name, p in zip(COLUMNS, p_vals, strict=True) if p < P_VAL / len(COLUMNS)]
    return drifted, {"found_bonferroni": corrected}


if __name__ == "__main__":
    child.measure("alibi-detect", child.arguments(__doc__), load, detect, found)
