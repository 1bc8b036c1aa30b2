"""The MLflow scoring protocol: ``POST /invocations`` and ``GET /ping``, as ``mlflow models
serve`` answers them, so clients written for MLflow work unchanged.

A JSON body holds exactly one of ``dataframe_split`` (``{"columns", "data", "index"?}``),
``dataframe_records`` (a list of records), ``instances`` or ``inputs`` (records, rows, or a
dict of columns), and optionally ``params``; a ``text/csv`` body is a header line and rows.
The answer is ``{"predictions": [...]}``; errors are ``{"error_code": "BAD_REQUEST",
"message": ...}``, MLflow's own shape.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from gyre.serving.payloads import RequestError, decode

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def _bad(message: str, field_name: str | None = None) -> RequestError:
    return RequestError(400, "invalid_input", message, field_name)


def rows_of(raw: bytes, content_type: str) -> list[Any]:
    """The request's rows: records (dicts) for the tabular formats, or the list of instances."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "text/csv":
        return _csv_records(raw)
    if media not in ("application/json", ""):
        raise RequestError(
            415,
            "unsupported_media_type",
            f"content type {media!r} is not supported; send application/json or text/csv",
            "content-type",
        )
    body = decode(raw)
    if not isinstance(body, dict):
        raise _bad(
            f"the body is a JSON object with one of {', '.join(FORMATS)} (MLflow's scoring "
            "protocol)"
        )
    given = [key for key in FORMATS if key in body]
    unknown = sorted(set(body) - {*FORMATS, "params"})
    if len(given) != 1 or unknown:
        found = ", ".join(repr(k) for k in [*given, *unknown]) or "none"
        raise _bad(
            f"the body needs exactly one of {', '.join(FORMATS)} (and optionally params); "
            f"found {found}",
            given[1] if len(given) > 1 else unknown[0] if unknown else None,
        )
    params = body.get("params")
    if params is not None and not isinstance(params, dict):
        raise _bad("'params' must be an object", "params")
    key = given[0]
    value = body[key]
    if key == "dataframe_split":
        return _split_records(value)
    if key == "dataframe_records":
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise _bad("'dataframe_records' must be a list of records", key)
        return _non_empty(value, key)
    if isinstance(value, dict):
        return _columns_records(value, key)
    if not isinstance(value, list):
        raise _bad(f"{key!r} must be a list of instances or a dict of columns", key)
    return _non_empty(value, key)


def _non_empty(rows: list[Any], key: str) -> list[Any]:
    if not rows:
        raise _bad(f"{key!r} holds no rows", key)
    return rows


def _split_records(value: Any) -> list[dict[str, Any]]:
    key = "dataframe_split"
    if not isinstance(value, dict):
        raise _bad("'dataframe_split' must be an object {columns, data}", key)
    columns, data = value.get("columns"), value.get("data")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise _bad("'dataframe_split.columns' must be a list of column names", "columns")
    if not isinstance(data, list):
        raise _bad("'dataframe_split.data' must be a list of rows", "data")
    records = []
    for index, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            raise _bad(
                f"dataframe_split.data[{index}] must be a list of {len(columns)} values, one "
                "per column",
                "data",
            )
        records.append(dict(zip(columns, row, strict=True)))
    return _non_empty(records, key)


def _columns_records(value: dict[str, Any], key: str) -> list[dict[str, Any]]:
    lengths = {len(v) if isinstance(v, list) else -1 for v in value.values()}
    if not value or -1 in lengths or len(lengths) != 1:
        raise _bad(f"{key!r} as a dict must map each column to a list, all of one length", key)
    names = list(value)
    return _non_empty(
        [dict(zip(names, row, strict=True)) for row in zip(*value.values(), strict=True)], key
    )


def _csv_records(raw: bytes) -> list[dict[str, Any]]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("the CSV body is not UTF-8") from None
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise _bad(f"the CSV body cannot be read: {exc}") from None
    if len(rows) < 2:
        raise _bad("a CSV body needs a header line and at least one row")
    header, *data = rows
    records = []
    for index, row in enumerate(data):
        if len(row) != len(header):
            raise _bad(f"CSV row {index + 1} has {len(row)} values; the header has {len(header)}")
        records.append({name: _csv_value(v) for name, v in zip(header, row, strict=True)})
    return records


def _csv_value(text: str) -> Any:
    """A CSV cell as the number it spells, else the text (as pandas' reader would type it)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
