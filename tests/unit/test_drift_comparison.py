"""The drift verdict: checked settings, the multiple-testing correction, the weighted share, the
problems a feature can have (type changed, gone, empty) and the report as JSON, on crafted
samples with known p-values and on scikit-learn's toy data sets with their real column names."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats
from sklearn.datasets import load_iris, load_wine

import gyre
from gyre.errors import InvalidParameter, NotFound
from gyre.monitoring import drift
from gyre.monitoring.comparison import (
    DEFAULT_THRESHOLDS,
    Baseline,
    DriftReport,
    Settings,
    _correct,
    report_from_dict,
)
from gyre.monitoring.features import Feature, FeatureSet
from gyre.monitoring.statistics import CategoricalSample, NumericSample

# Baseline 0..99 against the same values shifted by k + 0.5: the KS statistic is (k+1)/100 and
# scipy's exact p-values are about these (checked in the test that uses them).
SHIFTS = {"far": 35, "clear": 24, "moderate": 21, "borderline": 18, "same": 8}
APPROX_PVALUES = {
    "far": 3.75e-6,
    "clear": 0.00373,
    "moderate": 0.0156,
    "borderline": 0.0539,
    "same": 0.815,
}
ALPHA = 0.06  # Bonferroni: 0.06/5 = 0.012; Benjamini-Hochberg: k/5 * 0.06; none: 0.06


def numeric_feature(name: str, values: Any) -> Feature:
    return Feature(name, "numeric", "column", "double", NumericSample.of(values))


def categorical_feature(name: str, counts: dict[str, int]) -> Feature:
    return Feature(name, "categorical", "column", "string", CategoricalSample(counts, 0))


def known_pvalues() -> tuple[FeatureSet, FeatureSet]:
    base = np.arange(100.0)
    baseline = FeatureSet({n: numeric_feature(n, base) for n in SHIFTS}, rows=100)
    current = FeatureSet(
        {n: numeric_feature(n, base + k + 0.5) for n, k in SHIFTS.items()}, rows=100
    )
    return baseline, current


def compare_known(**settings: Any) -> DriftReport:
    baseline, current = known_pvalues()
    return Baseline(baseline).compare(current, Settings.make(**settings))


def error_of(**settings: Any) -> str:
    with pytest.raises(InvalidParameter) as raised:
        Settings.make(**settings)
    return str(raised.value)


# -- Settings -------------------------------------------------------------------------------


def test_an_unknown_statistic_name_suggests_the_right_one_and_lists_the_valid_ones() -> None:
    message = error_of(thresholds={"ks_pval": 0.01})
    assert "'ks_pval'" in message
    assert "Did you mean 'ks_pvalue'?" in message
    for name in DEFAULT_THRESHOLDS:
        assert name in message


def test_an_alpha_above_one_is_refused_as_an_alpha() -> None:
    message = error_of(thresholds={"chi2_pvalue": 5})
    assert "chi2_pvalue" in message
    assert "alpha" in message
    assert "between 0 and 1" in message


@pytest.mark.parametrize("value", [-0.1, math.nan, math.inf, "0.2"])
def test_a_threshold_must_be_a_number_at_least_zero(value: Any) -> None:
    message = error_of(thresholds={"psi": value})
    assert "threshold of psi" in message
    assert ">= 0 (or off)" in message
    assert repr(value) in message


def test_an_unknown_correction_lists_the_corrections() -> None:
    message = error_of(correction="holm")
    assert "'holm'" in message
    assert "bonferroni, fdr_bh, none" in message


@pytest.mark.parametrize("share", [0, -0.5, 1.5, math.nan])
def test_drift_share_outside_zero_to_one_is_refused(share: float) -> None:
    message = error_of(drift_share=share)
    assert "drift_share" in message
    assert "(0, 1]" in message


@pytest.mark.parametrize("weight", [-1, math.inf, math.nan, "heavy", None])
def test_a_bad_weight_names_the_feature(weight: Any) -> None:
    message = error_of(weights={"sepal length (cm)": weight})
    assert "'sepal length (cm)'" in message
    assert "number >= 0" in message


def test_a_drift_share_given_as_text_is_refused_with_the_message() -> None:
    assert "drift_share" in error_of(drift_share="0.5")


def test_feature_importances_as_numpy_float32_are_accepted_as_weights() -> None:
    importances = np.array([0.25, 0.75], dtype=np.float32)
    settings = Settings.make(weights=dict(zip(["alcohol", "hue"], importances, strict=True)))
    assert settings.weights == {"alcohol": 0.25, "hue": 0.75}


def test_thresholds_left_unset_keep_their_defaults_and_none_turns_one_off() -> None:
    settings = Settings.make(thresholds={"psi": 0.2, "ks_pvalue": None})
    assert settings.thresholds == {**DEFAULT_THRESHOLDS, "psi": 0.2, "ks_pvalue": None}


# -- The multiple-testing correction --------------------------------------------------------


def test_the_crafted_samples_have_the_p_values_the_correction_tests_rely_on() -> None:
    report = compare_known(thresholds={"ks_pvalue": ALPHA}, correction="none")
    for name, approx in APPROX_PVALUES.items():
        base = np.arange(100.0)
        pvalue = report.feature(name).statistics["ks_pvalue"]
        assert pvalue == stats.ks_2samp(base, base + SHIFTS[name] + 0.5).pvalue
        assert pvalue == pytest.approx(approx, rel=0.01)


@pytest.mark.parametrize(
    ("correction", "drifted", "rule"),
    [
        ("none", {"far", "clear", "moderate", "borderline"}, None),
        ("bonferroni", {"far", "clear"}, "divided by the number of tests"),
        ("fdr_bh", {"far", "clear", "moderate"}, "Benjamini-Hochberg"),
    ],
)
def test_bonferroni_rejects_fewest_and_no_correction_most(
    correction: str, drifted: set[str], rule: str | None
) -> None:
    report = compare_known(thresholds={"ks_pvalue": ALPHA}, correction=correction)
    assert set(report.drifted_features) == drifted
    assert report.correction["method"] == correction
    assert report.correction["tests"] == 5
    if rule is None:
        assert "rule" not in report.correction  # 'none' writes no rule
    else:
        assert rule in report.correction["rule"]
    assert report.to_dict()["settings"]["correction"] == correction


def test_each_rejection_writes_the_limit_its_p_value_was_below() -> None:
    bonferroni = compare_known(thresholds={"ks_pvalue": ALPHA}, correction="bonferroni")
    assert bonferroni.feature("clear").breaches == ["ks_pvalue 0.00373 < 0.012"]
    bh = compare_known(thresholds={"ks_pvalue": ALPHA}, correction="fdr_bh")
    # 3 rejected of 5: every rejected p-value is judged against 3/5 * 0.06
    assert bh.feature("moderate").breaches == ["ks_pvalue 0.0156 < 0.036"]
    assert bh.feature("borderline").breaches == []


def test_the_correction_rules_on_hand_made_p_values() -> None:
    tests = [(0.001, 0.05), (0.008, 0.05), (0.035, 0.05), (0.038, 0.05), (0.27, 0.05)]
    assert _correct(tests, "none")[0] == {0: 0.05, 1: 0.05, 2: 0.05, 3: 0.05}
    assert _correct(tests, "bonferroni")[0] == {0: 0.01, 1: 0.01}
    # BH: sorted p against k/5 * 0.05 = 0.01, 0.02, 0.03, 0.04, 0.05: ranks 1, 2 and 4 pass,
    # so the 4 smallest are rejected (rank 3 too, though 0.035 > 0.03).
    rejected, described = _correct(tests, "fdr_bh")
    assert set(rejected) == {0, 1, 2, 3}
    assert all(limit == pytest.approx(0.04) for limit in rejected.values())
    assert described == {
        "method": "fdr_bh",
        "tests": 5,
        "rule": "Benjamini-Hochberg: the k smallest p-values, k the largest rank with p <= k/m "
        "alpha",
    }
    assert _correct([], "bonferroni") == ({}, {"method": "bonferroni", "tests": 0})


def test_a_p_value_threshold_that_is_off_is_not_tested_nor_counted_in_the_correction() -> None:
    report = compare_known(thresholds={"ks_pvalue": None}, correction="bonferroni")
    assert report.drifted_features == []
    assert report.correction["tests"] == 0
    assert report.feature("far").statistics["ks_pvalue"] < 1e-5  # computed, just not judged


def test_distances_are_off_unless_set_and_judged_when_set() -> None:
    off = compare_known(thresholds={"ks_pvalue": None})
    assert all(f.breaches == [] for f in off.features)
    on = compare_known(thresholds={"ks_pvalue": None, "wasserstein_normed": 0.5})
    # W1 of a shift by k + 0.5 is k + 0.5; the baseline's std is sqrt((100**2 - 1) / 12)
    std = math.sqrt((100**2 - 1) / 12)
    expected = {n for n, k in SHIFTS.items() if (k + 0.5) / std > 0.5}
    assert set(on.drifted_features) == expected == {"far", "clear", "moderate", "borderline"}
    assert on.feature("far").breaches == [f"wasserstein_normed {35.5 / std:.3g} > 0.5"]
    assert on.to_dict()["settings"]["thresholds"]["wasserstein_normed"] == 0.5


def test_p_values_of_numeric_and_categorical_features_share_one_correction() -> None:
    baseline, current = known_pvalues()
    baseline.features["colour"] = categorical_feature("colour", {"red": 50, "blue": 50})
    current.features["colour"] = categorical_feature("colour", {"red": 80, "blue": 20})
    report = Baseline(baseline).compare(current, Settings.make(correction="bonferroni"))
    assert report.correction["tests"] == 6
    assert "colour" in report.drifted_features
    only_numeric = Baseline(baseline).compare(
        current, Settings.make(thresholds={"chi2_pvalue": None})
    )
    assert only_numeric.correction["tests"] == 5


# -- The verdict ----------------------------------------------------------------------------


def test_weights_change_the_verdict() -> None:
    plain = compare_known(thresholds={"ks_pvalue": ALPHA})  # 2 of 5 drifted
    assert plain.share == pytest.approx(0.4)
    assert not plain.drifted
    heavy = compare_known(thresholds={"ks_pvalue": ALPHA}, weights={"far": 3})
    assert heavy.share == pytest.approx((3 + 1) / (3 + 4))
    assert heavy.drifted
    assert heavy.feature("far").weight == 3.0
    light = compare_known(thresholds={"ks_pvalue": ALPHA}, weights={"far": 0, "clear": 0})
    assert light.share == 0.0
    assert set(light.drifted_features) == {"far", "clear"}  # still drifted, weighing nothing


def test_drift_share_sets_how_many_drifted_features_make_the_data_drifted() -> None:
    assert compare_known(thresholds={"ks_pvalue": ALPHA}, drift_share=0.4).drifted
    assert not compare_known(thresholds={"ks_pvalue": ALPHA}, drift_share=0.41).drifted
    assert compare_known(thresholds={"ks_pvalue": ALPHA}, drift_share=1.0).drifted is False


def test_the_verdict_of_weights_that_are_all_zero_is_no_drift() -> None:
    report = compare_known(weights=dict.fromkeys(SHIFTS, 0))
    assert report.share == 0.0
    assert not report.drifted


def test_a_weight_for_a_feature_that_is_not_compared_is_refused() -> None:
    wine = load_wine(as_frame=True).data
    with pytest.raises(InvalidParameter, match="alcohl"):
        drift(wine, wine.head(50), weights={"alcohl": 10})


# -- Problems of single features ------------------------------------------------------------


def test_a_feature_whose_type_changed_is_drifted_and_the_problem_names_both_types() -> None:
    baseline = {"price": [1.5, 2.0, 3.25, 4.0], "units": [1, 2, 3, 4]}
    current = {"price": ["1.5", "2.0", "n/a", "4"], "units": [1, 2, 3, 5]}
    report = drift(baseline, current)
    price = report.feature("price")
    assert price.drifted
    assert price.problem is not None
    assert "type changed" in price.problem
    assert "double (numeric)" in price.problem
    assert "string (categorical)" in price.problem
    assert price.breaches == [price.problem]
    assert price.statistics == {}
    assert not report.feature("units").drifted


def test_a_selected_feature_missing_from_the_current_data_is_drifted_with_the_problem() -> None:
    baseline = {"age": [30.0, 40, 50], "city": ["Oslo", "Lima", "Pune"]}
    report = drift(baseline, {"city": ["Oslo", "Lima"]}, features=["age", "city"])
    age = report.feature("age")
    assert age.drifted
    assert age.problem == "the current data does not have this feature"
    assert "age" not in report.skipped


def test_a_feature_missing_from_the_current_data_and_not_selected_is_skipped() -> None:
    baseline = {"age": [30.0, 40, 50], "city": ["Oslo", "Lima", "Pune"]}
    report = drift(baseline, {"city": ["Oslo", "Lima"], "extra": [1, 2]})
    assert [f.name for f in report.features] == ["city"]
    assert report.skipped == {"age": "only in the baseline", "extra": "only in the current data"}


def test_a_baseline_without_a_selected_feature_is_refused_naming_it_and_its_features() -> None:
    iris = load_iris(as_frame=True).data
    with pytest.raises(InvalidParameter) as raised:
        drift(iris, iris, features=["sepal length (mm)"])
    message = str(raised.value)
    assert "no feature 'sepal length (mm)'" in message
    assert "Did you mean 'sepal length (cm)'?" in message
    for column in iris.columns:
        assert column in message
    with pytest.raises(InvalidParameter, match="'colour'"):
        Baseline.prepare(iris, Settings.make(features=["colour"]))


def test_a_baseline_with_no_feature_in_common_with_the_current_data_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="in common|no feature"):
        drift(load_iris(as_frame=True).data, load_wine(as_frame=True).data)


@pytest.mark.parametrize(
    "empty",
    [
        {"x": []},
        pa.table({"x": pa.array([], pa.float64())}),
        pd.DataFrame({"x": pd.Series([], dtype=float)}),
    ],
    ids=["dict", "arrow", "pandas"],
)
def test_an_empty_current_window_is_refused_with_the_fix(empty: Any) -> None:
    with pytest.raises(InvalidParameter) as raised:
        drift({"x": [1.0, 2.0, 3.0]}, empty)
    assert "no rows" in str(raised.value)
    assert "Choose a window" in str(raised.value)


def test_an_empty_baseline_is_refused() -> None:
    with pytest.raises(InvalidParameter):
        drift({"x": pa.array([], pa.float64())}, {"x": [1.0, 2.0, 3.0]})


def test_a_window_of_one_row_is_compared() -> None:
    rng = np.random.default_rng(4)
    baseline = {"x": rng.normal(size=200), "kind": rng.choice(["a", "b"], size=200)}
    report = drift(baseline, {"x": [0.1], "kind": ["a"]})
    x = report.feature("x").statistics
    assert x["current_rows"] == 1
    assert x["ks_pvalue"] == pytest.approx(stats.ks_2samp(baseline["x"], [0.1]).pvalue)
    assert x["psi"] is not None
    kind = report.feature("kind").statistics
    assert kind["current_rows"] == 1
    assert kind["chi2_pvalue"] is not None
    assert report.current_rows == 1


def test_a_current_feature_with_only_nan_is_drifted_as_all_missing() -> None:
    report = drift(
        {"x": [1.0, 2.0, 3.0], "y": [1.0, 2, 3]}, {"x": [math.nan] * 3, "y": [1.0, 2, 3]}
    )
    x = report.feature("x")
    assert x.drifted
    assert x.problem == "the current data has no value for it (all missing)"
    assert x.statistics["current_missing"] == 3


def test_a_current_feature_with_only_nulls_is_drifted_as_all_missing() -> None:
    current = pd.DataFrame({"x": [None, None, None], "y": [1.0, 2, 3]})
    report = drift({"x": [1.0, 2.0, 3.0], "y": [1.0, 2, 3]}, current)
    assert "x" not in report.skipped, report.skipped
    assert report.feature("x").drifted


def test_asking_a_report_for_a_feature_it_did_not_compare_suggests_one() -> None:
    iris = load_iris(as_frame=True).data
    report = drift(iris, iris)
    with pytest.raises(NotFound) as raised:
        report.feature("petal length")
    assert "Did you mean 'petal length (cm)'?" in str(raised.value)
    assert "sepal width (cm)" in str(raised.value)


# -- The report as JSON ---------------------------------------------------------------------


def test_the_report_is_json_and_reads_back_equal() -> None:
    rng = np.random.default_rng(8)
    baseline = {"x": rng.normal(size=300), "kind": rng.choice(["a", "b", "c"], size=300)}
    current = {"x": rng.normal(0.5, size=80), "kind": rng.choice(["a", "d"], size=80)}
    report = drift(baseline, current, features=["x", "kind"], weights={"x": 2.0})
    text = json.dumps(report.to_dict(), allow_nan=False)
    back = report_from_dict(json.loads(text))
    assert back == report
    assert back.to_dict() == report.to_dict()
    assert back.settings.features == ("x", "kind")
    assert json.loads(text)["correction"] == {
        "method": "bonferroni",
        "tests": 2,
        "rule": "a p-value is below its alpha divided by the number of tests",
    }


def test_a_report_with_problems_and_skipped_columns_reads_back_equal() -> None:
    report = drift(
        {"price": [1.0, 2.0], "gone": [1.0, 2.0], "tags": [["a"], ["b"]]},
        {"price": ["1", "2"], "new": [3, 4]},
    )
    back = report_from_dict(json.loads(json.dumps(report.to_dict(), allow_nan=False)))
    assert back == report
    assert back.skipped["gone"] == "only in the baseline"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_report_of_values_near_the_float_limit_is_strict_json() -> None:
    report = drift({"x": [1e308, 1.5e308, -1e308]}, {"x": [1e308, 1.7e308, -1.7e308]})
    json.dumps(report.to_dict(), allow_nan=False)


# -- Real data: scikit-learn's toy data sets, pandas, Arrow, dicts --------------------------


def test_shifting_one_iris_column_flags_exactly_that_column() -> None:
    iris = load_iris(as_frame=True).frame
    current = iris.sample(60, random_state=3).copy()
    current["petal length (cm)"] += 1.0
    report = gyre.drift(iris, current)
    assert report.drifted_features == ["petal length (cm)"]
    assert {f.name for f in report.features} == set(iris.columns)
    assert report.share == pytest.approx(1 / 5)
    assert not report.drifted
    assert report.baseline_rows == 150
    assert report.current_rows == 60


def test_shifting_one_wine_column_flags_it_in_pandas_arrow_and_dict_form() -> None:
    wine = load_wine(as_frame=True).data
    current = wine.sample(80, random_state=1).copy()
    current["alcohol"] += 0.8
    as_pandas = drift(wine, current)
    as_arrow = drift(pa.Table.from_pandas(wine), pa.Table.from_pandas(current))
    as_dict = drift(
        {c: wine[c].to_numpy() for c in wine.columns},
        {c: current[c].tolist() for c in current.columns},
    )
    for report in (as_pandas, as_arrow, as_dict):
        assert report.drifted_features == ["alcohol"]
        assert report.correction["tests"] == 13
    assert as_pandas.to_dict()["features"] == as_arrow.to_dict()["features"]
    assert as_pandas.to_dict()["features"] == as_dict.to_dict()["features"]


def test_selected_wine_features_with_a_slash_in_the_name_are_the_only_ones_compared() -> None:
    wine = load_wine(as_frame=True).data
    current = wine.sample(60, random_state=2).copy()
    current["od280/od315_of_diluted_wines"] *= 0.6
    current["alcohol"] += 0.8
    report = drift(wine, current, features=["od280/od315_of_diluted_wines", "hue"])
    assert [f.name for f in report.features] == ["od280/od315_of_diluted_wines", "hue"]
    assert report.drifted_features == ["od280/od315_of_diluted_wines"]
    assert report.correction["tests"] == 2
    assert report.drifted  # 1 of 2 reaches the default share of 0.5


def test_the_wine_verdict_follows_the_importance_weights() -> None:
    wine = load_wine(as_frame=True).data
    current = wine.sample(80, random_state=1).copy()
    current["alcohol"] += 0.8
    assert not drift(wine, current).drifted
    weights = dict.fromkeys(wine.columns, 0.01) | {"alcohol": 1.0}
    weighted = drift(wine, current, weights=weights)
    assert weighted.drifted
    assert weighted.share == pytest.approx(1.0 / (1.0 + 12 * 0.01))
    assert weighted.to_dict()["settings"]["weights"]["alcohol"] == 1.0


def test_a_categorical_column_with_new_values_is_flagged_by_its_new_share() -> None:
    rng = np.random.default_rng(12)
    species = ["setosa", "versicolor", "virginica"]
    baseline = pd.DataFrame({"species": rng.choice(species, size=300)})
    current = pd.DataFrame({"species": rng.choice([*species, "unknown"], size=100)})
    report = drift(baseline, current, thresholds={"chi2_pvalue": None})
    feature = report.feature("species")
    assert feature.drifted
    assert feature.statistics["new_categories"] == ["unknown"]
    assert feature.breaches == [f"new_share {feature.statistics['new_share']:.3g} > 0.01"]
    report_off = drift(baseline, current, thresholds={"chi2_pvalue": None, "new_share": None})
    assert report_off.drifted_features == []
