"""The collector's journal: every scored request is appended before its response is sent.

Each request is one JSON line, written with a single ``os.write`` (so it is in the operating
system's hands, and survives SIGTERM or SIGKILL of the server), and the file is fsynced at
least once a second by a background thread (so at most a second is exposed to power loss).
A line holds the request's rows as they came (``inputs``, a list) and its predictions
(``outputs``, a list of the same length): the request path only splices bytes it already has.
Segments rotate at a size; the converter turns closed and open segments into Parquet
partitions and remembers how far it got, so a restart replays exactly what is left.
"""

from __future__ import annotations

import contextlib
import errno
import os
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

SEGMENT_BYTES = 16 << 20
COMPACT = b"C"  # the start of a compact record; JSON lines start with "{"
_LENGTHS = struct.Struct("<III")
SYNC_INTERVAL_S = 1.0


class Journal:
    def __init__(self, folder: Path, *, limit_bytes: int = 1 << 30) -> None:
        self.folder = folder
        self.reader = JournalReader(folder)
        self.limit_bytes = limit_bytes
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.dropped = 0
        self.written = 0
        self._stop = threading.Event()
        self._dirty = False
        self._fd = -1
        self._retired: list[int] = []
        self._segment = self._latest_segment()
        self._size = self.pending_bytes()
        self._open(self._segment)
        self._syncer = threading.Thread(
            target=self._sync_loop, name="gyre-journal-sync", daemon=True
        )
        self._syncer.start()

    # -- writing -----------------------------------------------------------------------------

    def _latest_segment(self) -> int:
        return max(self.reader.segments(), default=1)

    def _open(self, segment: int) -> None:
        self._fd = os.open(self.reader.path(segment), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._segment_size = os.fstat(self._fd).st_size

    def pending_bytes(self) -> int:
        return self.reader.size()

    def append(self, line: bytes, rows: int = 1) -> bool:
        """Write one request's line; False (and its rows counted) when the journal or the disk
        is full."""
        with self._lock:
            if self._size + len(line) > self.limit_bytes:
                self.dropped += rows
                return False
            try:
                os.write(self._fd, line)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                    self.dropped += rows
                    return False
                raise
            self.written += rows
            self._size += len(line)
            self._segment_size += len(line)
            self._dirty = True
            if self._segment_size >= SEGMENT_BYTES:  # the syncer fsyncs and closes it
                self._retired.append(self._fd)
                self._segment += 1
                self._open(self._segment)
        return True

    def _sync_loop(self) -> None:
        while not self._stop.wait(SYNC_INTERVAL_S):
            self.sync()
            size = self.pending_bytes()  # segments the converter deleted no longer count
            with self._lock:
                self._size = size

    def sync(self) -> None:
        """fsync what was written; writers are not held up meanwhile (the sync runs on a
        duplicate of the file descriptor, outside the lock)."""
        with self._lock:
            retired, self._retired = self._retired, []
            fd = os.dup(self._fd) if self._dirty and self._fd >= 0 else -1
            self._dirty = False
        for old in retired:  # segments rotated since the last sync
            try:
                os.fsync(old)
            finally:
                os.close(old)
        if fd >= 0:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def close(self) -> None:
        self._stop.set()
        self._syncer.join(timeout=5)
        self.sync()
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


class JournalReader:
    """The converter's view of a journal folder, from any process: segments in order, the
    newest being the one the server appends to; older ones are closed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, segment: int) -> Path:
        return self.folder / f"segment-{segment:08d}.journal"

    def segments(self) -> list[int]:
        return sorted(int(p.stem.split("-")[1]) for p in self.folder.glob("segment-*.journal"))

    @property
    def current_segment(self) -> int:
        return max(self.segments(), default=0)

    def size(self) -> int:
        """Bytes in the segments still here (a segment deleted meanwhile counts nothing)."""
        total = 0
        for segment in self.segments():
            with contextlib.suppress(FileNotFoundError):
                total += self.path(segment).stat().st_size
        return total

    def release(self, segment: int) -> None:
        """A closed segment is converted: delete it (the server's size count follows within a
        second)."""
        if segment != self.current_segment:
            self.path(segment).unlink(missing_ok=True)


def _header(
    request_id: str, model: str, version: int, timestamp: float, latency_ms: float, **more: Any
) -> bytes:
    return orjson.dumps(
        {
            "request_id": request_id,
            "model": model,
            "version": version,
            "timestamp": timestamp,
            "latency_ms": round(latency_ms, 3),
            **more,
        }
    )


def encode_line(
    request_id: str,
    model: str,
    version: int,
    timestamp: float,
    latency_ms: float,
    inputs: bytes,
    outputs: bytes,
) -> bytes:
    """One journal line from JSON fragments already encoded (``inputs``: a JSON list of rows,
    ``outputs``: a JSON list of their predictions). Newlines inside the fragments can only be
    JSON whitespace (strings cannot hold a raw one), so they become spaces."""
    head = _header(request_id, model, version, timestamp, latency_ms)
    if b"\n" in inputs or b"\r" in inputs:
        inputs = inputs.replace(b"\n", b" ").replace(b"\r", b" ")
    return b"".join((head[:-1], b',"inputs":', inputs, b',"outputs":', outputs, b"}\n"))


def encode_array_line(
    request_id: str,
    model: str,
    version: int,
    timestamp: float,
    latency_ms: float,
    columns: str,
    inputs: Any,
    outputs: Any,
) -> bytes | None:
    """The compact record for rows that are a float array (numeric records) and predictions
    that are a 1-D numeric array: ``C``, three little-endian u32 lengths (header, inputs,
    predictions), the header JSON (the request's fields, ``xcols``: the column names
    comma-separated, ``ydtype``, ``rows``), the arrays' raw bytes, then a newline. Converting
    it parses no number. None when the arrays are not of that kind (use :func:`encode_line`).
    """
    if (
        inputs.dtype != "float64"
        or inputs.ndim != 2
        or outputs.ndim != 1
        or outputs.dtype.kind not in "biuf"
        or len(outputs) != len(inputs)
    ):
        return None
    head = _header(
        request_id,
        model,
        version,
        timestamp,
        latency_ms,
        xcols=columns,
        ydtype=outputs.dtype.str,
        rows=len(outputs),
    )
    return compact_record(head, inputs.tobytes(), outputs.tobytes())


def compact_record(head: bytes, x: Any, y: Any) -> bytes:
    """A compact record's bytes from its header and arrays' bytes (the inverse of reading)."""
    return b"".join((COMPACT, _LENGTHS.pack(len(head), len(x), len(y)), head, x, y, b"\n"))


@dataclass
class Records:
    """What a stretch of journal holds: JSON lines, and compact records as (header, inputs,
    predictions) bytes."""

    json_lines: list[bytes] = field(default_factory=list)
    compact: list[tuple[bytes, Any, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.json_lines) + len(self.compact)


def split_records(data: bytes) -> tuple[Records, int]:
    """The complete records at the start of ``data`` and how many bytes they take (a record
    still being written at the end is left for the next read)."""
    records = Records()
    view = memoryview(data)
    position, size = 0, len(data)
    marker = COMPACT[0]
    while position < size:
        if data[position] == marker:
            start = position + 1 + _LENGTHS.size
            if start > size:
                break
            head, x, y = _LENGTHS.unpack_from(data, position + 1)
            end = start + head + x + y + 1
            if end > size:
                break
            records.compact.append(
                (
                    data[start : start + head],
                    view[start + head : start + head + x],
                    view[start + head + x : end - 1],
                )
            )
            position = end
        else:
            newline = data.find(b"\n", position)
            if newline < 0:
                break
            records.json_lines.append(data[position:newline])
            position = newline + 1
    return records, position


def read_records(path: Path, offset: int, limit: int) -> tuple[Records, int]:
    """The complete records after ``offset`` (about ``limit`` bytes of them, at least one when
    there is one) and the offset after them."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read(limit)
        records, used = split_records(data)
        while not records and len(data) == limit:  # one record longer than the limit
            more = handle.read(limit)
            if not more:
                break
            data += more
            records, used = split_records(data)
    return records, offset + used
