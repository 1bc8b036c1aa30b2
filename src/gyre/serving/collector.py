"""Turns the journal into the endpoint's inference dataset, off the request path.

The server's converter process (``converter_process.py``) runs :class:`Converter` every
``CONVERT_INTERVAL_S`` seconds and at shutdown: new journal lines become Parquet partitions,
by hour, of the append-only dataset ``<endpoint>-inference``, one row per scored row:
``request_id``, ``row`` (its place in the request), ``model``, ``version``, ``timestamp``,
``latency_ms``, the inputs (``in_<field>`` per field of a record, else one ``inputs`` column)
and the prediction (``outputs``). The partition key names the journal segment and byte range
it came from, so converting the same lines again after a crash is a no-op, and the converted
offset is saved only after the partition is sealed.

Compact records (numeric records, numeric predictions) carry their arrays' raw bytes and
become columns without parsing a number; JSON lines go through pyarrow's JSON reader and are
unnested with array operations. Lines the reader cannot type together (a field that is a
number in one request and a string in another) take a per-row path that keeps such values as
JSON text.
"""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path
from typing import Any

from gyre.data import append_only, tables
from gyre.serving.journal import JournalReader, Records, read_records, split_records
from gyre.store import Store

log = logging.getLogger("gyre.serving.collector")
CONVERT_INTERVAL_S = 5.0
CHUNK_BYTES = 32 << 20
REQUEST_COLUMNS = ("request_id", "model", "version", "timestamp", "latency_ms")


class Converter:
    """Converts a journal's complete lines; the conversion state (how far each segment got,
    rows converted by this converter) lives in ``converted.json`` beside the segments."""

    def __init__(self, store: Store, journal: JournalReader, dataset: str) -> None:
        self.store = store
        self.journal = journal
        self.dataset = dataset
        self.state_file = journal.folder / "converted.json"
        self.rows_converted = 0
        self.failures = 0

    def _offsets(self) -> dict[str, int]:
        if not self.state_file.exists():
            return {}
        data = json.loads(self.state_file.read_text())
        offsets: dict[str, int] = data.get("offsets", {})
        return offsets

    def _save_offsets(self, offsets: dict[str, int], written: int = 0) -> None:
        temp = self.state_file.with_suffix(".tmp")
        state = {"offsets": offsets, "rows_converted": self.rows_converted + written}
        temp.write_text(json.dumps(state))
        os.replace(temp, self.state_file)

    def convert(self) -> int:
        """Convert every complete journal line not converted yet; returns the rows written."""
        offsets = self._offsets()
        written = 0
        for segment in self.journal.segments():
            path = self.journal.path(segment)
            start = offsets.get(str(segment), 0)
            while True:
                records, end = read_records(path, start, CHUNK_BYTES)
                if not records:
                    break
                written += self._write(segment, start, end, records)
                offsets[str(segment)] = start = end
                self._save_offsets(offsets, written)
            if (
                segment != self.journal.current_segment
                and offsets.get(str(segment), 0) >= path.stat().st_size
            ):
                self.journal.release(segment)
                offsets.pop(str(segment), None)
                self._save_offsets(offsets, written)
        self.rows_converted += written
        return written

    def _write(self, segment: int, start: int, end: int, records: Records) -> int:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        table = records_table(records)
        hours = np.floor(table["timestamp"].to_numpy() / 3600).astype(np.int64)
        distinct = np.unique(hours)
        for hour in distinct:
            part = table.filter(pa.array(hours == hour)) if len(distinct) > 1 else table
            times = part["timestamp"]
            append_only.append(
                self.store,
                self.dataset,
                part,
                starts_at=pc.min(times).as_py(),
                ends_at=pc.max(times).as_py() + 1e-6,
                key=f"{append_only.hour_key(int(hour) * 3600)}-s{segment:08d}-{start}-{end}",
            )
        return int(table.num_rows)


def rows_table(data: bytes) -> Any:
    """One row per scored row from journal bytes (see the module's docstring)."""
    return records_table(split_records(data)[0])


def records_table(records: Records) -> Any:
    parts = [_compact_rows(records.compact)] if records.compact else []
    if records.json_lines:
        parts.append(_json_rows(b"\n".join(records.json_lines) + b"\n"))
    return tables.concat(parts)


def _json_rows(data: bytes) -> Any:
    import pyarrow as pa
    import pyarrow.json as pa_json

    try:
        requests = pa_json.read_json(
            io.BytesIO(data),
            read_options=pa_json.ReadOptions(block_size=len(data) + 1, use_threads=False),
        ).combine_chunks()
        return _unnest(requests)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, KeyError):
        return _rows_one_by_one(data)


def _compact_rows(records: list[tuple[bytes, Any, Any]]) -> Any:
    """Rows of the compact records (see ``journal.encode_array_line``): their headers parsed
    at once by pyarrow's JSON reader, their arrays joined per group of records with the same
    columns and prediction type."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.json as pa_json

    text = b"\n".join(head for head, _, _ in records) + b"\n"
    heads = pa_json.read_json(
        io.BytesIO(text),
        read_options=pa_json.ReadOptions(block_size=len(text) + 1, use_threads=False),
    ).combine_chunks()
    groups: dict[tuple[str, str], list[int]] = {}
    for index, key in enumerate(
        zip(heads["xcols"].to_pylist(), heads["ydtype"].to_pylist(), strict=True)
    ):
        groups.setdefault(key, []).append(index)
    parts = []
    for (xcols, ydtype), indices in groups.items():
        names = xcols.split(",")
        group = heads.take(pa.array(indices)) if len(groups) > 1 else heads
        x_all = np.frombuffer(b"".join(records[i][1] for i in indices), np.float64)
        y_all = np.frombuffer(b"".join(records[i][2] for i in indices), np.dtype(ydtype))
        lengths = group["rows"].to_numpy().astype(np.int64)
        by_column = x_all.reshape(len(y_all), len(names)).T.copy()  # one pass, then slices
        parents = pa.array(np.repeat(np.arange(len(lengths)), lengths))
        columns: dict[str, Any] = {name: group[name].take(parents) for name in REQUEST_COLUMNS}
        firsts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        columns["row"] = pa.array(np.arange(len(y_all)) - firsts, pa.int32())
        for index, name in enumerate(names):
            columns[f"in_{name}"] = pa.array(by_column[index])
        columns["outputs"] = pa.array(y_all)
        parts.append(pa.table(columns))
    return tables.concat(parts)


def _unnest(requests: Any) -> Any:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    inputs, outputs = requests.column("inputs").chunk(0), requests.column("outputs").chunk(0)
    if not (pa.types.is_list(inputs.type) and pa.types.is_list(outputs.type)):
        raise KeyError("inputs and outputs must be lists")
    lengths = pc.list_value_length(inputs).to_numpy(zero_copy_only=False)
    if not np.array_equal(lengths, pc.list_value_length(outputs).to_numpy(zero_copy_only=False)):
        raise KeyError("as many outputs as inputs")
    parents = pa.array(np.repeat(np.arange(len(lengths)), lengths))
    firsts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    columns: dict[str, Any] = {
        name: requests.column(name).chunk(0).take(parents) for name in REQUEST_COLUMNS
    }
    columns["row"] = pa.array(np.arange(int(lengths.sum())) - firsts, pa.int32())
    flat_in = inputs.flatten()
    if pa.types.is_struct(flat_in.type):
        for index in range(flat_in.type.num_fields):
            columns[f"in_{flat_in.type.field(index).name}"] = flat_in.field(index)
    else:
        columns["inputs"] = flat_in
    columns["outputs"] = outputs.flatten()
    return pa.table(columns)


def _rows_one_by_one(data: bytes) -> Any:
    import pyarrow as pa

    rows: list[dict[str, Any]] = []
    for text in data.splitlines():
        request = json.loads(text)
        outputs = request["outputs"]
        for index, item in enumerate(request["inputs"]):
            row = {name: request[name] for name in REQUEST_COLUMNS}
            row["row"] = index
            if isinstance(item, dict):
                row.update({f"in_{key}": value for key, value in item.items()})
            else:
                row["inputs"] = item
            row["outputs"] = outputs[index] if index < len(outputs) else None
            rows.append(row)
    names = list(dict.fromkeys(key for row in rows for key in row))
    columns = {}
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            # values that do not share a type are kept as JSON text
            columns[name] = pa.array([None if v is None else json.dumps(v) for v in values])
    return pa.table(columns)


def journal_folder(store: Store, endpoint: str) -> Path:
    return store.local_path("serving", endpoint, "journal")
