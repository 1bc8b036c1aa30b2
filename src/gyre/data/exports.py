"""A table written out as CSV, Parquet or JSON lines: whole, or not at all.

Any table a dataset holds can be written: CSV has no nested values, so list, struct and map
columns become JSON text there; JSON lines keep them nested (non-finite numbers become null,
bytes base64). The file is written under a temporary name beside the target and renamed into
place once complete; on any failure the temporary file is removed and the target is left as
it was.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import decimal
import json
import math
import os
from pathlib import Path
from typing import Any, BinaryIO

from gyre.errors import InvalidParameter, WriteFailed

FORMATS = ("csv", "parquet", "jsonl")
SUFFIXES = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
BATCH_ROWS = 10_000


def target(dest: Path, name: str, fmt: str | None) -> tuple[Path, str]:
    """The file to write and its format, from ``dest`` and an optional format.

    ``dest`` with a known suffix (.csv, .parquet/.pq, .jsonl/.ndjson) is the file, in that
    format unless ``fmt`` says otherwise; a folder (one that exists, or a path without a
    suffix) gets ``NAME.<format>`` (Parquet by default); any other suffix needs ``fmt``.
    """
    if fmt is not None and fmt not in FORMATS:
        raise InvalidParameter(
            f"Cannot write a table as {fmt!r}: the formats are {', '.join(FORMATS)}."
        )
    suffix = dest.suffix.lower()
    if suffix in SUFFIXES:
        return dest, fmt or SUFFIXES[suffix]
    if dest.is_dir() or not suffix:
        chosen = fmt or "parquet"
        return dest / f"{name}.{chosen}", chosen
    if fmt is not None:
        return dest, fmt
    raise InvalidParameter(
        f"Cannot tell the format of {str(dest)!r} from its extension {dest.suffix!r}: use "
        f"one of {', '.join(sorted(SUFFIXES))}, or pass --format ({', '.join(FORMATS)})."
    )


def write_table(table: Any, path: Path, fmt: str) -> None:
    """Write ``table`` (pyarrow) to ``path`` in ``fmt``; nothing is left at ``path`` (or
    beside it) when this fails.

    Raises:
        WriteFailed: the file could not be written (the reason is named).
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temp, "wb") as handle:
            _WRITERS[fmt](table, handle)
        os.replace(temp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        if isinstance(exc, OSError):
            raise WriteFailed(
                f"Could not write {path}: {exc.strerror or exc}. Nothing was written; choose "
                "another destination or free the path."
            ) from None
        if isinstance(exc, Exception):
            others = ", ".join(f for f in FORMATS if f != fmt)
            raise WriteFailed(
                f"Could not write {path} as {fmt}: {exc}. Nothing was written; try another "
                f"format ({others})."
            ) from exc
        raise


def _parquet(table: Any, handle: BinaryIO) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, handle)


def _csv(table: Any, handle: BinaryIO) -> None:
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    from gyre.data import tables

    for index, field in enumerate(table.schema):
        kind = field.type
        if pa.types.is_nested(kind):
            values = [_plain(v) for v in table.column(index).to_pylist()]
            table = table.set_column(index, field.name, tables.json_text(values))
        elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            values = [_plain(v) for v in table.column(index).to_pylist()]
            table = table.set_column(index, field.name, pa.array(values, pa.string()))
        elif pa.types.is_null(kind):
            table = table.set_column(index, field.name, table.column(index).cast(pa.string()))
    pa_csv.write_csv(table, handle)


def _jsonl(table: Any, handle: BinaryIO) -> None:
    for batch in table.to_batches(max_chunksize=BATCH_ROWS):
        lines = [
            json.dumps(_plain(row), ensure_ascii=False, allow_nan=False)
            for row in batch.to_pylist()
        ]
        if lines:
            handle.write(("\n".join(lines) + "\n").encode())


def _plain(value: Any) -> Any:
    """A value JSON can hold: non-finite numbers as null, bytes as base64, times as ISO 8601,
    decimals as text, map entries (key, value pairs) as they are."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


_WRITERS = {"csv": _csv, "parquet": _parquet, "jsonl": _jsonl}
