"""Durations as users write them: ``90s``, ``10m``, ``1h``, ``1d`` (a bare number: seconds).
One grammar for release intervals, monitor windows and cool-downs, parsed here only."""

from __future__ import annotations

import re
from typing import Any

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float | None:
    """Seconds in ``value`` (a number, or text such as ``5s``, ``10m``, ``24h``); None when it
    is not a duration."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) if value >= 0 else None
    match = DURATION.match(value) if isinstance(value, str) else None
    return float(match.group(1)) * UNITS[match.group(2)] if match else None


def describe(seconds: float) -> str:
    """``3600.0`` -> ``1h``: the largest unit that divides it."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
