"""The plain scipy loop, run in gyre's own ``.venv`` (its scipy, numpy, pandas and pyarrow are
the lock file's): per column of two pandas DataFrames, ``scipy.stats.ks_2samp`` (numeric) or
``scipy.stats.chi2_contingency`` on the two samples' level counts (categorical, over the union
of their levels), drifted when the p-value is below 0.05 / 25 (Bonferroni).

Not timed: reading the Parquet files and ``to_pandas``. Timed: the loop, counts included.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import child
import pandas as pd
import pyarrow.parquet as pq
from data import CATEGORICAL_COLUMNS, COLUMNS, NUMERIC_COLUMNS
from scipy.stats import chi2_contingency, ks_2samp

ALPHA = 0.05 / len(COLUMNS)


def load(baseline: Path, current: Path) -> tuple[Any, Any, dict[str, Any]]:
    started = time.perf_counter()
    frames = pq.read_table(baseline).to_pandas(), pq.read_table(current).to_pandas()
    return *frames, {"convert_s": time.perf_counter() - started}


def detect(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, float]:
    p_values = {}
    for name in NUMERIC_COLUMNS:
        p_values[name] = float(ks_2samp(reference[name].to_numpy(), current[name].to_numpy())[1])
    for name in CATEGORICAL_COLUMNS:
        counts = pd.concat(
            [reference[name].value_counts(), current[name].value_counts()], axis=1
        ).fillna(0)
        p_values[name] = float(chi2_contingency(counts.to_numpy().T)[1])
    return p_values


def found(p_values: dict[str, float]) -> tuple[list[str], dict[str, Any]]:
    return [name for name in COLUMNS if p_values[name] < ALPHA], {}


if __name__ == "__main__":
    child.measure("scipy", child.arguments(__doc__), load, detect, found)
