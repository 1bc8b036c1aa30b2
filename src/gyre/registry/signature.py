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
    """The signature of an example: a DataFrame, a numpy array, a dict of columns (lists of
    one length), a record (a dict) or a list of records."""
    if _is_instance_of(example, "numpy", "ndarray"):
        shape = [-1, *example.shape[1:]]
        return {"inputs": [{"name": "input", "type": _kind_name(example.dtype), "shape": shape}]}
    if _is_instance_of(example, "pandas", "DataFrame"):
        return {"inputs": [_column(str(c), example[c]) for c in example.columns]}
    if isinstance(example, dict) and "image" in example and len(example) == 1:
        return {"inputs": [{"name": "image", "type": "image"}]}
    if _columns_of(example):
        return {
            "inputs": [
                _spec(
                    str(name),
                    _python_type(next((v for v in values if v is not None), None)),
                    any(v is None for v in values),
                )
                for name, values in example.items()
            ]
        }
    if isinstance(example, dict):
        example = [example]
    if isinstance(example, list) and example and all(isinstance(r, dict) for r in example):
        names = list(example[0])
        return {"inputs": [{"name": str(n), "type": _python_type(example[0][n])} for n in names]}
    kind = f"{type(example).__module__}.{type(example).__qualname__}"
    raise InvalidParameter(
        f"Cannot infer a signature from a {kind} example. Pass a DataFrame, a numpy array, a "
        "dict of columns, a record or a list of records, or give signature= explicitly."
    )


def _is_instance_of(value: Any, package: str, name: str) -> bool:
    """isinstance without importing ``package`` (pandas moves its classes between modules)."""
    return any(
        cls.__name__ == name and cls.__module__.split(".")[0] == package
        for cls in type(value).__mro__
    )


def _columns_of(example: Any) -> bool:
    """Whether a dict is a dict of columns: every value a flat list, all of one length."""
    if not isinstance(example, dict) or not example:
        return False
    values = list(example.values())
    flat = all(isinstance(v, list) and v and not isinstance(v[0], list | dict) for v in values)
    return flat and len({len(v) for v in values}) == 1


def _column(name: str, series: Any) -> dict[str, Any]:
    kind = _kind_name(series.dtype)
    return _spec(name, kind, kind.startswith("float") and bool(series.isna().any()))


def _spec(name: str, kind: str, nullable: bool) -> dict[str, Any]:
    return {"name": name, "type": kind, **({"nullable": True} if nullable else {})}


def _kind_name(dtype: Any) -> str:
    kind = getattr(dtype, "kind", "O")
    if kind in "iu":
        return "int64"
    if kind == "f":
        return "float32" if getattr(dtype, "itemsize", 8) == 4 else "float64"
    if kind == "b":
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
    if value is None and spec.get("nullable", False):
        return
    if kind in ("float64", "float32"):
        if isinstance(value, list):
            for item in flatten(value):
                _check_value(where, name, item, spec)
            return
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidParameter(f"{where} must be a number, got {_short(value)}", field=name)
        if isinstance(value, float) and math.isnan(value) and not spec.get("nullable", False):
            raise InvalidParameter(f"{where} is NaN, which this model does not accept", field=name)
        _check_finite(where, name, value)
    elif kind in ("int64", "int32"):
        whole = isinstance(value, float) and value.is_integer()
        if isinstance(value, bool) or not (isinstance(value, int) or whole):
            raise InvalidParameter(f"{where} must be an integer, got {_short(value)}", field=name)
        _check_finite(where, name, value)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise InvalidParameter(f"{where} must be true or false, got {value!r}", field=name)
    elif kind in ("string", "image", "bytes") and not isinstance(value, str):
        raise InvalidParameter(f"{where} must be a string, got {type(value).__name__}", field=name)


def _check_finite(where: str, name: str, value: float) -> None:
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer too large for any float
        finite = False
    if not finite:
        raise InvalidParameter(
            f"{where} is {_short(value)}, outside the numbers a model can take", field=name
        )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def flatten(value: list[Any]) -> list[Any]:
    """The leaves of nested lists, in order (iterative: any depth)."""
    out: list[Any] = []
    stack = [iter(value)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
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


def example_rows(example: Any) -> Any:
    """An example as a flavor's ``predict`` takes it: an array stays an array; a DataFrame, a
    dict of columns or a record becomes a list of records."""
    if _is_instance_of(example, "numpy", "ndarray"):
        return example
    if _is_instance_of(example, "pandas", "DataFrame"):
        return [
            {str(k): v for k, v in zip(example.columns, row, strict=True)}
            for row in example.itertuples(index=False, name=None)
        ]
    if _columns_of(example):
        names = [str(n) for n in example]
        return [dict(zip(names, row, strict=True)) for row in zip(*example.values(), strict=True)]
    return [example] if isinstance(example, dict) else example


def outputs_of(predictions: Any) -> list[dict[str, Any]]:
    """The ``outputs`` of a signature, from what the model predicted for its example."""
    import numpy as np

    array = np.asarray(predictions)
    spec: dict[str, Any] = {"name": "output", "type": _kind_name(array.dtype)}
    spec["shape"] = [-1, *array.shape[1:]] if array.ndim else [-1]
    return [spec]
