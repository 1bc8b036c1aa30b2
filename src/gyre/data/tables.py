"""Tables: CSV, JSON lines or Parquet in, one Parquet blob out, with its schema."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gyre.errors import InvalidParameter, MissingExtra
from gyre.store.blobs import BlobStore

TABLE_SUFFIXES = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "json",
    ".ndjson": "json",
}


@dataclass(frozen=True)
class StoredTable:
    digest: str
    size: int
    rows: int
    schema: list[dict[str, str]]
    table: Any  # pyarrow.Table, kept for profiling


def table_format(name: str) -> str | None:
    return TABLE_SUFFIXES.get(Path(name).suffix.lower())


def read_table(data: bytes, fmt: str, source: str) -> Any:
    try:
        import pyarrow as pa
        import pyarrow.csv as pa_csv
        import pyarrow.json as pa_json
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingExtra("pyarrow", "data", "Registering tables") from exc
    if not data.strip():
        raise InvalidParameter(f"{source} is empty: an empty dataset cannot be registered.")
    try:
        if fmt == "csv":
            table = pa_csv.read_csv(io.BytesIO(data))
        elif fmt == "json":
            table = pa_json.read_json(io.BytesIO(data))
        else:
            table = pq.read_table(io.BytesIO(data))
    except pa.ArrowInvalid as exc:
        if fmt == "csv":
            raise InvalidParameter(_csv_problem(data, source, str(exc))) from None
        raise InvalidParameter(f"{source} does not parse as {fmt}: {exc}") from None
    if table.num_rows == 0:
        raise InvalidParameter(f"{source} has no rows: an empty dataset cannot be registered.")
    return table


def _csv_problem(data: bytes, source: str, arrow_message: str) -> str:
    """Find the line and column where a CSV stops parsing (pyarrow does not say)."""
    text = data.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
        for row in reader:
            line = reader.line_num
            if len(row) != len(header):
                column = min(len(row), len(header)) + 1
                return (
                    f"{source} does not parse: line {line}, column {column}: expected "
                    f"{len(header)} fields like the header, found {len(row)}. Fix that line "
                    "(a missing or extra delimiter, or an unquoted comma)."
                )
    except csv.Error as exc:
        return (
            f"{source} does not parse: line {reader.line_num}: {exc}. Fix the quoting on that line."
        )
    return f"{source} does not parse as CSV: {arrow_message}"


def store_table(table: Any, blobs: BlobStore) -> StoredTable:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    data = buffer.getvalue()
    digest = blobs.put_bytes(data)
    schema = [{"name": f.name, "type": str(f.type)} for f in table.schema]
    return StoredTable(digest, len(data), table.num_rows, schema, table)


def load_table(blobs: BlobStore, digest: str) -> Any:
    return table_from_parquet(blobs.read_bytes(digest))


def table_from_parquet(data: bytes) -> Any:
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(data))


def diff_schemas(old: list[dict[str, str]], new: list[dict[str, str]]) -> dict[str, Any]:
    before = {c["name"]: c["type"] for c in old}
    after = {c["name"]: c["type"] for c in new}
    return {
        "columns_added": sorted(set(after) - set(before)),
        "columns_removed": sorted(set(before) - set(after)),
        "types_changed": {
            name: [before[name], after[name]]
            for name in sorted(set(before) & set(after))
            if before[name] != after[name]
        },
    }


def concat(loaded: list[Any]) -> Any:
    """One table from several: columns missing from some are filled with nulls, numbers are
    widened (int to float); a column whose types cannot be unified (a number in one table, a
    string in another) becomes JSON text in all of them, so no value is lost."""
    import pyarrow as pa

    if not loaded:
        return pa.table({})
    try:
        return pa.concat_tables(loaded, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        pass
    types: dict[str, set[Any]] = {}
    for table in loaded:
        for name in table.column_names:
            types.setdefault(name, set()).add(table.schema.field(name).type)
    mixed = {name for name, kinds in types.items() if len(kinds - {pa.null()}) > 1}
    return pa.concat_tables(
        [_as_json_text(table, mixed) for table in loaded], promote_options="permissive"
    )


def _as_json_text(table: Any, names: set[str]) -> Any:
    for name in names & set(table.column_names):
        index = table.column_names.index(name)
        table = table.set_column(index, name, json_text(table.column(name).to_pylist()))
    return table


def json_text(values: list[Any]) -> Any:
    """The values as a column of JSON text (nulls stay null), for values no one type holds."""
    import pyarrow as pa

    return pa.array(
        [None if v is None else json.dumps(v, default=str, ensure_ascii=False) for v in values],
        pa.string(),
    )
