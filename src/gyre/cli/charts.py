"""Terminal charts for ``gyre monitor show``: sparklines of a drift statistic per feature.

Pure functions from numbers to strings; the command prints them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

BLOCKS = "▁▂▃▄▅▆▇█"
_MIDDLE = BLOCKS[3]  # ▄, half height: a constant series shows no rise or fall
_NO_VALUE = "-"
DRIFT_MARKER = "DRIFT"

Point = tuple[float, float | None, bool]  # (window start, Unix seconds; value; drifted)


def sparkline(values: Sequence[float | None], width: int = 40) -> str:
    """One block character per value, scaled from the lowest (▁) to the highest (█).

    Only the last ``width`` values are drawn (the most recent ones). None, NaN and infinities
    are gaps (a space); a series whose values are all equal draws at half height.

    Example:
        >>> sparkline([1, 2, None, 4])
        '▁▃ █'
    """
    if width < 1:
        return ""
    shown = [_finite(value) for value in values[-width:]]
    present = [value for value in shown if value is not None]
    if not present:
        return " " * len(shown)
    low, high = min(present), max(present)
    # Halves: high - low can overflow to inf for finite values of opposite signs.
    span = high / 2 - low / 2
    return "".join(_block(value, low, span) for value in shown)


def drift_chart(series: Mapping[str, Sequence[Point]], width: int = 40) -> list[str]:
    """The lines of a drift chart: the time range covered, then one line per feature.

    Each feature line holds the feature's name, the sparkline of its values (time order, the
    latest at the right edge), its latest value (3 significant digits) and ``DRIFT`` when its
    latest window drifted. ``series`` maps a feature name to its points, ``(window start as
    Unix seconds, value or None, drifted)``, in any order.

    Example:
        >>> drift_chart({"age": [(0.0, 0.1, False), (86400.0, 0.4, True)]}, width=10)
        ['1970-01-01T00:00Z → 1970-01-02T00:00Z', 'age  ▁█  0.4  DRIFT']
    """
    ordered = {name: sorted(points, key=lambda point: point[0]) for name, points in series.items()}
    starts = [point[0] for points in ordered.values() for point in points]
    header = f"{_minute(min(starts))} → {_minute(max(starts))}" if starts else "no windows yet"
    if not ordered:
        return [header]
    name_width = max(len(name) for name in ordered)
    lines = {
        name: sparkline([point[1] for point in points], width) for name, points in ordered.items()
    }
    line_width = max(len(line) for line in lines.values())
    latest = {name: points[-1] if points else None for name, points in ordered.items()}
    values = {name: _value(point[1] if point else None) for name, point in latest.items()}
    value_width = max(len(value) for value in values.values())
    rows = [header]
    for name in ordered:
        point = latest[name]
        marker = DRIFT_MARKER if point is not None and point[2] else ""
        row = f"{name:<{name_width}}  {lines[name]:>{line_width}}  {values[name]:>{value_width}}"
        rows.append(f"{row}  {marker}".rstrip())
    return rows


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _block(value: float | None, low: float, span: float) -> str:
    if value is None:
        return " "
    if span == 0:
        return _MIDDLE
    # Half up, not round()'s half to even: equal steps in value are equal steps in height.
    level = math.floor((value / 2 - low / 2) / span * (len(BLOCKS) - 1) + 0.5)
    return BLOCKS[min(max(level, 0), len(BLOCKS) - 1)]


def _value(value: float | None) -> str:
    finite = _finite(value)
    return _NO_VALUE if finite is None else f"{finite:.3g}"


def _minute(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")
