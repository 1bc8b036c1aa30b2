"""The Open Inference Protocol v2 inference request and response, checked against the model.

A request's tensors are bound to what the model's signature says it takes:

- a *records* signature (one input per column, as a DataFrame or JSON records give) takes one
  tensor per column, by name and in any order, each of shape ``[N]`` or ``[N, 1]``, or one
  tensor holding every column, of shape ``[N, columns]``;
- a *tensor* signature (an array example) takes one tensor of its name, whose shape matches the
  signature's (``-1`` matches any size);
- a python-flavor model gets ``{name: values}``, its names checked when it has a signature.

Names, datatypes and shapes are checked here, so a request the model cannot take is a 400 that
names the tensor, never a model failure. Binary tensor data (Triton's extension) works both
ways.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from gyre.serving import tensor_codec as codec
from gyre.serving.payloads import RequestError, decode

INT_DATATYPES = frozenset(d for d in codec.NUMERIC if not d.startswith("FP"))
COLUMN_DATATYPES = {
    "float64": codec.NUMERIC,
    "float32": codec.NUMERIC,
    "int64": INT_DATATYPES,
    "int32": INT_DATATYPES,
    "bool": frozenset({"BOOL"}),
    "string": frozenset({"BYTES"}),
    "bytes": frozenset({"BYTES"}),
    "image": frozenset({"BYTES"}),
}
SIGNATURE_DATATYPES = {
    "float64": "FP64",
    "float32": "FP32",
    "int64": "INT64",
    "int32": "INT32",
    "bool": "BOOL",
    "string": "BYTES",
    "bytes": "BYTES",
    "image": "BYTES",
}
JSON_CONTENT = b"application/json"
BINARY_CONTENT = b"application/octet-stream"


@dataclass
class Tensor:
    name: str
    datatype: str
    shape: list[int]
    array: Any


@dataclass
class InferRequest:
    id: str | None
    inputs: list[Tensor]
    outputs: dict[str, bool] | None  # requested output name -> as binary data
    binary_output: bool = False


def _bad(message: str, field_name: str | None = None) -> RequestError:
    return RequestError(400, "invalid_input", message, field_name)


def parse_request(raw: bytes, header_length: int | None) -> InferRequest:
    """An inference request from its body (JSON, or JSON then binary tensor data)."""
    binary = b""
    if header_length is not None:
        if header_length > len(raw):
            raise _bad(
                f"Inference-Header-Content-Length is {header_length} but the body has only "
                f"{len(raw)} bytes",
                "Inference-Header-Content-Length",
            )
        raw, binary = raw[:header_length], raw[header_length:]
    body = decode(raw)
    if not isinstance(body, dict):
        raise _bad(
            'an inference request is a JSON object: {"inputs": [{name, shape, datatype, data}]}',
            "inputs",
        )
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise _bad(f"'id' must be a string, got {type(request_id).__name__}", "id")
    parameters = _parameters(body, "the request")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise _bad("an inference request needs 'inputs': [{name, shape, datatype, data}]", "inputs")
    tensors: list[Tensor] = []
    offset = 0
    for index, entry in enumerate(inputs):
        tensor, used = _input(index, entry, binary, offset)
        offset += used
        if any(t.name == tensor.name for t in tensors):
            raise _bad(f"inputs[{index}] repeats the name {tensor.name!r}", tensor.name)
        tensors.append(tensor)
    if offset != len(binary):
        raise _bad(
            f"the body has {len(binary) - offset} bytes of binary data that no input claims "
            "(binary_data_size)",
            "inputs",
        )
    binary_output = parameters.get("binary_data_output", False)
    if not isinstance(binary_output, bool):
        raise _bad("parameters.binary_data_output must be true or false", "parameters")
    return InferRequest(request_id, tensors, _requested_outputs(body, binary_output), binary_output)


def _parameters(entry: dict[str, Any], where: str) -> dict[str, Any]:
    parameters = entry.get("parameters", {})
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise _bad(f"'parameters' of {where} must be an object", "parameters")
    return parameters


def _input(index: int, entry: Any, binary: bytes, offset: int) -> tuple[Tensor, int]:
    where = f"inputs[{index}]"
    if not isinstance(entry, dict):
        raise _bad(f"{where} must be an object {{name, shape, datatype, data}}", where)
    name = entry.get("name")
    if not isinstance(name, str):
        raise _bad(f"{where} has no 'name' (a string)", f"{where}.name")
    datatype = entry.get("datatype")
    if not isinstance(datatype, str):
        raise _bad(f"{where} ({name!r}) has no 'datatype' (a string)", name)
    if datatype not in codec.DTYPES:
        raise _bad(
            f"{where} ({name!r}) has datatype {datatype[:40]!r}; use one of "
            f"{', '.join(codec.DTYPES)}",
            name,
        )
    if "shape" not in entry:
        raise _bad(f"{where} ({name!r}) has no 'shape'", name)
    shape = codec.check_shape(where, name, entry["shape"])
    parameters = _parameters(entry, where)
    size = parameters.get("binary_data_size")
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise _bad(f"{where} ({name!r}) binary_data_size must be a non-negative integer", name)
        if "data" in entry:
            raise _bad(f"{where} ({name!r}) has both 'data' and binary_data_size", name)
        if offset + size > len(binary):
            raise _bad(
                f"{where} ({name!r}) claims {size} bytes of binary data but only "
                f"{len(binary) - offset} follow the JSON (send Inference-Header-Content-Length)",
                name,
            )
        chunk = binary[offset : offset + size]
        return Tensor(
            name, datatype, shape, codec.from_binary(where, name, datatype, shape, chunk)
        ), size
    if "data" not in entry:
        raise _bad(f"{where} ({name!r}) has no 'data'", name)
    array = codec.from_json(where, name, datatype, shape, entry["data"])
    return Tensor(name, datatype, shape, array), 0


def _requested_outputs(body: dict[str, Any], binary_default: bool) -> dict[str, bool] | None:
    outputs = body.get("outputs")
    if outputs is None:
        return None
    if not isinstance(outputs, list):
        raise _bad("'outputs' must be a list of {name}", "outputs")
    requested: dict[str, bool] = {}
    for index, entry in enumerate(outputs):
        where = f"outputs[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise _bad(f"{where} must be an object with a 'name' (a string)", where)
        binary = _parameters(entry, where).get("binary_data", binary_default)
        if not isinstance(binary, bool):
            raise _bad(f"{where} parameters.binary_data must be true or false", entry["name"])
        requested[entry["name"]] = binary
    return requested


# --- binding the tensors to the model -------------------------------------------------------


@dataclass
class Bound:
    """What the model takes: ``rows`` (a 2-D float array, records, an array, or ``{name:
    values}`` for python models) and ``records`` for the journal when they are columns."""

    rows: Any
    count: int


def bind(
    signature: dict[str, Any] | None, flavor: str, takes_arrays: bool, tensors: list[Tensor]
) -> Bound:
    specs: list[dict[str, Any]] = (signature or {}).get("inputs") or []
    if flavor == "python":
        return _bind_named(specs, tensors)
    if not specs:
        if len(tensors) != 1:
            raise _bad(
                f"this model has no signature and takes one tensor; the request has {len(tensors)}",
                tensors[1].name,
            )
        return Bound(tensors[0].array, _rows_of(tensors[0]))
    if len(specs) == 1 and specs[0].get("shape"):
        return _bind_tensor(specs[0], tensors)
    return _bind_columns(specs, takes_arrays, tensors)


def _rows_of(tensor: Tensor) -> int:
    return tensor.shape[0] if tensor.shape else 1


def _bind_named(specs: list[dict[str, Any]], tensors: list[Tensor]) -> Bound:
    names = [s["name"] for s in specs]
    if names:
        for tensor in tensors:
            if tensor.name not in names:
                raise _unknown_input(tensor.name, names)
        missing = [n for n in names if n not in {t.name for t in tensors}]
        if missing:
            raise _bad(
                f"the request has no input {missing[0]!r}; the model takes {_listing(names)}",
                missing[0],
            )
    named = {t.name: (t.array.tolist() if t.datatype == "BYTES" else t.array) for t in tensors}
    return Bound(named, 1)


def _bind_tensor(spec: dict[str, Any], tensors: list[Tensor]) -> Bound:
    name = spec["name"]
    if len(tensors) != 1:
        extra = next(t.name for t in tensors if t.name != name)
        raise _unknown_input(extra, [name])
    tensor = tensors[0]
    if tensor.name != name:
        raise _unknown_input(tensor.name, [name])
    expected = spec["shape"]
    fits = len(tensor.shape) == len(expected) and all(
        d in (-1, got) for d, got in zip(expected, tensor.shape, strict=True)
    )
    if not fits:
        raise _bad(
            f"input {name!r} has shape {tensor.shape}; the model takes {expected} (-1: any size)",
            name,
        )
    _check_datatype(tensor, spec)
    kind = spec["type"]
    array = (
        tensor.array.astype(kind)
        if kind in ("float64", "float32", "int64", "int32")
        else tensor.array
    )
    return Bound(array, _rows_of(tensor))


def _bind_columns(specs: list[dict[str, Any]], takes_arrays: bool, tensors: list[Tensor]) -> Bound:
    names = [s["name"] for s in specs]
    if len(tensors) == 1 and tensors[0].name not in names and len(tensors[0].shape) == 2:
        return _bind_matrix(specs, takes_arrays, tensors[0])
    by_name = {t.name: t for t in tensors}
    for tensor in tensors:
        if tensor.name not in names:
            raise _unknown_input(tensor.name, names, matrix=len(names))
    missing = [n for n in names if n not in by_name]
    if missing:
        raise _bad(
            f"the request has no input {missing[0]!r}; the model takes one tensor per column "
            f"({_listing(names)}) or one tensor of shape [N, {len(names)}]",
            missing[0],
        )
    count: int | None = None
    columns = []
    for spec in specs:
        tensor = by_name[spec["name"]]
        if not (len(tensor.shape) == 1 or (len(tensor.shape) == 2 and tensor.shape[1] == 1)):
            raise _bad(
                f"input {tensor.name!r} has shape {tensor.shape}; a column is [N] or [N, 1]",
                tensor.name,
            )
        if count is None:
            count = tensor.shape[0]
        elif tensor.shape[0] != count:
            raise _bad(
                f"input {tensor.name!r} has {tensor.shape[0]} rows where {names[0]!r} has "
                f"{count}; every column needs the same number of rows",
                tensor.name,
            )
        _check_datatype(tensor, spec)
        columns.append(tensor.array.reshape(-1))
    rows = count or 0
    if takes_arrays:
        return Bound(
            np.column_stack([c.astype(np.float64) for c in columns])
            if columns
            else np.empty((0, 0)),
            rows,
        )
    lists = [c.tolist() for c in columns]
    records = [dict(zip(names, values, strict=True)) for values in zip(*lists, strict=True)]
    return Bound(records, rows)


def _bind_matrix(specs: list[dict[str, Any]], takes_arrays: bool, tensor: Tensor) -> Bound:
    width = len(specs)
    if tensor.shape[1] != width:
        raise _unknown_input(tensor.name, [s["name"] for s in specs], matrix=width)
    if not takes_arrays:
        raise _bad(
            f"input {tensor.name!r}: this model's columns are not all numeric, so it takes one "
            f"tensor per column ({_listing([s['name'] for s in specs])})",
            tensor.name,
        )
    if tensor.datatype not in codec.NUMERIC:
        raise _bad(
            f"input {tensor.name!r} is {tensor.datatype}; the model's columns are numeric",
            tensor.name,
        )
    for spec in specs:
        if spec["type"] in ("int64", "int32") and tensor.datatype not in INT_DATATYPES:
            raise _bad(
                f"input {tensor.name!r} is {tensor.datatype}; column {spec['name']!r} takes "
                "integers",
                tensor.name,
            )
    return Bound(tensor.array.astype(np.float64), tensor.shape[0])


def _check_datatype(tensor: Tensor, spec: dict[str, Any]) -> None:
    allowed = COLUMN_DATATYPES.get(spec["type"], frozenset(codec.DTYPES))
    if tensor.datatype not in allowed:
        raise _bad(
            f"input {tensor.name!r} is {tensor.datatype}; the model takes "
            f"{SIGNATURE_DATATYPES.get(spec['type'], spec['type'])} there "
            f"({' or '.join(sorted(allowed)) if len(allowed) < 4 else 'a numeric datatype'})",
            tensor.name,
        )


def _unknown_input(name: str, names: list[str], *, matrix: int = 0) -> RequestError:
    alternative = f", or one tensor of shape [N, {matrix}]" if matrix > 1 else ""
    return _bad(f"the model has no input {name!r}; it takes {_listing(names)}{alternative}", name)


def _listing(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:10])
    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")


# --- the response -----------------------------------------------------------------------------


def check_outputs(request: InferRequest, output_name: str) -> None:
    """Refuse, before anything is predicted, a request for an output the model does not have."""
    for name in request.outputs or {}:
        if name != output_name:
            raise _bad(f"the model has no output {name!r}; it returns {output_name!r}", name)


def response(
    request: InferRequest,
    model_name: str,
    model_version: int,
    request_id: str,
    output_name: str,
    predictions: Any,
) -> tuple[bytes, int | None]:
    """(body, the JSON part's length when binary data follows it, else None)."""
    binary_wanted = request.binary_output
    if request.outputs is not None:
        binary_wanted = request.outputs.get(output_name, binary_wanted)
    array = _as_array(predictions)
    datatype = codec.datatype_of(array)
    output: dict[str, Any] = {
        "name": output_name,
        "datatype": datatype,
        "shape": list(array.shape),
    }
    blob = b""
    if binary_wanted:
        blob = codec.to_binary(array, datatype)
        output["parameters"] = {"binary_data_size": len(blob)}
    elif datatype == "BYTES":
        output["data"] = [_text(v) for v in array.reshape(-1).tolist()]
    else:
        output["data"] = array.reshape(-1)
    head = orjson.dumps(
        {
            "model_name": model_name,
            "model_version": str(model_version),
            "id": request.id if request.id is not None else request_id,
            "outputs": [output],
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )
    if not binary_wanted:
        return head, None
    return head + blob, len(head)


def _as_array(predictions: Any) -> Any:
    if isinstance(predictions, np.ndarray):
        return predictions
    try:
        array = np.asarray(predictions)
    except (ValueError, TypeError):
        array = None
    if array is None or array.dtype.kind not in "biufU":
        items = predictions if isinstance(predictions, list) else [predictions]
        array = np.empty(len(items), dtype=object)
        array[:] = items
    return array


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def header_length(value: bytes) -> int | None:
    """The Inference-Header-Content-Length header's value, or a 400 when it is not a number."""
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise _bad(
            "Inference-Header-Content-Length must be the JSON part's length in bytes",
            "Inference-Header-Content-Length",
        )
    return int(value)


def metadata_tensor(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": spec["name"],
        "datatype": SIGNATURE_DATATYPES.get(spec.get("type", ""), spec.get("datatype", "BYTES")),
        "shape": spec.get("shape", [-1]),
    }
