"""Feature code shared by the quickstart steps: editing it re-runs the steps that use it."""

from __future__ import annotations


def standardize(rows: list[list[float]]) -> list[list[float]]:
    columns = list(zip(*rows, strict=True))
    means = [sum(c) / len(c) for c in columns]
    spreads = [
        max(1e-9, (sum((x - m) ** 2 for x in c) / len(c)) ** 0.5)
        for c, m in zip(columns, means, strict=True)
    ]
    return [[(x - m) / s for x, m, s in zip(row, means, spreads, strict=True)] for row in rows]
