"""Request bodies in, model inputs out: JSON decoding and validation against the signature.

The common case is checked in bulk: every value's type at once (``set(map(type, ...))``), NaN
with numpy on the array the model will take anyway. Only when that check fails does the
per-value walk run, to name the record and the field in the message.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math
from typing import Any

import msgspec
import numpy as np
import orjson

from gyre.errors import InvalidParameter
from gyre.registry import signature as signatures

FLOAT_MAX = float(np.finfo(np.float64).max)
NUMERIC = {"float64": (float, int), "float32": (float, int), "int64": (int,), "int32": (int,)}


class RequestError(InvalidParameter):
    """A request the server refuses: its status, a machine-readable kind, the field at fault."""

    def __init__(self, status: int, kind: str, message: str, field_name: str | None = None) -> None:
        super().__init__(message, field=field_name)
        self.status = status
        self.kind = kind


def decode(raw: bytes) -> Any:
    """Parse a JSON body (orjson; the standard library only for NaN/Infinity literals, which
    orjson refuses and validation then reports by field)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(400, "invalid_json", f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise RequestError(
            400, "invalid_json", "the body is nested too deeply (more than 1,000 levels)"
        ) from None


def _encode_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple | set):
        return list(value)
    return str(value)


def encode(value: Any) -> bytes:
    """JSON bytes for a response or a journal line; numpy arrays and scalars included."""
    return orjson.dumps(
        value, default=_encode_default, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    )


def records_of(body: Any) -> list[Any]:
    """The rows of a ``/score`` body: a record, a list of records, or ``{"records": [...]}``
    (a dict whose only key is ``records`` or ``inputs``, holding a list; any other dict is one
    record, so a column may be named ``records`` or ``inputs``)."""
    records = body
    if isinstance(body, dict):
        wrapped = len(body) == 1 and next(iter(body)) in ("records", "inputs")
        records = next(iter(body.values())) if wrapped else [body]
        if wrapped and not isinstance(records, list):
            records = [body]
    if not isinstance(records, list) or not records:
        raise RequestError(
            400,
            "invalid_input",
            'send a JSON record, a list of records, or {"records": [...]}',
            "records",
        )
    return records


def records_to_array(signature: dict[str, Any], records: list[Any]) -> Any:
    """Validate records against a signature whose inputs are all numeric; the 2-D float array
    in the signature's column order. Anything unusual takes the per-value walk for its message.
    """
    specs = signature["inputs"]
    names = [s["name"] for s in specs]
    width = len(names)
    try:
        ragged = any(len(record) != width for record in records)
        values = [] if ragged else [record[name] for record in records for name in names]
    except (KeyError, TypeError):
        ragged = True
    if ragged:
        _explain_records(signature, records)  # raises RequestError naming the field
    whole = False  # an integer column holds a float: checked to be whole below
    for column, spec in enumerate(specs):
        allowed = NUMERIC[spec["type"]]
        kinds = set(map(type, values[column::width]))
        if spec.get("nullable"):
            kinds.discard(type(None))
        if not kinds.issubset(allowed):
            if not (kinds <= {int, float} and allowed == (int,)):
                _explain_records(signature, records)
            whole = True
    try:
        array = np.array(values, dtype=np.float64).reshape(len(records), width)
    except OverflowError:  # an integer beyond any float
        _explain_records(signature, records)
        raise
    if not np.isfinite(array).all():
        nullable = np.array([bool(s.get("nullable")) for s in specs])
        if np.isinf(array).any() or np.isnan(array[:, ~nullable]).any():
            _explain_records(signature, records)
    if whole:
        integers = np.array([s["type"] in ("int64", "int32") for s in specs])
        if (array[:, integers] != np.floor(array[:, integers])).any():
            _explain_records(signature, records)
    return array


class RecordsDecoder:
    """The fast path for records of a numeric signature: msgspec decodes and type-checks the
    body in one pass (missing, unknown and mistyped fields, booleans, strings) straight into
    typed objects, and their values become the float array. It answers None for anything else
    (a body of another shape, NaN literals, any error), and the general path then decodes the
    body and names the record and the field at fault."""

    def __init__(self, signature: dict[str, Any]) -> None:
        fields: list[tuple[str, Any]] = []
        rename: dict[str, str] = {}
        for index, spec in enumerate(signature["inputs"]):
            kind: Any = float if spec["type"].startswith("float") else int
            # Struct fields must be identifiers; the JSON names ("sepal length (cm)", "class",
            # "1st") are any string, so each field gets a position name renamed to its column.
            rename[f"f{index}"] = spec["name"]
            fields.append((f"f{index}", kind | None if spec.get("nullable") else kind))
        record = msgspec.defstruct(
            "Record", fields, forbid_unknown_fields=True, gc=False, rename=rename
        )
        self._many = msgspec.json.Decoder(list[record])  # type: ignore[valid-type]
        self._one = msgspec.json.Decoder(record)

    def decode(self, raw: bytes) -> tuple[Any, bool] | None:
        """(the rows as a 2-D float array, whether the body was a JSON list) or None."""
        start = raw[:1] if raw[:1] in (b"[", b"{") else raw.lstrip()[:1]
        try:
            if start == b"[":
                records = self._many.decode(raw)
            elif start == b"{":
                records = [self._one.decode(raw)]
            else:
                return None
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        if not records:
            return None
        astuple = msgspec.structs.astuple
        width = len(astuple(records[0]))
        values = itertools.chain.from_iterable(map(astuple, records))  # None becomes NaN
        array = np.fromiter(values, np.float64, count=len(records) * width)
        return array.reshape(len(records), width), start == b"["


def numeric_signature(signature: dict[str, Any] | None) -> bool:
    """Whether every input is a numeric column (records then become one float array)."""
    if not signature:
        return False
    inputs = signature.get("inputs", [])
    return bool(inputs) and all(i.get("type") in NUMERIC and not i.get("shape") for i in inputs)


def validate_records(signature: dict[str, Any], records: list[Any]) -> None:
    _explain_records(signature, records, always=False)


def _explain_records(signature: dict[str, Any], records: list[Any], *, always: bool = True) -> None:
    try:
        signatures.validate_records(signature, records)
    except InvalidParameter as exc:
        raise RequestError(400, "invalid_input", str(exc), exc.field) from None
    if always:  # the bulk check failed where the walk found nothing: say so plainly
        raise RequestError(400, "invalid_input", "the records do not fit the model's signature")


def validate_tensor_rows(signature: dict[str, Any], rows: list[Any]) -> None:
    spec = signature.get("inputs", [{}])[0]
    shape = spec.get("shape")
    name = spec.get("name", "input")
    for index, row in enumerate(rows):
        got = shape_of(row)
        if (
            shape
            and len(shape) > 1
            and got
            != [d if d != -1 else got[i] if i < len(got) else d for i, d in enumerate(shape[1:])]
        ):
            raise RequestError(
                400,
                "invalid_input",
                f"row {index} of {name!r} has shape {got}; the model takes {shape[1:]}",
                name,
            )
        for value in flat(row):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise RequestError(
                    400,
                    "invalid_input",
                    f"row {index} of {name!r} holds {value!r}, not a number",
                    name,
                )
            if isinstance(value, float) and math.isnan(value) and not spec.get("nullable"):
                raise RequestError(400, "invalid_input", f"row {index} of {name!r} holds NaN", name)
            if (isinstance(value, float) and math.isinf(value)) or abs(value) > FLOAT_MAX:
                raise RequestError(
                    400,
                    "invalid_input",
                    f"row {index} of {name!r} holds {value!r:.40}, outside the numbers a model "
                    "can take",
                    name,
                )
    try:  # every row the same shape (the walk above follows each row's first items only)
        ndim = np.array(rows, dtype=np.float64).ndim
    except ValueError:
        ndim = -1
    if shape and ndim != len(shape):
        raise RequestError(
            400,
            "invalid_input",
            f"the rows of {name!r} are not all of shape {shape[1:]} (-1: any size)",
            name,
        )


def check_images(body: Any, signature: dict[str, Any]) -> None:
    specs = [i for i in signature.get("inputs", []) if i["type"] == "image"]
    items = body if isinstance(body, list) else [body]
    for spec in specs:
        for index, item in enumerate(items):
            value = item.get(spec["name"]) if isinstance(item, dict) else None
            if not isinstance(value, str):
                raise RequestError(
                    400,
                    "invalid_input",
                    f"item {index} needs {spec['name']!r}: a base64-encoded image",
                    spec["name"],
                )
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise RequestError(
                    400,
                    "invalid_input",
                    f"item {index} field {spec['name']!r} is not valid base64",
                    spec["name"],
                ) from None


def flat(data: Any) -> list[Any]:
    """The leaves of nested lists, in order (any depth); a scalar is a list of itself."""
    return signatures.flatten(data) if isinstance(data, list) else [data]


def shape_of(data: Any) -> list[int]:
    shape = []
    while isinstance(data, list):
        shape.append(len(data))
        data = data[0] if data else None
    return shape
