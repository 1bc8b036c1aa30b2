"""The terminal charts of ``gyre monitor show``: sparklines and the per-feature drift chart."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from gyre.cli.charts import BLOCKS, drift_chart, sparkline

DAY = 86_400.0
MAY_1 = datetime(2024, 5, 1, tzinfo=UTC).timestamp()


def test_a_sparkline_rises_from_the_lowest_block_to_the_highest() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([7, 0]) == "█▁"
    assert sparkline([1, 2, None, 4]) == "▁▃ █"


def test_missing_and_nan_values_are_gaps() -> None:
    assert sparkline([0.0, None, 1.0, math.nan, math.inf]) == "▁ █  "
    assert sparkline([None, math.nan]) == "  "
    assert sparkline([]) == ""


def test_a_constant_series_is_drawn_at_half_height() -> None:
    assert sparkline([0.2, 0.2, None, 0.2]) == "▄▄ ▄"
    assert sparkline([5.0]) == "▄"


def test_only_the_last_width_values_are_drawn_and_scaled_among_themselves() -> None:
    values = [100.0, *range(8)]  # the outlier falls out of the window and out of the scale
    assert sparkline(values, width=8) == "▁▂▃▄▅▆▇█"
    assert len(sparkline(list(range(100)))) == 40
    assert sparkline([1.0, 2.0], width=0) == ""


def test_values_far_apart_do_not_overflow_the_scale() -> None:
    assert sparkline([-1.7e308, 0.0, 1.7e308]) == "▁▅█"
    assert sparkline([0.0, 5e-324]) in ("▁█", "▄▄")  # the smallest step there is: no crash


@given(
    st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))),
    st.integers(min_value=1, max_value=60),
)
def test_a_sparkline_has_one_character_per_shown_value_and_gaps_where_values_are_missing(
    values: list[float | None], width: int
) -> None:
    line = sparkline(values, width)
    shown = values[-width:]
    assert len(line) == len(shown)
    assert set(line) <= set(BLOCKS) | {" "}
    for value, char in zip(shown, line, strict=True):
        assert (char == " ") == (value is None or not math.isfinite(value))


def test_the_drift_chart_shows_the_time_range_then_one_aligned_line_per_feature() -> None:
    series = {
        "petal length (cm)": [
            (MAY_1 + 2 * DAY, 0.31, True),
            (MAY_1, 0.02, False),  # out of order: the chart sorts by window start
            (MAY_1 + DAY, 0.05, False),
        ],
        "sepal width (cm)": [
            (MAY_1, 0.04, False),
            (MAY_1 + DAY, 0.03, True),
            (MAY_1 + 2 * DAY + 90, 12345.0, False),
        ],
    }
    assert drift_chart(series) == [
        "2024-05-01T00:00Z → 2024-05-03T00:01Z",
        "petal length (cm)  ▁▂█      0.31  DRIFT",
        "sepal width (cm)   ▁▁█  1.23e+04",
    ]


def test_a_feature_with_fewer_windows_lines_up_its_latest_value_at_the_right_edge() -> None:
    series = {
        "age": [(MAY_1 + i * DAY, float(i), False) for i in range(5)],
        "bmi": [(MAY_1 + 4 * DAY, 0.5, True)],
    }
    _, age, bmi = drift_chart(series)
    assert age == "age  ▁▃▅▆█    4"
    assert bmi == "bmi      ▄  0.5  DRIFT"


def test_a_latest_window_without_a_value_shows_a_dash_and_still_its_drift() -> None:
    series = {"age": [(MAY_1, 0.1, False), (MAY_1 + DAY, None, True)], "bmi": []}
    assert drift_chart(series, width=10) == [
        "2024-05-01T00:00Z → 2024-05-02T00:00Z",
        "age  ▄   -  DRIFT",
        "bmi      -",
    ]


def test_the_chart_draws_at_most_width_windows_per_feature() -> None:
    series = {"age": [(MAY_1 + i * DAY, float(i), i == 99) for i in range(100)]}
    header, line = drift_chart(series, width=20)
    assert header == "2024-05-01T00:00Z → 2024-08-08T00:00Z"  # the range of all the data
    assert line == f"age  {sparkline([float(i) for i in range(80, 100)])}  99  DRIFT"


def test_a_monitor_without_windows_says_so() -> None:
    assert drift_chart({}) == ["no windows yet"]
    assert drift_chart({"age": []}) == ["no windows yet", "age    -"]
