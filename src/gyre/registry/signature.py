"""Model signatures: what a model takes and returns, inferred from an example when not given.

    {"inputs": [{"name": "pixels", "type": "float32", "shape": [-1, 28, 28]}],
     "outputs": [{"name": "output", "type": "int64"}]}

Column inputs (JSON records, DataFrames) have one entry per column and no shape; tensor inputs
(arrays) have a shape whose -1 is the batch dimension; ``image`` inputs take base64 images.
"""

from __future__ import annotations

import math
from typing import Any

from gyre.errors import InvalidParameter

TYPES = ("float64", "float32", "int64", "int32", "bool", "string", "bytes", "image")


def infer(example: Any) -> dict[str, Any]:
    kind = f"{type(example).__module__}.{type(example).__qualname__}"
    if kind == "numpy.ndarray":
        return {
            "inputs": [
                {"name": "input", "type": str(example.dtype), "shape": [-1, *example.shape[1:]]}
            ]
        }
    if kind == "pandas.core.frame.DataFrame":
        return {
            "inputs": [
                {"name": str(c), "type": _dtype_name(str(t))} for c, t in example.dtypes.items()
            ]
        }
    if isinstance(example, dict) and "image" in example and len(example) == 1:
        return {"inputs": [{"name": "image", "type": "image"}]}
    if isinstance(example, dict):
        example = [example]
    if isinstance(example, list) and example and all(isinstance(r, dict) for r in example):
        names = list(example[0])
        return {"inputs": [{"name": n, "type": _python_type(example[0][n])} for n in names]}
    raise InvalidParameter(
        f"Cannot infer a signature from a {kind} example. Pass a dict of columns, a list of "
        "records, a DataFrame or a numpy array, or give signature= explicitly."
    )


def _dtype_name(dtype: str) -> str:
    if dtype.startswith("int"):
        return "int64"
    if dtype.startswith("float"):
        return "float64"
    if dtype == "bool":
        return "bool"
    return "string"


def _python_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, list):
        return "float64"
    return "string"


def check(signature: dict[str, Any]) -> dict[str, Any]:
    inputs = signature.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidParameter("signature needs a non-empty 'inputs' list of {name, type}.")
    for spec in inputs:
        if spec.get("type") not in TYPES:
            raise InvalidParameter(
                f"signature input {spec.get('name')!r} has type {spec.get('type')!r}; use one of "
                f"{', '.join(TYPES)}."
            )
    return signature


def validate_records(signature: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Raise InvalidParameter naming the field when records do not fit the signature."""
    specs = {s["name"]: s for s in signature["inputs"]}
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidParameter(
                f"record {index} is {type(record).__name__}, not an object of fields"
            )
        for name, spec in specs.items():
            if name not in record:
                raise InvalidParameter(
                    f"record {index} has no field {name!r}; the model needs {', '.join(specs)}",
                    field=name,
                )
            _check_value(f"record {index} field {name!r}", name, record[name], spec)
        extra = sorted(set(record) - set(specs))
        if extra:
            raise InvalidParameter(
                f"record {index} has field {extra[0]!r}, which the model does not take "
                f"(it takes {', '.join(specs)})",
                field=extra[0],
            )


def _check_value(where: str, name: str, value: Any, spec: dict[str, Any]) -> None:
    kind = spec["type"]
    if kind in ("float64", "float32"):
        if isinstance(value, list):
            for item in _flatten(value):
                _check_value(where, name, item, spec)
            return
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidParameter(f"{where} must be a number, got {value!r}", field=name)
        if isinstance(value, float) and math.isnan(value) and not spec.get("nullable", False):
            raise InvalidParameter(f"{where} is NaN, which this model does not accept", field=name)
    elif kind in ("int64", "int32"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidParameter(f"{where} must be an integer, got {value!r}", field=name)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise InvalidParameter(f"{where} must be true or false, got {value!r}", field=name)
    elif kind in ("string", "image", "bytes") and not isinstance(value, str):
        raise InvalidParameter(f"{where} must be a string, got {type(value).__name__}", field=name)


def _flatten(value: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in value:
        out.extend(_flatten(item) if isinstance(item, list) else [item])
    return out


def check_example(signature: dict[str, Any], example: Any) -> None:
    """Refuse an example that does not fit the signature given with it."""
    inferred = infer(example)
    given = {i["name"]: i["type"] for i in signature["inputs"]}
    found = {i["name"]: i["type"] for i in inferred["inputs"]}
    if set(given) != set(found):
        raise InvalidParameter(
            f"The signature names inputs {sorted(given)} but the example has {sorted(found)}. "
            "Make them agree, or leave signature= out to infer it from the example."
        )
    for name, kind in given.items():
        numeric = {"float64", "float32", "int64", "int32"}
        if kind != found[name] and not (kind in numeric and found[name] in numeric):
            raise InvalidParameter(
                f"Signature input {name!r} is {kind} but the example gives {found[name]}. "
                "Make them agree.",
                field=name,
            )
