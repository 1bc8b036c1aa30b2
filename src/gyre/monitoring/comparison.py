"""Drift between a baseline and current data: per-feature statistics, thresholds, the
multiple-testing correction and a dataset-level verdict.

A feature has drifted when one of its judged statistics breaches its threshold: a p-value
(``ks_pvalue`` for numeric features, ``chi2_pvalue`` for categorical ones) below the
family-wise alpha after the correction across every feature tested, or a distance above its
threshold (``wasserstein_normed``, ``psi``, ``jensen_shannon``, ``new_share``; off unless set,
except ``new_share``, the share of current rows in categories the baseline never had). The data
has drifted when the share of drifted features (weighted by importance where given) reaches
``drift_share``. Every threshold, the correction and the per-test alpha are written in the
report, so a verdict can be checked by hand.

``Baseline.prepare`` does the baseline's part once (sorting, counting, image statistics), and
``compare`` then costs one pass over the current data: a monitor keeps its baseline between
windows.
"""

from __future__ import annotations

import math
import numbers
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gyre.errors import InvalidParameter, NotFound, did_you_mean
from gyre.monitoring import statistics
from gyre.monitoring.features import MISSING, PREDICTION, Feature, FeatureSet

PVALUES = {"numeric": "ks_pvalue", "categorical": "chi2_pvalue"}
DISTANCES = ("wasserstein_normed", "psi", "jensen_shannon", "new_share")
DEFAULT_THRESHOLDS: dict[str, float | None] = {
    "ks_pvalue": 0.05,
    "chi2_pvalue": 0.05,
    "wasserstein_normed": None,
    "psi": None,
    "jensen_shannon": None,
    "new_share": 0.01,
}
CORRECTIONS = ("bonferroni", "fdr_bh", "none")
# Columns computed side by side: one per core (sorting and merging release the GIL); more
# threads only add memory. Small data is computed in the calling thread.
WORKERS = min(4, os.cpu_count() or 1)
PARALLEL_FROM_ROWS = 50_000


def _non_negative(value: object) -> bool:
    """A finite number >= 0 (numpy's too: feature importances are np.float32), not a bool."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool | np.bool_)
        and math.isfinite(float(value))
        and float(value) >= 0
    )


@dataclass(frozen=True)
class Settings:
    """How features are judged; every field is written into each report."""

    thresholds: dict[str, float | None] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    correction: str = "bonferroni"
    drift_share: float = 0.5
    weights: dict[str, float] = field(default_factory=dict)
    features: tuple[str, ...] | None = None  # None: every feature both sides have

    @classmethod
    def make(
        cls,
        *,
        thresholds: dict[str, float | None] | None = None,
        correction: str = "bonferroni",
        drift_share: float = 0.5,
        weights: dict[str, float] | None = None,
        features: list[str] | tuple[str, ...] | None = None,
    ) -> Settings:
        """Checked settings: unknown statistics, corrections or shares name the fix."""
        merged = dict(DEFAULT_THRESHOLDS)
        for name, value in (thresholds or {}).items():
            if name not in DEFAULT_THRESHOLDS:
                raise InvalidParameter(
                    f"Unknown drift statistic {name!r} in the thresholds."
                    f"{did_you_mean(name, DEFAULT_THRESHOLDS)} Thresholds can be set for: "
                    f"{', '.join(DEFAULT_THRESHOLDS)}."
                )
            if value is not None and not _non_negative(value):
                raise InvalidParameter(
                    f"The threshold of {name} must be a number >= 0 (or off), not {value!r}."
                )
            if name in PVALUES.values() and value is not None and value > 1:
                raise InvalidParameter(
                    f"The threshold of {name} is an alpha: between 0 and 1, not {value}."
                )
            merged[name] = None if value is None else float(value)
        if correction not in CORRECTIONS:
            raise InvalidParameter(
                f"Unknown multiple-testing correction {correction!r}: use one of "
                f"{', '.join(CORRECTIONS)}."
            )
        if not _non_negative(drift_share) or not 0 < drift_share <= 1:
            raise InvalidParameter(
                f"drift_share is the share of drifted features that makes the data drifted: "
                f"a number in (0, 1], not {drift_share}."
            )
        for name, weight in (weights or {}).items():
            if not _non_negative(weight):
                raise InvalidParameter(
                    f"The weight of feature {name!r} must be a number >= 0, not {weight!r}."
                )
        return cls(
            merged,
            correction,
            float(drift_share),
            {str(k): float(v) for k, v in (weights or {}).items()},
            tuple(features) if features else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "thresholds": self.thresholds,
            "correction": self.correction,
            "drift_share": self.drift_share,
            "weights": self.weights,
            "features": list(self.features) if self.features else None,
        }


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    kind: str
    origin: str
    drifted: bool
    breaches: list[str]
    statistics: dict[str, Any]
    weight: float = 1.0
    problem: str | None = None  # a type change, an empty side: why it was judged as it was

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "origin": self.origin,
            "drifted": self.drifted,
            "breaches": self.breaches,
            "weight": self.weight,
            "problem": self.problem,
            "statistics": self.statistics,
        }


@dataclass(frozen=True)
class DriftReport:
    """The verdict and every feature's statistics, with the rules that made them."""

    drifted: bool
    share: float
    features: list[FeatureDrift]
    settings: Settings
    correction: dict[str, Any]
    baseline_rows: int
    current_rows: int
    skipped: dict[str, str]
    undecodable_images: dict[str, int]

    @property
    def drifted_features(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    def feature(self, name: str) -> FeatureDrift:
        for found in self.features:
            if found.name == name:
                return found
        names = [f.name for f in self.features]
        raise NotFound(
            f"No feature {name!r} in this report{did_you_mean(name, names)} "
            f"It compared: {', '.join(names)}."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "drifted": self.drifted,
            "share": self.share,
            "drift_share": self.settings.drift_share,
            "drifted_features": self.drifted_features,
            "baseline_rows": self.baseline_rows,
            "current_rows": self.current_rows,
            "correction": self.correction,
            "settings": self.settings.to_dict(),
            "features": [f.to_dict() for f in self.features],
            "skipped": self.skipped,
            "undecodable_images": self.undecodable_images,
        }


class Baseline:
    """A baseline's features, prepared once, to compare windows of current data with."""

    def __init__(self, features: FeatureSet, settings: Settings | None = None) -> None:
        if features.rows == 0:
            raise InvalidParameter(
                "The baseline has no rows: there is nothing to compare with. Choose a dataset "
                "version (or table, or image folder) that holds the data the model learned from."
            )
        self.features = features
        self.settings = settings or Settings()
        if self.settings.features:
            self._check_selected(self.settings.features)

    @classmethod
    def prepare(
        cls, data: Any, settings: Settings | None = None, *, target: str | None = None
    ) -> Baseline:
        """``data``: a pyarrow Table or pandas DataFrame (``target``: its label column, which
        the predictions are compared with), or a :class:`FeatureSet`."""
        from gyre.monitoring import sources

        return cls(sources.feature_set(data, target=target), settings)

    def _check_selected(self, selected: tuple[str, ...]) -> None:
        missing = [n for n in selected if not self._select(n, self.features.features)]
        if missing:
            have = sorted(self.features.features)
            raise InvalidParameter(
                f"The baseline has no feature {', '.join(repr(m) for m in missing)}."
                f"{did_you_mean(missing[0], have)} Its features: {', '.join(have[:30])}"
                f"{' ...' if len(have) > 30 else ''}. Choose features the baseline has, or "
                "another baseline."
            )

    @staticmethod
    def _select(name: str, features: dict[str, Feature]) -> list[str]:
        """The features a selected name means (``image`` selects ``image.*``)."""
        if name in features:
            return [name]
        return [f for f in features if f.startswith(f"{name}.")]

    def compare(self, current: Any, settings: Settings | None = None) -> DriftReport:
        """Judge ``current`` (a Table, DataFrame or FeatureSet) against this baseline."""
        from gyre.monitoring import sources

        settings = settings or self.settings
        now = sources.feature_set(current)
        if now.rows == 0:
            raise InvalidParameter(
                "The current data has no rows: there is nothing to compare with the baseline. "
                "Choose a window or dataset version that holds rows."
            )
        base = self.features.features
        if settings.features:
            self._check_selected(settings.features)
            names = [n for s in settings.features for n in self._select(s, base)]
        else:
            names = sorted(base)
        skipped = dict(now.skipped)
        pairs: list[tuple[str, Feature, Feature | None]] = []
        for name in names:
            found = now.features.get(name)
            if found is None and not settings.features:
                skipped.setdefault(name, "only in the baseline")
                continue
            pairs.append((name, base[name], found))
        for name in now.features:
            if name not in base and not settings.features:
                skipped[name] = "only in the current data"
        if not pairs:
            raise InvalidParameter(
                "The baseline and the current data have no feature in common: the baseline has "
                f"{_listed(base)}; the current data has {_listed(now.features)}. Compare data "
                "of the same kind (an inference dataset's in_<field> columns are compared as "
                "<field>), or choose another baseline."
            )
        unknown = sorted(set(settings.weights) - {name for name, _, _ in pairs})
        if unknown:
            compared = [name for name, _, _ in pairs]
            raise InvalidParameter(
                f"A weight is given for {', '.join(repr(u) for u in unknown)}, which is not "
                f"compared.{did_you_mean(unknown[0], compared)} Compared: {_listed(compared)}."
            )
        if now.rows < PARALLEL_FROM_ROWS:
            computed = [_statistics(b, c) for _, b, c in pairs]
        else:
            with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                computed = list(pool.map(lambda p: _statistics(p[1], p[2]), pairs))
        return _judge(
            pairs,
            computed,
            settings,
            self.features.rows,
            now.rows,
            skipped,
            {"baseline": self.features.undecodable_images, "current": now.undecodable_images},
        )


def _listed(names: Any) -> str:
    shown = sorted(names)
    return ", ".join(shown[:20]) + (" ..." if len(shown) > 20 else "") if shown else "none"


def compare(
    baseline: Any, current: Any, settings: Settings | None = None, *, target: str | None = None
) -> DriftReport:
    return Baseline.prepare(baseline, settings, target=target).compare(current)


def _statistics(base: Feature, now: Feature | None) -> tuple[dict[str, Any], str | None, bool]:
    """(statistics, the problem that kept them from being computed, whether that problem is
    itself drift: a feature that vanished, changed type or is now all missing)."""
    if now is None:
        return {}, "the current data does not have this feature", True
    if base.kind == MISSING:
        return {}, "the baseline has no value for it (all missing): not judged", False
    if now.kind == MISSING:
        return {}, "the current data has no value for it (all missing)", True
    if base.kind != now.kind:
        return (
            {},
            (
                f"its type changed: {base.data_type} ({base.kind}) in the baseline, "
                f"{now.data_type} ({now.kind}) now"
            ),
            True,
        )
    if isinstance(base.sample, statistics.NumericSample):
        assert isinstance(now.sample, statistics.NumericSample)
        computed = statistics.numeric(base.sample, now.sample)
    else:
        assert isinstance(now.sample, statistics.CategoricalSample)
        computed = statistics.categorical(base.sample, now.sample)
    if base.sample.size == 0:
        return computed, "the baseline has no value for it (all missing): not judged", False
    if now.sample.size == 0:
        return computed, "the current data has no value for it (all missing)", True
    return computed, None, False


def _judge(
    pairs: list[tuple[str, Feature, Feature | None]],
    computed: list[tuple[dict[str, Any], str | None, bool]],
    settings: Settings,
    baseline_rows: int,
    current_rows: int,
    skipped: dict[str, str],
    undecodable: dict[str, int],
) -> DriftReport:
    thresholds = settings.thresholds
    tests: list[tuple[int, float, float]] = []  # (feature index, p-value, its alpha)
    for i, (_, base, _) in enumerate(pairs):
        key = PVALUES.get(base.kind, "")
        alpha, pvalue = thresholds.get(key), computed[i][0].get(key)
        if alpha is not None and pvalue is not None:
            tests.append((i, float(pvalue), alpha))
    rejected, correction = _correct([(p, a) for _, p, a in tests], settings.correction)
    limits = {tests[k][0]: limit for k, limit in rejected.items()}
    results: list[FeatureDrift] = []
    for i, ((name, base, _), (stats, problem, is_drift)) in enumerate(
        zip(pairs, computed, strict=True)
    ):
        breaches = [problem] if problem is not None and is_drift else []
        if i in limits:
            key = PVALUES[base.kind]
            breaches.append(f"{key} {stats[key]:.3g} < {limits[i]:.3g}")
        for key in DISTANCES:
            limit, value = thresholds.get(key), stats.get(key)
            if limit is not None and value is not None and value > limit:
                breaches.append(f"{key} {value:.3g} > {limit:.3g}")
        results.append(
            FeatureDrift(
                name,
                base.kind,
                base.origin,
                bool(breaches),
                breaches,
                stats,
                settings.weights.get(name, 1.0),
                problem,
            )
        )
    total = sum(f.weight for f in results)
    share = sum(f.weight for f in results if f.drifted) / total if total else 0.0
    return DriftReport(
        share >= settings.drift_share and total > 0,
        share,
        results,
        settings,
        correction,
        baseline_rows,
        current_rows,
        skipped,
        undecodable,
    )


def _correct(
    tests: list[tuple[float, float]], method: str
) -> tuple[dict[int, float], dict[str, Any]]:
    """({index of a rejected test: the limit its p-value was below}, the correction as the
    report writes it). ``tests``: (p-value, the alpha of its statistic)."""
    m = len(tests)
    described: dict[str, Any] = {"method": method, "tests": m}
    if method == "none" or m == 0:
        return {i: a for i, (p, a) in enumerate(tests) if p < a}, described
    if method == "bonferroni":
        described["rule"] = "a p-value is below its alpha divided by the number of tests"
        return {i: a / m for i, (p, a) in enumerate(tests) if p < a / m}, described
    # Benjamini-Hochberg: reject the k smallest p-values, k the largest rank with p <= k/m alpha.
    described["rule"] = (
        "Benjamini-Hochberg: the k smallest p-values, k the largest rank with p <= k/m alpha"
    )
    order = sorted(range(m), key=lambda i: tests[i][0])
    cutoff = 0
    for rank, i in enumerate(order, start=1):
        if tests[i][0] <= rank / m * tests[i][1]:
            cutoff = rank
    return {i: cutoff / m * tests[i][1] for i in order[:cutoff]}, described


__all__ = ["PREDICTION", "Baseline", "DriftReport", "FeatureDrift", "Settings", "compare"]


def report_from_dict(data: dict[str, Any]) -> DriftReport:
    """A report as :meth:`DriftReport.to_dict` wrote it (a stored window's)."""
    settings = data.get("settings") or {}
    return DriftReport(
        bool(data["drifted"]),
        float(data["share"]),
        [
            FeatureDrift(
                f["name"],
                f["kind"],
                f["origin"],
                bool(f["drifted"]),
                list(f["breaches"]),
                dict(f["statistics"]),
                float(f.get("weight", 1.0)),
                f.get("problem"),
            )
            for f in data.get("features", [])
        ],
        Settings.make(
            thresholds=settings.get("thresholds"),
            correction=settings.get("correction", "bonferroni"),
            drift_share=settings.get("drift_share", 0.5),
            weights=settings.get("weights"),
            features=settings.get("features"),
        ),
        dict(data.get("correction") or {}),
        int(data.get("baseline_rows", 0)),
        int(data.get("current_rows", 0)),
        dict(data.get("skipped") or {}),
        dict(data.get("undecodable_images") or {}),
    )
