"""Drift statistics against scipy's own functions, on random data of several shapes.

The module computes KS and Wasserstein from one merge of the sorted samples instead of calling
scipy; these tests hold it to scipy's values within 1e-9 (absolute, relative for large values):
ties, unequal sizes, one value on a side, heavy duplicates, NaN and infinities left out, and both
of scipy's p-value regimes (exact up to 10,000 values a side, asymptotic above)."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial import distance

from gyre.monitoring import statistics
from gyre.monitoring.statistics import CategoricalSample, NumericSample

TOLERANCE = 1e-9

Generator = Callable[[np.random.Generator, int], Any]

GENERATORS: dict[str, Generator] = {
    "normal": lambda rng, n: rng.normal(size=n),
    "shifted lognormal": lambda rng, n: rng.lognormal(1.0, 0.8, size=n) + 3.0,
    "exponential in the millions": lambda rng, n: rng.exponential(2e6, size=n),
    "cauchy rounded to one decimal (ties)": lambda rng, n: np.round(rng.standard_cauchy(n), 1),
    "small integers (heavy ties)": lambda rng, n: rng.integers(0, 6, size=n).astype(float),
    "ninety percent zeros": lambda rng, n: rng.choice([0.0, 1.0, 2.5], size=n, p=[0.9, 0.05, 0.05]),
    "signed zeros and ones": lambda rng, n: rng.choice([0.0, -0.0, 1.0], size=n),
    "uniform": lambda rng, n: rng.uniform(-1, 1, size=n),
}
SIZES = [(1, 1), (1, 40), (57, 1), (2, 3), (30, 300), (500, 45), (1000, 1000)]


def close(got: float, expected: float) -> bool:
    """Within 1e-9 absolutely, or relatively for values above 1."""
    return abs(got - expected) <= TOLERANCE * max(1.0, abs(expected))


def scipy_bins(base: Any, current: Any, edges: Any) -> tuple[Any, Any]:
    """Counts of each sample in (-inf, e1], (e1, e2], ..., (ek, inf), counted by numpy."""
    size = len(edges) + 1
    return (
        np.bincount(np.digitize(base, edges, right=True), minlength=size),
        np.bincount(np.digitize(current, edges, right=True), minlength=size),
    )


def _pairs() -> list[Any]:
    return [
        pytest.param(name, n1, n2, id=f"{name}-{n1}x{n2}")
        for name in GENERATORS
        for n1, n2 in SIZES
    ]


@pytest.mark.parametrize(("name", "n1", "n2"), _pairs())
def test_ks_and_wasserstein_equal_scipys_on_random_data(name: str, n1: int, n2: int) -> None:
    rng = np.random.default_rng(zlib.crc32(f"{name}-{n1}-{n2}".encode()))
    generate = GENERATORS[name]
    a = generate(rng, n1)
    b = generate(rng, n2) * 1.1 + (0.2 if n1 % 2 else 0.0)
    got = statistics.numeric(NumericSample.of(a), NumericSample.of(b))
    expected = stats.ks_2samp(a, b)
    assert close(got["ks_statistic"], expected.statistic)
    assert close(got["ks_pvalue"], expected.pvalue)
    wasserstein = stats.wasserstein_distance(a, b)
    assert close(got["wasserstein"], wasserstein)
    std = np.std(a)  # the baseline's (population) standard deviation
    if std > 0:
        assert close(got["wasserstein_normed"], wasserstein / std)
    else:  # a constant baseline: 0 when nothing moved, else no normed value
        assert got["wasserstein_normed"] == (0.0 if wasserstein == 0 else None)


def test_the_ks_pvalue_is_scipys_exact_one_up_to_ten_thousand_values_a_side() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=10_000), rng.normal(0.03, size=6_000)
    got = statistics.numeric(NumericSample.of(a), NumericSample.of(b))
    expected = stats.ks_2samp(a, b, method="exact")
    assert close(got["ks_statistic"], expected.statistic)
    assert close(got["ks_pvalue"], expected.pvalue)
    assert close(got["ks_pvalue"], stats.ks_2samp(a, b).pvalue)


@pytest.mark.parametrize(("n1", "n2"), [(20_000, 15_000), (12_000, 30_000), (10_001, 5)])
def test_the_ks_pvalue_is_scipys_asymptotic_one_above_ten_thousand_values(n1: int, n2: int) -> None:
    rng = np.random.default_rng(n1 + n2)
    a, b = rng.normal(size=n1), np.round(rng.normal(0.02, size=n2), 2)
    got = statistics.numeric(NumericSample.of(a), NumericSample.of(b))
    expected = stats.ks_2samp(a, b)  # method 'auto' takes 'asymp' here
    assert expected.pvalue == pytest.approx(stats.ks_2samp(a, b, method="asymp").pvalue)
    assert close(got["ks_statistic"], expected.statistic)
    assert close(got["ks_pvalue"], expected.pvalue)
    assert close(got["wasserstein"], stats.wasserstein_distance(a, b))


@pytest.mark.parametrize("shift", [0.03, 0.06, 0.1, 0.2])
def test_a_small_asymptotic_ks_pvalue_is_scipys_to_1e9_relative(shift: float) -> None:
    # An absolute 1e-9 says nothing about p = 1e-30; the relative error does.
    rng = np.random.default_rng(21)
    a, b = rng.normal(size=20_000), rng.normal(shift, size=15_000)
    got = statistics.numeric(NumericSample.of(a), NumericSample.of(b))
    expected = stats.ks_2samp(a, b)
    assert 0 < expected.pvalue < 0.05
    assert got["ks_pvalue"] == pytest.approx(expected.pvalue, rel=1e-9, abs=0)


finite_floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
any_floats = st.one_of(
    finite_floats,
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0]),
)


@given(
    st.lists(any_floats, min_size=1, max_size=40),
    st.lists(any_floats, min_size=1, max_size=40),
)
@settings(max_examples=150, deadline=None)
@pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation unsuccessful:RuntimeWarning")
def test_ks_and_wasserstein_equal_scipys_on_any_finite_values(
    base: list[float], current: list[float]
) -> None:
    a, b = NumericSample.of(base), NumericSample.of(current)
    finite_a = np.array([x for x in base if math.isfinite(x)])
    finite_b = np.array([x for x in current if math.isfinite(x)])
    assert a.size == len(finite_a)
    assert a.missing == sum(math.isnan(x) for x in base)
    assert a.infinite == sum(math.isinf(x) for x in base)
    if not a.size or not b.size:
        got = statistics.numeric(a, b)
        assert got["ks_statistic"] is None
        assert got["wasserstein"] is None
        return
    got = statistics.numeric(a, b)
    expected = stats.ks_2samp(finite_a, finite_b)
    assert close(got["ks_statistic"], expected.statistic)
    assert close(got["ks_pvalue"], expected.pvalue)
    assert close(got["wasserstein"], stats.wasserstein_distance(finite_a, finite_b))


def test_nan_and_infinities_are_left_out_and_counted() -> None:
    values = [1.0, math.nan, 2.0, math.inf, 3.0, -math.inf, math.nan, 4.0]
    sample = NumericSample.of(values, missing=3)  # 3 nulls seen before the conversion
    assert sample.values.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert sample.missing == 5
    assert sample.infinite == 2
    rng = np.random.default_rng(3)
    base = rng.normal(size=200)
    got = statistics.numeric(NumericSample.of(base), sample)
    assert got["current_rows"] == 4
    assert got["current_missing"] == 5
    assert close(got["ks_statistic"], stats.ks_2samp(base, [1.0, 2.0, 3.0, 4.0]).statistic)
    assert close(got["ks_pvalue"], stats.ks_2samp(base, [1.0, 2.0, 3.0, 4.0]).pvalue)


def test_the_report_says_how_many_infinite_values_were_left_out() -> None:
    base = NumericSample.of([1.0, 2.0, 3.0])
    current = NumericSample.of([1.0, math.inf, math.inf, -math.inf])
    got = statistics.numeric(base, current)
    assert any("infinite" in key for key in got), sorted(got)


def test_a_side_with_no_finite_value_gives_no_statistic_instead_of_an_error() -> None:
    got = statistics.numeric(NumericSample.of([1.0, 2.0]), NumericSample.of([math.nan, math.inf]))
    assert got["current_rows"] == 0
    assert got["current_missing"] == 1
    assert all(got[name] is None for name in statistics.NUMERIC_STATISTICS)


@pytest.mark.parametrize("name", ["normal", "shifted lognormal", "uniform"])
def test_psi_and_jensen_shannon_use_the_baselines_decile_bins_as_numpy_counts_them(
    name: str,
) -> None:
    rng = np.random.default_rng(11)
    a = GENERATORS[name](rng, 997)
    b = GENERATORS[name](rng, 403) * 1.2 + 0.1
    edges = np.unique(np.quantile(a, np.linspace(0, 1, 11)[1:-1]))
    assert len(edges) == 9
    expected, actual = scipy_bins(a, b, edges)
    assert np.abs(expected - len(a) / 10).max() <= 1  # a tenth of the baseline in each bin
    got = statistics.numeric(NumericSample.of(a), NumericSample.of(b))
    assert close(got["jensen_shannon"], distance.jensenshannon(expected, actual))
    p = np.maximum(expected / expected.sum(), statistics.PSI_FLOOR)
    q = np.maximum(actual / actual.sum(), statistics.PSI_FLOOR)
    assert close(got["psi"], float(np.sum((q - p) * np.log(q / p))))


@pytest.mark.parametrize("name", ["small integers (heavy ties)", "ninety percent zeros"])
def test_jensen_shannon_of_tied_data_is_scipys_on_the_same_bin_counts(name: str) -> None:
    rng = np.random.default_rng(5)
    a, b = GENERATORS[name](rng, 300), GENERATORS[name](rng, 120) + 1.0
    base = NumericSample.of(a)
    edges = base.decile_edges()
    assert len(edges) < 9  # repeated deciles collapse into fewer bins
    expected, actual = scipy_bins(a, b, edges)
    assert base.bin_counts(edges).tolist() == expected.tolist()
    got = statistics.numeric(base, NumericSample.of(b))
    assert close(got["jensen_shannon"], distance.jensenshannon(expected, actual))
    assert close(got["psi"], statistics.psi(expected, actual))


def test_psi_is_the_sum_of_share_differences_times_their_log_ratio() -> None:
    # Shares 0.5/0.3/0.2 against 0.3/0.3/0.4, by hand:
    # (0.3-0.5)*ln(0.3/0.5) + 0 + (0.4-0.2)*ln(0.4/0.2) = 0.2*ln(5/3) + 0.2*ln(2)
    by_hand = 0.2 * math.log(5 / 3) + 0.2 * math.log(2)
    assert statistics.psi([50, 30, 20], [30, 30, 40]) == pytest.approx(by_hand, abs=1e-12)
    assert by_hand == pytest.approx(0.2407945609, abs=1e-9)
    assert statistics.psi([5, 3, 2], [300, 300, 400]) == pytest.approx(by_hand, abs=1e-12)


def test_psi_of_identical_samples_is_zero() -> None:
    rng = np.random.default_rng(2)
    values = rng.normal(size=500)
    same = statistics.numeric(NumericSample.of(values), NumericSample.of(values[::-1]))
    assert same["psi"] == 0.0
    assert same["jensen_shannon"] == 0.0
    assert same["ks_statistic"] == 0.0
    assert same["wasserstein"] == 0.0
    assert statistics.psi([3, 0, 7], [30, 0, 70]) == 0.0


def test_the_psi_floor_keeps_an_emptied_bin_finite() -> None:
    floor = statistics.PSI_FLOOR
    # Everything moved from the first bin to the second: shares 1/0 against 0/1.
    by_hand = (floor - 1) * math.log(floor) + (1 - floor) * math.log(1 / floor)
    value = statistics.psi([10, 0], [0, 10])
    assert math.isfinite(value)
    assert value == pytest.approx(by_hand, rel=1e-12)
    assert value == pytest.approx(18.4188, abs=1e-4)
    rng = np.random.default_rng(9)
    apart = statistics.numeric(
        NumericSample.of(rng.normal(size=100)), NumericSample.of(rng.normal(50, size=100))
    )
    assert math.isfinite(apart["psi"])
    assert apart["ks_statistic"] == 1.0


def test_a_decile_inside_a_run_of_equal_values_is_that_value() -> None:
    base = NumericSample.of([-3.6, -3.6] + [-2.6] * 6)
    edges = base.decile_edges()
    assert edges[0] == -3.6, edges.tolist()
    assert base.bin_counts(edges).tolist()[0] == 2


def test_the_deciles_of_one_value_are_a_single_edge() -> None:
    one = NumericSample.of([4.0])
    assert one.decile_edges().tolist() == [4.0]
    assert one.bin_counts(one.decile_edges()).tolist() == [1, 0]
    assert NumericSample.of([]).decile_edges().size == 0


def _categorical_sample(rng: np.random.Generator, k: int, size: int) -> CategoricalSample:
    shares = rng.dirichlet(np.ones(k))
    drawn = rng.choice([f"c{i}" for i in range(k)], size=size, p=shares)
    names, counts = np.unique(drawn, return_counts=True)
    return CategoricalSample(
        {str(n): int(c) for n, c in zip(names, counts, strict=True)}, missing=0
    )


@pytest.mark.parametrize(
    ("k", "n1", "n2"), [(2, 50, 40), (3, 200, 7), (8, 1000, 600), (25, 80, 90)]
)
def test_chi_squared_and_jensen_shannon_equal_scipys_on_the_contingency_table(
    k: int, n1: int, n2: int
) -> None:
    rng = np.random.default_rng(k * 1000 + n2)
    base, current = _categorical_sample(rng, k, n1), _categorical_sample(rng, k, n2)
    categories = sorted(set(base.counts) | set(current.counts))
    table = np.array(
        [
            [base.counts.get(c, 0) for c in categories],
            [current.counts.get(c, 0) for c in categories],
        ]
    )
    expected = stats.chi2_contingency(table)
    got = statistics.categorical(base, current)
    assert close(got["chi2"], expected.statistic)
    assert close(got["chi2_pvalue"], expected.pvalue)
    assert close(got["jensen_shannon"], distance.jensenshannon(table[0], table[1]))
    assert close(got["psi"], statistics.psi(table[0], table[1]))
    assert got["categories"] == len(categories)


def test_two_categories_get_scipys_continuity_corrected_chi_squared() -> None:
    # scipy's chi2_contingency applies Yates' correction when the table has one degree of
    # freedom (2 x 2): the module's value is that one, not the uncorrected Pearson statistic.
    base = CategoricalSample({"yes": 40, "no": 60}, missing=0)
    current = CategoricalSample({"yes": 55, "no": 45}, missing=0)
    table = [[60, 40], [45, 55]]
    got = statistics.categorical(base, current)
    assert close(got["chi2"], stats.chi2_contingency(table, correction=True).statistic)
    assert not close(got["chi2"], stats.chi2_contingency(table, correction=False).statistic)


def test_one_category_on_both_sides_cannot_differ() -> None:
    got = statistics.categorical(
        CategoricalSample({"a": 10}, missing=0), CategoricalSample({"a": 1}, missing=2)
    )
    assert (got["chi2"], got["chi2_pvalue"], got["psi"], got["jensen_shannon"]) == (
        0.0,
        1.0,
        0.0,
        0.0,
    )
    assert got["current_missing"] == 2


def test_new_and_vanished_categories_and_the_share_of_rows_in_new_ones() -> None:
    base = CategoricalSample({"red": 50, "green": 30, "blue": 20}, missing=1)
    current = CategoricalSample({"red": 10, "green": 5, "purple": 3, "teal": 2}, missing=4)
    got = statistics.categorical(base, current)
    assert got["new_categories"] == ["purple", "teal"]
    assert got["vanished_categories"] == ["blue"]
    assert got["new_share"] == pytest.approx(5 / 20)
    assert got["current_rows"] == 20
    assert got["current_missing"] == 4
    assert got["categories"] == 5


def test_the_new_share_counts_every_new_category_though_only_twenty_are_listed() -> None:
    base = CategoricalSample({"old": 10}, missing=0)
    current = CategoricalSample({"old": 10, **{f"new{i:02d}": 1 for i in range(30)}}, missing=0)
    got = statistics.categorical(base, current)
    assert len(got["new_categories"]) == 20
    assert got["new_share"] == pytest.approx(30 / 40)
    assert got["categories"] == 31


def test_an_empty_side_gives_no_categorical_test() -> None:
    got = statistics.categorical(
        CategoricalSample({"a": 3}, missing=0), CategoricalSample({}, missing=5)
    )
    assert got["chi2"] is None
    assert got["chi2_pvalue"] is None
    assert got["new_share"] is None
    assert got["vanished_categories"] == ["a"]
