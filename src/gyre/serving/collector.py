"""Turns the journal into the endpoint's inference dataset, off the request path.

Every ``interval`` seconds (and at shutdown) new journal lines become one Parquet partition per
hour of the append-only dataset ``<endpoint>-inference``, one row per scored row:
``request_id``, ``row`` (its place in the request), ``model``, ``version``, ``timestamp``,
``latency_ms``, the inputs (``in_<field>`` per field of a record, else one ``inputs`` column)
and the prediction (``outputs``). The partition key names the journal segment and byte range
it came from, so converting the same lines again after a crash is a no-op, and the converted
offset is saved only after the partition is sealed.

The conversion is columnar: pyarrow's JSON reader parses a whole chunk of the journal (in C++,
without holding the interpreter) and the rows are unnested with array operations, so it costs
the server little. Lines the reader cannot type together (a field that is a number in one
request and a string in another) take a slower per-row path that keeps every value as text
where it must.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from gyre.data import append_only
from gyre.serving.journal import Journal, read_chunk
from gyre.store import Store

log = logging.getLogger("gyre.serving.collector")
CONVERT_INTERVAL_S = 5.0
CHUNK_BYTES = 32 << 20
NICENESS = 10
REQUEST_COLUMNS = ("request_id", "model", "version", "timestamp", "latency_ms")


class Converter:
    def __init__(
        self, store: Store, journal: Journal, dataset: str, *, interval: float = CONVERT_INTERVAL_S
    ) -> None:
        self.store = store
        self.journal = journal
        self.dataset = dataset
        self.interval = interval
        self.state_file = journal.folder / "converted.json"
        self.rows_converted = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gyre-collector", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.convert()

    def _loop(self) -> None:
        # below the request threads in the CPU scheduler's eyes (Linux: per thread)
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)
        while not self._stop.wait(self.interval):
            try:
                self.convert()
            except Exception:  # logged and counted; the next pass retries the same lines
                self.failures += 1
                log.exception("converting the inference journal failed; will retry")

    def _offsets(self) -> dict[str, int]:
        if not self.state_file.exists():
            return {}
        data: dict[str, int] = json.loads(self.state_file.read_text())
        return data

    def _save_offsets(self, offsets: dict[str, int]) -> None:
        temp = self.state_file.with_suffix(".tmp")
        temp.write_text(json.dumps(offsets))
        os.replace(temp, self.state_file)

    def convert(self) -> int:
        """Convert every complete journal line not converted yet; returns the rows written."""
        offsets = self._offsets()
        written = 0
        for segment in self.journal.segments():
            path = self.journal.path(segment)
            start = offsets.get(str(segment), 0)
            while True:
                data, end = read_chunk(path, start, CHUNK_BYTES)
                if not data:
                    break
                written += self._write(segment, start, end, data)
                offsets[str(segment)] = start = end
                self._save_offsets(offsets)
            if (
                segment != self.journal.current_segment
                and offsets.get(str(segment), 0) >= path.stat().st_size
            ):
                self.journal.release(segment)
                offsets.pop(str(segment), None)
                self._save_offsets(offsets)
        self.rows_converted += written
        return written

    def _write(self, segment: int, start: int, end: int, data: bytes) -> int:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        table = rows_table(data)
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
    """One row per scored row from journal lines (see the module's docstring)."""
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
