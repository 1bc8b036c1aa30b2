"""Drift: compare the data a model sees with the data it learned from, once (``gyre.drift``,
``gyre drift``) or on a schedule (monitors, ``gyre monitor``), and act when it has drifted.

Statistics in :mod:`.statistics`, features in :mod:`.features`, the verdict in :mod:`.comparison`,
monitors and their windows in :mod:`.monitors`, actions in :mod:`.actions`.
"""

from __future__ import annotations

from typing import Any

from gyre.monitoring.comparison import Baseline, DriftReport, FeatureDrift, Settings

__all__ = ["Baseline", "DriftReport", "FeatureDrift", "Settings", "drift"]


def drift(
    baseline: Any,
    current: Any,
    *,
    features: list[str] | None = None,
    thresholds: dict[str, float | None] | None = None,
    correction: str = "bonferroni",
    drift_share: float = 0.5,
    weights: dict[str, float] | None = None,
    target: str | None = None,
) -> DriftReport:
    """Compare ``current`` with ``baseline`` feature by feature and judge the whole.

    Either side may be a pyarrow Table, a pandas DataFrame, a dict of columns, a labeled image
    folder (a ``Path``), a dataset version (``gyre.Dataset("products@2").get()``) or a dataset
    reference (``"products@2"``, read from the current workspace). ``target``: the baseline's
    label column, compared with the predictions of an inference dataset. See
    :class:`gyre.monitoring.Settings` for thresholds, the correction and the share."""
    settings = Settings.make(
        thresholds=thresholds,
        correction=correction,
        drift_share=drift_share,
        weights=weights,
        features=features,
    )
    return Baseline.prepare(_resolve(baseline, target), settings).compare(_resolve(current, None))


def _resolve(data: Any, target: str | None) -> Any:
    from gyre.monitoring import sources

    if isinstance(data, str):
        from gyre.tracking.current_store import current_store

        return sources.of_reference(current_store(), data, target=target)
    return sources.feature_set(data, target=target)
