"""Turns the journal into the endpoint's inference dataset, off the request path.

Every ``interval`` seconds (and at shutdown) new journal lines become one Parquet partition per
hour of the append-only dataset ``<endpoint>-inference``. The partition key names the journal
segment and byte range it came from, so converting the same lines again after a crash is a
no-op, and the converted offset is saved only after the partition is sealed.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

from gyre.data import append_only
from gyre.data.append_only import hour_key
from gyre.serving.journal import Journal, read_from
from gyre.store import Store

log = logging.getLogger("gyre.serving.collector")
CONVERT_INTERVAL_S = 5.0


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
            rows: list[tuple[int, dict[str, Any]]] = list(read_from(path, start))
            if rows:
                end = rows[-1][0]
                written += self._write(segment, start, end, [r for _, r in rows])
                offsets[str(segment)] = end
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

    def _write(self, segment: int, start: int, end: int, records: list[dict[str, Any]]) -> int:
        import pyarrow as pa

        by_hour: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in records:
            by_hour[hour_key(record["timestamp"])].append(record)
        for hour, items in sorted(by_hour.items()):
            table = pa.Table.from_pylist([_row(r) for r in items])
            times = [r["timestamp"] for r in items]
            append_only.append(
                self.store,
                self.dataset,
                table,
                starts_at=min(times),
                ends_at=max(times) + 1e-6,
                key=f"{hour}-s{segment:08d}-{start}-{end}",
            )
        return len(records)


def _row(record: dict[str, Any]) -> dict[str, Any]:
    row = {
        "request_id": record["request_id"],
        "model": record["model"],
        "version": record["version"],
        "timestamp": record["timestamp"],
        "latency_ms": record["latency_ms"],
        "inputs": json.dumps(record["inputs"], default=str),
        "outputs": json.dumps(record["outputs"], default=str),
    }
    inputs = record["inputs"]
    if isinstance(inputs, dict):
        for key, value in inputs.items():
            if isinstance(value, int | float | str | bool) and len(str(value)) <= 256:
                row[f"in_{key}"] = value
    return row


def journal_folder(store: Store, endpoint: str) -> Path:
    return store.local_path("serving", endpoint, "journal")
