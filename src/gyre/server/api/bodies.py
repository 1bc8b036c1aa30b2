"""What every request body has in common: unknown fields refused, and numbers, booleans and
strings taken only as the JSON types the OpenAPI document names (``"1"`` is not a number,
``0`` is not ``false``; ``1.0`` is the integer 1, as JSON Schema says)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

NON_FINITE = ("NaN", "Infinity", "-Infinity")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("json_type", "must be a JSON number")
    return value


def _number_or_non_finite(value: Any) -> Any:
    if isinstance(value, str) and value in NON_FINITE:
        return float(value.replace("Infinity", "inf"))
    return _number(value)


def _boolean(value: Any) -> Any:
    if not isinstance(value, bool):
        raise PydanticCustomError("json_type", "must be true or false")
    return value


Version = Annotated[int, Field(ge=1, le=2**31 - 1), BeforeValidator(_number)]
Step = Annotated[int, Field(ge=0, le=2**31 - 1), BeforeValidator(_number)]
Size = Annotated[int, Field(ge=0, le=2**53), BeforeValidator(_number)]
"""A size in bytes."""
Percent = Annotated[int, Field(ge=0, le=100), BeforeValidator(_number)]
Time = Annotated[float, Field(ge=0, le=1e11), BeforeValidator(_number)]
"""A Unix time in seconds."""
Duration = Annotated[float, Field(gt=0, le=10 * 365 * 86400), BeforeValidator(_number)]
Wait = Annotated[float, Field(gt=0, le=300), BeforeValidator(_number)]
"""Seconds to wait for something to happen before answering."""
Metric = Annotated[
    float | Literal["NaN", "Infinity", "-Infinity"], BeforeValidator(_number_or_non_finite)
]
Bool = Annotated[bool, BeforeValidator(_boolean)]

NO_NUL = r"^[^\x00]*$"
Key = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
"""A param, tag or metric name, an experiment or run name."""
Text = Annotated[str, Field(max_length=5000, pattern=NO_NUL)]
"""A tag's value, a comment, a description."""

_KEY_SCHEMA = {"minLength": 1, "maxLength": 200, "pattern": NO_NUL}
# pydantic puts a key's pattern under patternProperties, which does not forbid other keys;
# these say what is checked: every key (propertyNames) and every value.
Labels = Annotated[
    dict[Key, Text],
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": _KEY_SCHEMA,
            "additionalProperties": {"type": "string", "maxLength": 5000, "pattern": NO_NUL},
        }
    ),
]
"""Tags: names to text."""
Values = Annotated[dict[Key, Any], WithJsonSchema({"type": "object", "propertyNames": _KEY_SCHEMA})]
"""Params: names to any JSON value."""
