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
    converter = Converter(workspace, journal.reader, "m-inference")
    assert converter.convert() == 3
    assert converter.convert() == 0  # nothing new: no second partition of the same lines
    parts = append_only.list_partitions(workspace, "m-inference")
    assert sorted(p.rows for p in parts) == [1, 2]
    journal.close()


def _array_line(request_id: str, x: np.ndarray, y: np.ndarray, columns: str = "a,b") -> bytes:
    from gyre.serving.journal import encode_array_line

    line = encode_array_line(request_id, "m", 2, 1_700_000_000.0, 0.5, columns, x, y)
    assert line is not None
    return line


def test_compact_array_lines_give_the_same_rows_as_json_lines() -> None:
    x1, y1 = np.array([[1.5, 2.0]]), np.array([7])
    x2, y2 = np.array([[3.0, -4.25], [5.0, 6.0]]), np.array([8, 9])
    compact = rows_table(_array_line("a", x1, y1) + _array_line("b", x2, y2))
    as_json = rows_table(
        _line("a", [{"a": 1.5, "b": 2.0}], [7])
        + _line("b", [{"a": 3.0, "b": -4.25}, {"a": 5.0, "b": 6.0}], [8, 9])
    )
    for name in ("request_id", "row", "in_a", "in_b", "outputs"):
        assert compact[name].to_pylist() == as_json[name].to_pylist(), name
    assert compact["version"].to_pylist() == [2, 2, 2]


def test_a_chunk_mixing_compact_and_json_lines_keeps_every_row() -> None:
    data = (
        _array_line("a", np.array([[1.0, 2.0]]), np.array([0.5]))
        + _line("b", [{"a": 3.0, "b": 4.0}], ["label"])
        + _array_line("c", np.array([[5.0, 6.0]]), np.array([1]), columns="p,q")
    )
    table = rows_table(data)
    assert sorted(table["request_id"].to_pylist()) == ["a", "b", "c"]
    by_id = {r["request_id"]: r for r in table.to_pylist()}
    assert by_id["a"]["in_a"] == 1.0 and by_id["c"]["in_p"] == 5.0 and by_id["b"]["in_b"] == 4.0


def test_arrays_the_compact_line_cannot_hold_fall_back_to_json() -> None:
    from gyre.serving.journal import encode_array_line

    x = np.array([[1.0, 2.0]])
    assert encode_array_line("r", "m", 1, 0.0, 0.0, "a,b", x, np.array(["cat"])) is None
    assert encode_array_line("r", "m", 1, 0.0, 0.0, "a,b", x, np.array([[0.1, 0.9]])) is None


def test_windows_across_partitions_whose_types_differ_keep_every_value() -> None:
    import pyarrow as pa

    from gyre.data import tables

    merged = tables.concat([pa.table({"o": [1.5, 2.0]}), pa.table({"o": ["cat"]})])
    assert [json.loads(v) for v in merged["o"].to_pylist()] == [1.5, 2.0, "cat"]


def test_a_record_still_being_written_is_left_for_the_next_pass() -> None:
    from gyre.serving.journal import split_records

    whole = _array_line("a", np.array([[1.0, 2.0]]), np.array([3]))
    json_line = _line("b", [{"a": 1.0}], [0])
    records, used = split_records(whole + json_line + whole[:-5])
    assert len(records.compact) == 1 and len(records.json_lines) == 1
    assert used == len(whole) + len(json_line)
    records, used = split_records(json_line[:-1])  # no newline yet
    assert not records and used == 0


def test_raw_bytes_holding_newlines_do_not_split_a_compact_record() -> None:
    newline_float = np.frombuffer(b"\n" * 8, np.float64).reshape(1, 1)
    table = rows_table(_array_line("n", newline_float, np.array([1]), columns="a"))
    assert table.num_rows == 1 and table["in_a"].to_numpy().tobytes() == b"\n" * 8
