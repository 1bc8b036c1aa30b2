"""Open Inference Protocol v2 tensors: datatypes, shapes, and their JSON and binary forms.

Every datatype of the protocol is known here (``BOOL``, ``UINT8``..``UINT64``, ``INT8``..
``INT64``, ``FP16``..``FP64``, ``BYTES``). A tensor's values are checked against its datatype
before any model sees them: booleans for ``BOOL``, integers in the type's range for the integer
types, finite numbers the type can hold for the float types, strings for ``BYTES``. JSON data
may be flat or nested as the shape says (the protocol allows both). Binary data follows
Triton's binary tensor data extension: little-endian, row-major, ``BYTES`` elements as a 4-byte
length and the bytes.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from gyre.serving.payloads import RequestError

DTYPES: dict[str, Any] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
NUMERIC = frozenset(DTYPES) - {"BOOL", "BYTES"}
MAX_DIMS = 32


def datatype_of(array: Any) -> str:
    """The protocol's datatype for an array (or a list) of predictions."""
    if not isinstance(array, np.ndarray):
        array = np.asarray(array) if _regular(array) else np.array([None], dtype=object)
    kind = array.dtype.kind
    if kind == "b":
        return "BOOL"
    if kind in "iuf":
        prefix = {"i": "INT", "u": "UINT", "f": "FP"}[kind]
        return f"{prefix}{array.dtype.itemsize * 8}"
    return "BYTES"


def _regular(values: Any) -> bool:
    try:
        array = np.asarray(values)
    except (ValueError, TypeError):
        return False
    return array.dtype.kind in "biufUS"


def check_shape(where: str, name: str, shape: Any) -> list[int]:
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_DIMS
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise RequestError(
            400,
            "invalid_input",
            f"{where} ({name!r}) has shape {_short(shape)}; a shape is a list of at most "
            f"{MAX_DIMS} non-negative integers, e.g. [2, 4]",
            name,
        )
    return shape


def from_json(where: str, name: str, datatype: str, shape: list[int], data: Any) -> Any:
    """The tensor's values as a numpy array of ``shape`` (``BYTES``: an object array of str),
    or a 400 naming the tensor and what is wrong with its data."""
    count = math.prod(shape)
    values = _flatten(where, name, shape, data)
    if len(values) != count:
        raise RequestError(
            400,
            "invalid_input",
            f"{where} ({name!r}) has {len(values)} values for shape {shape}",
            name,
        )
    if datatype == "BYTES":
        if not all(isinstance(v, str) for v in values):
            bad = next(v for v in values if not isinstance(v, str))
            raise RequestError(
                400, "invalid_input", f"{where} ({name!r}) holds {_short(bad)}, not BYTES", name
            )
        array = np.empty(count, dtype=object)
        array[:] = values
        return array.reshape(shape)
    dtype = DTYPES[datatype]
    kinds = set(map(type, values))
    allowed = {bool} if datatype == "BOOL" else {int} if dtype.kind in "iu" else {int, float}
    if not kinds <= allowed:
        bad = next(v for v in values if type(v) not in allowed)
        raise RequestError(
            400,
            "invalid_input",
            f"{where} ({name!r}) holds {_short(bad)}, not {datatype}",
            name,
        )
    if datatype == "BOOL":
        return np.array(values, dtype=np.bool_).reshape(shape)
    if dtype.kind in "iu":
        return _integers(where, name, datatype, dtype, values).reshape(shape)
    try:
        wide = np.array(values, dtype=np.float64)
    except OverflowError:
        raise _out_of_range(where, name, datatype) from None
    return _floats(where, name, datatype, dtype, wide).reshape(shape)


def _integers(where: str, name: str, datatype: str, dtype: Any, values: list[Any]) -> Any:
    info = np.iinfo(dtype)
    if values and (min(values) < info.min or max(values) > info.max):
        raise _out_of_range(where, name, datatype, f"[{info.min}, {info.max}]")
    return np.array(values, dtype=dtype)


def _floats(where: str, name: str, datatype: str, dtype: Any, wide: Any) -> Any:
    if wide.size and not np.isfinite(wide).all():
        if np.isinf(wide).any():
            raise RequestError(
                400, "invalid_input", f"{where} ({name!r}) holds Infinity, not a number", name
            )
        raise RequestError(400, "invalid_input", f"{where} ({name!r}) holds NaN", name)
    limit = float(np.finfo(dtype).max)
    if wide.size and float(np.abs(wide).max()) > limit:
        raise _out_of_range(where, name, datatype, f"[-{limit:g}, {limit:g}]")
    return wide.astype(dtype, copy=False)


def _out_of_range(where: str, name: str, datatype: str, bounds: str = "") -> RequestError:
    span = f" {bounds}" if bounds else ""
    return RequestError(
        400,
        "invalid_input",
        f"{where} ({name!r}) holds a value outside the range of {datatype}{span}",
        name,
    )


def _flatten(where: str, name: str, shape: list[int], data: Any) -> list[Any]:
    """Flat values of JSON data that is flat or nested exactly as ``shape`` says."""
    if not isinstance(data, list):
        if not shape or math.prod(shape) == 1:
            return [data]
        raise RequestError(
            400, "invalid_input", f"{where} ({name!r}) needs 'data' as a JSON list", name
        )
    if not any(isinstance(item, list) for item in data[:1]):
        return data
    level: list[Any] = [data]
    for depth, dim in enumerate(shape):
        below: list[Any] = []
        for item in level:
            if not isinstance(item, list) or len(item) != dim:
                raise RequestError(
                    400,
                    "invalid_input",
                    f"{where} ({name!r}) has nested data that does not match its shape {shape} "
                    f"at depth {depth}; send the values flat or nested exactly as the shape",
                    name,
                )
            below.extend(item)
        level = below
    return level


def from_binary(where: str, name: str, datatype: str, shape: list[int], raw: bytes) -> Any:
    """A tensor sent as binary data (Triton's binary tensor data extension)."""
    count = math.prod(shape)
    if datatype == "BYTES":
        items: list[str] = []
        offset = 0
        try:
            while offset < len(raw):
                (size,) = struct.unpack_from("<I", raw, offset)
                chunk = raw[offset + 4 : offset + 4 + size]
                if len(chunk) != size:
                    raise struct.error("short element")
                items.append(chunk.decode("utf-8"))
                offset += 4 + size
        except (struct.error, UnicodeDecodeError):
            raise RequestError(
                400,
                "invalid_input",
                f"{where} ({name!r}) binary BYTES data is not a sequence of 4-byte lengths and "
                "UTF-8 strings",
                name,
            ) from None
        if len(items) != count:
            raise RequestError(
                400,
                "invalid_input",
                f"{where} ({name!r}) has {len(items)} values for shape {shape}",
                name,
            )
        array = np.empty(count, dtype=object)
        array[:] = items
        return array.reshape(shape)
    dtype = DTYPES[datatype].newbyteorder("<")
    if len(raw) != count * dtype.itemsize:
        raise RequestError(
            400,
            "invalid_input",
            f"{where} ({name!r}) has {len(raw)} bytes of binary data; shape {shape} of "
            f"{datatype} takes {count * dtype.itemsize}",
            name,
        )
    if datatype == "BOOL":
        octets = np.frombuffer(raw, dtype=np.uint8)
        if (octets > 1).any():
            raise RequestError(
                400, "invalid_input", f"{where} ({name!r}) BOOL bytes must be 0 or 1", name
            )
        return octets.astype(np.bool_).reshape(shape)
    array = np.frombuffer(raw, dtype=dtype).astype(DTYPES[datatype], copy=False)
    if dtype.kind == "f" and array.size and not np.isfinite(array).all():
        raise RequestError(400, "invalid_input", f"{where} ({name!r}) holds NaN or Infinity", name)
    return array.reshape(shape)


def to_binary(array: Any, datatype: str) -> bytes:
    """An output's bytes in the binary extension's layout."""
    if datatype == "BYTES":
        parts = []
        for value in np.asarray(array, dtype=object).reshape(-1):
            data = value if isinstance(value, bytes) else str(value).encode()
            parts.append(struct.pack("<I", len(data)) + data)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=DTYPES[datatype].newbyteorder("<")).tobytes()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
