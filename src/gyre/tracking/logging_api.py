"""``gyre.log_metric`` and friends: what a step, script or notebook records about its run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from gyre.errors import InvalidParameter
from gyre.tracking.active_run import current


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Record one point of metric ``key`` (buffered; written within a second).

    Args:
        key: metric name, e.g. ``"val_accuracy"``.
        value: a number (NaN is kept as NaN).
        step: the x position, e.g. the epoch; default: one more than the last step of ``key``.
    """
    run = current()
    if type(value) is not float:
        value = _number(key, value)
    run.buffer.add(run.run_id, key, run.next_step(key, step), value)


def log_metrics(values: dict[str, float], step: int | None = None) -> None:
    """Record several metrics at the same step."""
    for key, value in values.items():
        log_metric(key, value, step)


def log_param(key: str, value: Any) -> None:
    """Record a parameter of the current run (immutable once set)."""
    log_params({key: value})


def log_params(values: dict[str, Any]) -> None:
    current().log_params(values)


def set_tag(key: str, value: str) -> None:
    """Set a tag on the current run (tags may change; params may not)."""
    current().set_tags({key: str(value)})


def log_artifact(path: str | Path, name: str | None = None) -> str:
    """Store a file or a folder with the current run; returns its digest."""
    run = current()
    source = Path(path)
    if not source.exists():
        raise InvalidParameter(
            f"log_artifact: {source} does not exist. Pass the path of a file or folder."
        )
    return run.log_artifact(source, name or source.name)


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidParameter(
            f"Metric {key!r} got {value!r} ({type(value).__name__}), which is not a number. "
            "Log a float or an int (for a tensor: value.item())."
        ) from None
    return number if not math.isnan(number) else math.nan
