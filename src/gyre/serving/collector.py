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
JSON text, and so are values Parquet has no type for (an empty object, nesting deeper than
``MAX_DEPTH``): rows of any JSON shape are written.

No row can stop the others: when a stretch of journal cannot be written as a whole, each
record is tried alone, and a record that still cannot be written is quarantined (kept with the
reason in ``quarantine.jsonl`` beside the journal, see :mod:`gyre.serving.quarantine`) while
every other row is written. Errors of the store itself (a full disk, a locked database) are not
the rows' fault: the pass fails and the next one retries the same lines.
"""

from __future__ import annotations

import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gyre.data import append_only, tables
from gyre.serving import quarantine
from gyre.serving.journal import JournalReader, Records, read_records, split_records
from gyre.store import Store

log = logging.getLogger("gyre.serving.collector")
CONVERT_INTERVAL_S = 5.0
CHUNK_BYTES = 32 << 20
REQUEST_COLUMNS = ("request_id", "model", "version", "timestamp", "latency_ms")
# Types nested deeper are kept as JSON text: Parquet readers refuse schemas about 100 levels
# deep (a list takes two), so a deeper column would be written and then never read again.
MAX_DEPTH = 32


@dataclass
class _Partition:
    """An hour of a stretch of journal, encoded as Parquet and ready to seal."""

    key: str
    data: bytes
    rows: int
    starts_at: float
    ends_at: float


class Converter:
    """Converts a journal's complete lines; the conversion state (how far each segment got,
    and this converter's counts: rows converted and quarantined, failed passes) lives in
    ``converted.json`` beside the segments, with the converter's process id."""

    def __init__(
        self, store: Store, journal: JournalReader, dataset: str, *, source: str = ""
    ) -> None:
        self.store = store
        self.journal = journal
        self.dataset = dataset
        # Several journals feed one dataset when an endpoint has replicas: each names its
        # partitions after its source, or two replicas' first lines would claim one key.
        self.source = source
        self.state_file = journal.folder / "converted.json"
        self.rows_converted = 0
        self.rows_quarantined = 0
        self.failures = 0

    def _offsets(self) -> dict[str, int]:
        if not self.state_file.exists():
            return {}
        data = json.loads(self.state_file.read_text())
        offsets: dict[str, int] = data.get("offsets", {})
        return offsets

    def _save(self, offsets: dict[str, int]) -> None:
        temp = self.state_file.with_suffix(".tmp")
        state = {
            "offsets": offsets,
            "pid": os.getpid(),
            "rows_converted": self.rows_converted,
            "rows_quarantined": self.rows_quarantined,
            "failures": self.failures,
        }
        temp.write_text(json.dumps(state))
        os.replace(temp, self.state_file)

    def count_failure(self) -> None:
        """A pass failed (it is retried): counted where the server's ``/metrics`` reads it."""
        self.failures += 1
        self._save(self._offsets())

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
                rows = self._write(segment, start, end, records)
                written += rows
                self.rows_converted += rows
                offsets[str(segment)] = start = end
                self._save(offsets)
            if (
                segment != self.journal.current_segment
                and offsets.get(str(segment), 0) >= path.stat().st_size
            ):
                self.journal.release(segment)
                offsets.pop(str(segment), None)
                self._save(offsets)
        return written

    def _write(self, segment: int, start: int, end: int, records: Records) -> int:
        """Seal the records' rows; quarantine the records that cannot be written. Returns the
        rows sealed."""
        stretch = f"s{segment:08d}-{start}-{end}"
        if self.source:
            stretch = f"{self.source}-{stretch}"
        try:
            table = records_table(records)
            parts = _partitions(table, stretch)
        except Exception as exc:  # the rows' fault (not the store's): find which rows
            log.warning(
                "collector: journal %s does not convert as a whole (%s); trying each request",
                stretch,
                _reason(exc),
            )
            return self._write_each(stretch, records)
        for part in parts:
            self._seal(part)
        return int(table.num_rows)

    def _write_each(self, stretch: str, records: Records) -> int:
        """Each record alone: the ones that convert are sealed together, the others are
        quarantined with their reason."""
        good: list[tuple[Any, list[_Partition]]] = []
        entries: list[dict[str, Any]] = []
        for index, one in _each(records):
            key = f"{stretch}-{index}"
            try:
                table = records_table(one)
                alone = _partitions(table, key)  # what Parquet cannot hold fails here
            except Exception as exc:
                entries.append(quarantine.entry(key, one, _reason(exc)))
                continue
            good.append((table, alone))
        rows = sum(int(table.num_rows) for table, _ in good)
        if good:
            try:
                parts = _partitions(tables.concat([table for table, _ in good]), stretch)
            except Exception:  # each converts alone but not together: one partition each
                parts = [part for _, alone in good for part in alone]
            for part in parts:
                self._seal(part)
        if entries:
            quarantine.add(self.journal.folder, entries)
            quarantined = sum(int(e["rows"]) for e in entries)
            self.rows_quarantined += quarantined
            log.error(
                "collector: %d request(s) (%d row(s)) of journal %s cannot be written to %s; "
                "quarantined beside the journal, see: gyre data quarantine %s",
                len(entries),
                quarantined,
                stretch,
                self.dataset,
                self.dataset,
            )
        return rows

    def _seal(self, part: _Partition) -> None:
        append_only.seal(
            self.store,
            self.dataset,
            part.data,
            part.rows,
            starts_at=part.starts_at,
            ends_at=part.ends_at,
            key=part.key,
        )


def _partitions(table: Any, stretch: str) -> list[_Partition]:
    """The table's rows by hour, encoded (so that what Parquet cannot hold raises here)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return []
    hours = np.floor(table["timestamp"].to_numpy() / 3600).astype(np.int64)
    distinct = np.unique(hours)
    parts = []
    for hour in distinct:
        part = table.filter(pa.array(hours == hour)) if len(distinct) > 1 else table
        times = part["timestamp"]
        parts.append(
            _Partition(
                key=f"{append_only.hour_key(int(hour) * 3600)}-{stretch}",
                data=append_only.encode(part),
                rows=int(part.num_rows),
                starts_at=pc.min(times).as_py(),
                ends_at=pc.max(times).as_py() + 1e-6,
            )
        )
    return parts


def _each(records: Records) -> list[tuple[str, Records]]:
    """The records one by one, each named by its kind and place in the stretch."""
    found = [(f"c{i}", Records(compact=[record])) for i, record in enumerate(records.compact)]
    found += [(f"j{i}", Records(json_lines=[line])) for i, line in enumerate(records.json_lines)]
    return found


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:500]}"


def rows_table(data: bytes) -> Any:
    """One row per scored row from journal bytes (see the module's docstring)."""
    return records_table(split_records(data)[0])


def records_table(records: Records) -> Any:
    parts = [_compact_rows(records.compact)] if records.compact else []
    if records.json_lines:
        parts.append(_json_rows(b"\n".join(records.json_lines) + b"\n"))
    return _writable(tables.concat(parts))


def _writable(table: Any) -> Any:
    """Columns whose type Parquet cannot hold (a struct without fields, from an empty object;
    nesting past ``MAX_DEPTH``) as JSON text."""
    for index, field in enumerate(table.schema):
        if not _holdable(field.type, MAX_DEPTH):
            table = table.set_column(
                index, field.name, tables.json_text(table.column(index).to_pylist())
            )
    return table


def _holdable(kind: Any, depth: int) -> bool:
    import pyarrow as pa

    if pa.types.is_struct(kind):
        return (
            depth > 0
            and kind.num_fields > 0
            and all(_holdable(kind.field(i).type, depth - 1) for i in range(kind.num_fields))
        )
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return depth > 0 and _holdable(kind.value_type, depth - 1)
    if pa.types.is_map(kind):
        return depth > 0 and _holdable(kind.item_type, depth - 1)
    return True


def _json_rows(data: bytes) -> Any:
    import pyarrow as pa
    import pyarrow.json as pa_json

    try:
        requests = pa_json.read_json(
            io.BytesIO(data),
            read_options=pa_json.ReadOptions(block_size=len(data) + 1, use_threads=False),
        ).combine_chunks()
        table = _unnest(requests)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return _rows_one_by_one(data)
    if table is None:
        return _rows_one_by_one(data)
    if not all(_holdable(field.type, MAX_DEPTH) for field in table.schema):
        # JSON text of the values as they were sent (the reader's merged type would add the
        # keys of one request's object to another's)
        return _rows_one_by_one(data)
    return table


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


def _unnest(requests: Any) -> Any | None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    inputs, outputs = requests.column("inputs").chunk(0), requests.column("outputs").chunk(0)
    if not (pa.types.is_list(inputs.type) and pa.types.is_list(outputs.type)):
        return None  # inputs and outputs must be lists: read one by one instead
    lengths = pc.list_value_length(inputs).to_numpy(zero_copy_only=False)
    if not np.array_equal(lengths, pc.list_value_length(outputs).to_numpy(zero_copy_only=False)):
        return None  # as many outputs as inputs, or one by one
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
            column = pa.array(values)
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            column = None  # values that do not share a type are kept as JSON text
        if column is None or not _holdable(column.type, MAX_DEPTH):
            column = tables.json_text(values)
        columns[name] = column
    return pa.table(columns)


def journal_folder(store: Store, endpoint: str, *, create: bool = True) -> Path:
    """Where the server of ``endpoint`` journals (and its converter quarantines)."""
    if create:
        return store.local_path("serving", endpoint, "journal")
    return store.settings.local_dir / "serving" / endpoint / "journal"
