"""When a monitor's windows end: the ticks of its cron schedule (croniter, in UTC), each
closing the window ``[tick - window, tick)``; without a schedule, back-to-back windows."""

from __future__ import annotations

import datetime as dt

from gyre.errors import InvalidParameter

MAX_TICKS = 100_000  # a backfill over more windows than this is refused, not started


def check_cron(expression: str) -> str:
    """The expression, if croniter reads it; else an error that shows the form."""
    from croniter import croniter

    if not croniter.is_valid(expression):
        raise InvalidParameter(
            f"The schedule {expression!r} is not a cron expression. Give five fields, minute "
            "hour day-of-month month day-of-week, in UTC: '0 * * * *' is every hour on the "
            "hour, '*/15 * * * *' every 15 minutes, '0 6 * * 1' Mondays at 06:00."
        )
    return expression


def ticks(expression: str | None, window_s: float, after: float, until: float) -> list[float]:
    """Window ends in (after, until]: cron ticks, or multiples of the window (from the epoch)
    without a schedule."""
    if until <= after:
        return []
    if expression is None:
        first = (after // window_s + 1) * window_s
        count = int((until - first) // window_s) + 1 if until >= first else 0
        _check_count(count)
        return [first + i * window_s for i in range(count)]
    from croniter import croniter

    found: list[float] = []
    cursor = croniter(expression, dt.datetime.fromtimestamp(after, dt.UTC))
    while True:
        tick = float(cursor.get_next(float))
        if tick > until:
            return found
        found.append(tick)
        _check_count(len(found))


def _check_count(count: int) -> None:
    if count > MAX_TICKS:
        raise InvalidParameter(
            f"That range holds more than {MAX_TICKS} windows. Choose a shorter range or a "
            "longer window."
        )
