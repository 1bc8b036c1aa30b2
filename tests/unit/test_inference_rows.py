"""Journal lines to inference rows: the columnar path, and the per-row path for what it cannot type."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gyre.serving.collector import rows_table
from gyre.serving.journal import encode_line
from gyre.serving.payloads import encode


def _line(request_id: str, inputs: object, outputs: object, ts: float = 1_700_000_000.0) -> bytes:
    return encode_line(request_id, "m", 1, ts, 1.5, encode(inputs), encode(outputs))


def test_records_become_one_row_each_with_a_column_per_field() -> None:
    data = _line("a", [{"x": 1.0, "y": 2}], np.array([0])) + _line(
        "b", [{"x": 3.5, "y": 4}, {"x": 5.0, "y": 6}], np.array([1, 0])
    )
    table = rows_table(data)
    assert table.num_rows == 3
    assert table["request_id"].to_pylist() == ["a", "b", "b"]
    assert table["row"].to_pylist() == [0, 0, 1]
    assert table["in_x"].to_pylist() == [1.0, 3.5, 5.0]
    assert table["in_y"].to_pylist() == [2, 4, 6]
    assert table["outputs"].to_pylist() == [0, 1, 0]
    assert "inputs" not in table.column_names


def test_tensor_rows_keep_their_shape_in_one_inputs_column() -> None:
    table = rows_table(_line("t", np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.5, 0.7])))
    assert table["inputs"].to_pylist() == [[1.0, 2.0], [3.0, 4.0]]
    assert table["outputs"].to_pylist() == [0.5, 0.7]


def test_a_field_whose_type_changes_between_requests_is_kept_as_text_not_lost() -> None:
    data = _line("a", [{"size": 1.0}], ["small"]) + _line("b", [{"size": "huge"}], ["big"])
    table = rows_table(data)
    assert table.num_rows == 2
    assert [json.loads(v) for v in table["in_size"].to_pylist()] == [1.0, "huge"]


def test_fields_present_in_only_some_requests_are_all_kept() -> None:
    data = _line("a", [{"x": 1.0}], [1]) + _line("b", [{"x": 2.0, "extra": "yes"}], [2])
    table = rows_table(data)
    assert table["in_extra"].to_pylist() == [None, "yes"]


def test_nan_literals_from_nullable_fields_survive() -> None:
    raw = b'[{"x": NaN}]'
    data = encode_line("n", "m", 1, 1_700_000_000.0, 1.0, raw, b"[0]")
    table = rows_table(data)
    assert math.isnan(table["in_x"].to_pylist()[0])


def test_python_flavor_answers_of_any_shape_are_kept() -> None:
    data = _line("p", [{"image": "aGVsbG8="}], [{"label": "mug", "score": 0.9}])
    table = rows_table(data)
    assert table["outputs"].to_pylist() == [{"label": "mug", "score": 0.9}]


def test_newlines_inside_a_raw_body_do_not_split_the_line() -> None:
    raw = b'[\n  {"x": 1.0}\n]'
    data = encode_line("n", "m", 1, 1_700_000_000.0, 1.0, raw, b"[0]")
    assert data.count(b"\n") == 1
    assert rows_table(data)["in_x"].to_pylist() == [1.0]


@pytest.mark.parametrize("request_id", ['quote"and\\back', "line\nbreak"])
def test_request_ids_are_escaped(request_id: str) -> None:
    table = rows_table(_line(request_id, [{"x": 1.0}], [0]))
    assert table["request_id"].to_pylist() == [request_id]


def test_the_converter_writes_one_partition_per_hour_once(
    workspace: object, tmp_path: object
) -> None:
    from pathlib import Path

    from gyre.data import append_only
    from gyre.serving.collector import Converter
    from gyre.serving.journal import Journal
    from gyre.store import Store

    assert isinstance(workspace, Store) and isinstance(tmp_path, Path)
    journal = Journal(tmp_path / "journal")
    hour = 1_700_000_000 // 3600 * 3600
    for index, ts in enumerate([hour + 10.0, hour + 20.0, hour + 3600 + 5.0]):
        assert journal.append(_line(f"r{index}", [{"x": float(index)}], [index], ts))
    converter = Converter(workspace, journal, "m-inference")
    assert converter.convert() == 3
    assert converter.convert() == 0  # nothing new: no second partition of the same lines
    parts = append_only.list_partitions(workspace, "m-inference")
    assert sorted(p.rows for p in parts) == [1, 2]
    journal.close()
