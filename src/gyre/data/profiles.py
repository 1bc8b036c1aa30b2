"""Profiles computed when a version is registered: the baseline drift monitors compare with.

Tables: per column its type, count, nulls, and min/max/mean/std, quantiles and a histogram
(numeric) or the top categories with frequencies (other types). Labeled image folders: the
count per class and simple image statistics (sizes, channel means, brightness).
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

HISTOGRAM_BINS = 10
TOP_CATEGORIES = 10
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
IMAGE_SAMPLE = 200


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def table_profile(table: Any) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    columns: dict[str, Any] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        entry: dict[str, Any] = {
            "type": str(kind),
            "count": len(column) - column.null_count,
            "nulls": column.null_count,
        }
        if pa.types.is_integer(kind) or pa.types.is_floating(kind):
            values = pc.drop_null(column).cast(pa.float64())
            if len(values):
                low, high = pc.min(values).as_py(), pc.max(values).as_py()
                entry.update(
                    min=_finite(low),
                    max=_finite(high),
                    mean=_finite(pc.mean(values).as_py()),
                    std=_finite(pc.stddev(values).as_py()),
                    quantiles=dict(
                        zip(
                            (str(q) for q in QUANTILES),
                            (
                                _finite(v)
                                for v in pc.quantile(values, q=list(QUANTILES)).to_pylist()
                            ),
                            strict=True,
                        )
                    ),
                    histogram=_histogram(values.to_pylist(), low, high),
                )
        else:
            counts = Counter(str(v) for v in column.to_pylist() if v is not None)
            entry["distinct"] = len(counts)
            entry["top"] = [
                {"value": value, "count": count, "frequency": count / max(1, entry["count"])}
                for value, count in counts.most_common(TOP_CATEGORIES)
            ]
        columns[name] = entry
    return {"kind": "table", "rows": table.num_rows, "columns": columns}


def _histogram(values: list[float], low: float, high: float) -> dict[str, list[float]]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return {"edges": [], "counts": []}
    width = (high - low) / HISTOGRAM_BINS or 1.0
    counts = [0] * HISTOGRAM_BINS
    for v in finite:
        counts[min(HISTOGRAM_BINS - 1, int((v - low) / width))] += 1
    edges = [low + i * width for i in range(HISTOGRAM_BINS + 1)]
    return {"edges": edges, "counts": [float(c) for c in counts]}


def image_folder_profile(root: Path, files: dict[str, list[Any]]) -> dict[str, Any]:
    """Class counts from ``<label>/<image>`` paths; image statistics from a sample."""
    classes = Counter(rel.split("/", 1)[0] for rel in files if "/" in rel)
    profile: dict[str, Any] = {
        "kind": "labeled-images",
        "images": sum(classes.values()),
        "classes": dict(sorted(classes.items())),
    }
    try:
        from PIL import Image
    except ImportError:
        profile["image_stats"] = None
        return profile
    step = max(1, len(files) // IMAGE_SAMPLE)
    sizes: Counter[str] = Counter()
    channel_sums = [0.0, 0.0, 0.0]
    brightness: list[float] = []
    sampled = 0
    for rel in sorted(files)[::step]:
        try:
            with Image.open(root / rel) as image:
                sizes[f"{image.width}x{image.height}"] += 1
                raw = image.convert("RGB").resize((32, 32)).tobytes()
        except OSError:
            continue
        pixels = len(raw) // 3
        means = [sum(raw[c::3]) / pixels / 255 for c in range(3)]
        for c in range(3):
            channel_sums[c] += means[c]
        brightness.append(0.299 * means[0] + 0.587 * means[1] + 0.114 * means[2])
        sampled += 1
    if sampled:
        profile["image_stats"] = {
            "sampled": sampled,
            "sizes": dict(sizes.most_common(5)),
            "channel_means": [s / sampled for s in channel_sums],
            "brightness_mean": sum(brightness) / sampled,
            "brightness_std": (
                sum((b - sum(brightness) / sampled) ** 2 for b in brightness) / sampled
            )
            ** 0.5,
        }
    return profile


def files_profile(files: dict[str, list[Any]]) -> dict[str, Any]:
    suffixes = Counter(Path(rel).suffix.lower() or "(none)" for rel in files)
    return {
        "kind": "files",
        "files": len(files),
        "bytes": sum(size for _, size in files.values()),
        "suffixes": dict(suffixes.most_common(10)),
    }
