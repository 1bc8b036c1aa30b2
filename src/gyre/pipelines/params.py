"""Pipeline parameters: typed, defaulted, overridable from Python or ``--param k=v``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from gyre.errors import InvalidParameter, did_you_mean
from gyre.pipelines.dsl import Pipeline


def resolve_params(pipeline: Pipeline, overrides: dict[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with ``overrides``, each coerced to the parameter's type.

    Strings (as typed on a command line) are parsed; other values must already fit.
    """
    values = {name: p.default for name, p in pipeline.params.items()}
    for key, raw in overrides.items():
        if key not in pipeline.params:
            known = ", ".join(pipeline.params) or "none"
            raise InvalidParameter(
                f"Pipeline {pipeline.name!r} has no parameter {key!r}."
                f"{did_you_mean(key, pipeline.params)} Its parameters are: {known}."
            )
        values[key] = coerce(pipeline.name, key, pipeline.params[key].annotation, raw)
    return values


def coerce(pipeline: str, key: str, annotation: Any, raw: Any) -> Any:
    expected = annotation if isinstance(annotation, type) else None

    def bad() -> InvalidParameter:
        name = getattr(annotation, "__name__", str(annotation))
        example = {"int": "20", "float": "0.001", "bool": "true"}.get(name, "...")
        return InvalidParameter(
            f"Parameter {key!r} of pipeline {pipeline!r} expects {name}, got {raw!r}. "
            f"Pass e.g. --param {key}={example}."
        )

    if getattr(expected, "_gyre_dataset", False):
        if isinstance(raw, str):
            return expected.parse(raw)  # type: ignore[union-attr]
        if getattr(raw, "_gyre_dataset", False):
            return raw
        raise bad()
    if expected is None or expected is type(None):
        return json.loads(raw) if isinstance(raw, str) and _is_json(raw) else raw
    if isinstance(raw, str) and expected is not str:
        if expected is bool:
            lowered = raw.strip().lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise bad()
        if expected is Path:
            return Path(raw)
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise bad() from None
    if expected is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if expected is bool and not isinstance(raw, bool):
        raise bad()
    if expected in (int, float) and isinstance(raw, bool):
        raise bad()
    if not isinstance(raw, expected):
        raise bad()
    if isinstance(raw, float) and not math.isfinite(raw):
        raise bad()
    return raw


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True
