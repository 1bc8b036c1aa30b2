"""The monitoring benchmark's data: 25 generated columns, a baseline and a current sample drawn
independently (different seeds), drift injected into exactly 5 columns of the current one.

Numeric columns ``n00`` .. ``n19`` (float64): 8 normal, 6 lognormal, 6 uniform, each with its own
parameters. Categorical columns ``c0`` .. ``c4`` (strings): 5, 10, 20, 35 and 50 levels with
Zipf-like frequencies (level k of L drawn with probability proportional to 1 / k**1.2).

Needs only numpy and pyarrow, so gyre's side (``gyre_side.py``, the backfill's hourly windows)
imports it too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SEED_BASELINE = 11
SEED_CURRENT = 22
SIZES = {"100k": 100_000, "1m": 1_000_000}

# (name, distribution, parameters): normal (mean, std), lognormal (mean, sigma of the log),
# uniform (low, high)
NUMERIC: list[tuple[str, str, tuple[float, float]]] = [
    ("n00", "normal", (0.0, 1.0)),
    ("n01", "normal", (50.0, 5.0)),
    ("n02", "normal", (-3.0, 0.5)),
    ("n03", "normal", (1000.0, 120.0)),
    ("n04", "normal", (10.0, 2.0)),
    ("n05", "normal", (0.0, 0.01)),
    ("n06", "normal", (7.0, 3.0)),
    ("n07", "normal", (-40.0, 10.0)),
    ("n08", "lognormal", (0.0, 1.0)),
    ("n09", "lognormal", (2.0, 0.5)),
    ("n10", "lognormal", (-1.0, 0.25)),
    ("n11", "lognormal", (5.0, 1.5)),
    ("n12", "lognormal", (1.0, 0.75)),
    ("n13", "lognormal", (0.5, 0.1)),
    ("n14", "uniform", (0.0, 1.0)),
    ("n15", "uniform", (-100.0, 100.0)),
    ("n16", "uniform", (10.0, 11.0)),
    ("n17", "uniform", (0.0, 1e6)),
    ("n18", "uniform", (-5.0, 5.0)),
    ("n19", "uniform", (3.0, 4.0)),
]
CATEGORICAL: list[tuple[str, int]] = [("c0", 5), ("c1", 10), ("c2", 20), ("c3", 35), ("c4", 50)]
ZIPF_EXPONENT = 1.2

NUMERIC_COLUMNS = [name for name, _, _ in NUMERIC]
CATEGORICAL_COLUMNS = [name for name, _ in CATEGORICAL]
COLUMNS = NUMERIC_COLUMNS + CATEGORICAL_COLUMNS

SMALL_SHIFT_STD = 0.05
LARGE_SHIFT_STD = 1.0
STD_FACTOR = 1.5
MOVED_SHARE = 0.10  # of the rows at c1's top level, moved to its 4th level
NEW_LEVEL_SHARE = 0.02  # of all rows, set to a level c3 never had
DRIFTS = {
    "n01": f"small mean shift, +{SMALL_SHIFT_STD:g} std (normal)",
    "n04": f"large mean shift, +{LARGE_SHIFT_STD:g} std (normal)",
    "n06": f"variance change, std x{STD_FACTOR:g} (normal)",
    "c1": f"{MOVED_SHARE:.0%} of the top level's rows moved to the 4th level",
    "c3": f"new category in {NEW_LEVEL_SHARE:.0%} of the rows",
}
DRIFTED = sorted(DRIFTS)  # the ground truth


def levels(column: str, count: int) -> list[str]:
    return [f"{column}_level_{k:02d}" for k in range(count)]


def zipf_probabilities(count: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, count + 1) ** ZIPF_EXPONENT
    return weights / weights.sum()


def generate(rows: int, seed: int, *, drift: bool) -> pa.Table:
    """``rows`` rows of the 25 columns from ``seed``; with ``drift`` the 5 ``DRIFTS`` applied."""
    rng = np.random.default_rng(seed)
    arrays: dict[str, pa.Array] = {}
    for name, kind, (a, b) in NUMERIC:
        if kind == "normal":
            mean, std = a, b
            if drift and name == "n01":
                mean += SMALL_SHIFT_STD * std
            if drift and name == "n04":
                mean += LARGE_SHIFT_STD * std
            if drift and name == "n06":
                std *= STD_FACTOR
            values = rng.normal(mean, std, rows)
        elif kind == "lognormal":
            values = rng.lognormal(a, b, rows)
        else:
            values = rng.uniform(a, b, rows)
        arrays[name] = pa.array(values)
    for name, count in CATEGORICAL:
        names = levels(name, count)
        codes = rng.choice(count, size=rows, p=zipf_probabilities(count)).astype(np.int32)
        if drift and name == "c1":
            top = np.flatnonzero(codes == 0)
            moved = rng.choice(top, size=round(MOVED_SHARE * len(top)), replace=False)
            codes[moved] = 3
        if drift and name == "c3":
            chosen = rng.choice(rows, size=round(NEW_LEVEL_SHARE * rows), replace=False)
            codes[chosen] = count
            names = [*names, f"{name}_new"]
        dictionary = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(names))
        arrays[name] = dictionary.cast(pa.string())
    return pa.table(arrays)


def window(hour: int, rows: int, *, drift: bool) -> pa.Table:
    """One hourly window of the backfill: its own seed, drifted or not."""
    return generate(rows, 1_000 + hour, drift=drift)


def fingerprint() -> str:
    """Changes whenever this file does, so cached Parquet files are regenerated."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def write(folder: Path) -> dict[str, tuple[Path, Path]]:
    """``{size: (baseline.parquet, current.parquet)}`` in ``folder``, written unless already there
    from this very generator. The 100k files are the first 100,000 rows of the 1m ones (rows are
    independent draws, so a prefix is a sample of its own)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = folder / "generator.txt"
    files = {
        size: (folder / f"baseline-{size}.parquet", folder / f"current-{size}.parquet")
        for size in SIZES
    }
    ready = stamp.exists() and stamp.read_text() == fingerprint()
    if ready and all(p.exists() for pair in files.values() for p in pair):
        return files
    stamp.unlink(missing_ok=True)
    largest = max(SIZES.values())
    baseline = generate(largest, SEED_BASELINE, drift=False)
    current = generate(largest, SEED_CURRENT, drift=True)
    for size, rows in SIZES.items():
        base_path, current_path = files[size]
        pq.write_table(baseline.slice(0, rows), base_path)
        pq.write_table(current.slice(0, rows), current_path)
    stamp.write_text(fingerprint())
    return files
