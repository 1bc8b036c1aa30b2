"""The converter writes rows of any JSON shape, and quarantines only what it cannot read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gyre.data import append_only
from gyre.serving import quarantine
from gyre.serving.collector import Converter, rows_table
from gyre.serving.journal import Journal, encode_line
from gyre.store import Store

TS = 1_700_000_000.0


def _line(request_id: str, inputs: object, outputs: object) -> bytes:
    raw = json.dumps(inputs, ensure_ascii=False).encode()
    return encode_line(request_id, "m", 1, TS, 1.0, raw, json.dumps(outputs).encode())


def _nested(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = {"k": value}
    return value


def _listed(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({}, "{}"),
        ({"a": {}}, '{"a": {}}'),
        ([{}], "[{}]"),
        (_nested(60), json.dumps(_nested(60))),
        (_listed(40), json.dumps(_listed(40))),
    ],
)
def test_values_parquet_has_no_type_for_are_kept_as_json_text(value: object, text: str) -> None:
    table = rows_table(_line("r", [{"field": value}], [0]))
    assert table["in_field"].to_pylist() == [text]


def test_an_empty_object_beside_a_full_one_keeps_each_as_it_was_sent() -> None:
    data = _line("a", [{"meta": {}}], [0]) + _line("b", [{"meta": {"a": {"b": {}}}}], [0])
    table = rows_table(data)
    assert [json.loads(v) for v in table["in_meta"].to_pylist()] == [{}, {"a": {"b": {}}}]


def test_unicode_keys_empty_lists_and_mixed_rows_are_written(
    workspace: Store, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "journal")
    lines = [
        _line("u", [{"ключ": 1, "名前": "値"}], [{}]),
        _line("e", [[], {}], [[], {}]),
        _line("m", [1, "two", [3], {"four": 4}, None], [0, 1, 2, 3, 4]),
        _line("b", [{"big": 2**70}], [0]),
    ]
    for line in lines:
        assert journal.append(line)
    converter = Converter(workspace, journal.reader, "m-inference")
    assert converter.convert() == 1 + 2 + 5 + 1
    journal.close()
    assert converter.rows_quarantined == 0
    table = append_only.window(workspace, "m-inference")
    assert sorted(table["request_id"].to_pylist()) == ["b", "e", "e", "m", "m", "m", "m", "m", "u"]
    assert "in_ключ" in table.column_names and "in_名前" in table.column_names


def test_a_record_that_cannot_be_read_is_quarantined_and_the_others_are_written(
    workspace: Store, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "journal")
    assert journal.append(_line("first", [{"x": 1.0}], [1]))
    assert journal.append(b'{"request_id": "cut", "inputs": [{"x"\0\0\0\n')
    assert journal.append(b'{"request_id": "odd", "inputs": 7, "outputs": 7}\n')
    noon = b'{"request_id": "noon", "model": "m", "version": 1, "timestamp": "noon", '
    assert journal.append(noon + b'"latency_ms": 1, "inputs": [{"x": 1.0}], "outputs": [1]}\n')
    assert journal.append(_line("last", [{"x": 2.0}, {"x": 3.0}], [2, 3]))
    converter = Converter(workspace, journal.reader, "m-inference")
    assert converter.convert() == 3
    assert converter.convert() == 0, "nothing is converted or quarantined twice"
    journal.close()
    table = append_only.window(workspace, "m-inference")
    assert sorted(table["request_id"].to_pylist()) == ["first", "last", "last"]
    found = quarantine.read(tmp_path / "journal")
    assert [q.request_id for q in found] == [None, "odd", "noon"]
    assert found[0].reason.startswith("JSONDecodeError") and found[0].record.startswith(
        '{"request_id": "cut"'
    )
    assert found[1].reason.startswith("TypeError")
    assert converter.rows_quarantined == 3
    state = json.loads((tmp_path / "journal" / "converted.json").read_text())
    assert (state["rows_converted"], state["rows_quarantined"]) == (3, 3)


def test_a_quarantined_record_written_twice_is_listed_once(tmp_path: Path) -> None:
    from gyre.serving.journal import Records

    entry = quarantine.entry("s1-0-10-j0", Records(json_lines=[b"{bad"]), "ValueError: bad")
    quarantine.add(tmp_path, [entry])
    quarantine.add(tmp_path, [entry])
    (tmp_path / quarantine.FILE_NAME).open("a").write('{"key": "cut sho')
    assert [q.key for q in quarantine.read(tmp_path)] == ["s1-0-10-j0"]
