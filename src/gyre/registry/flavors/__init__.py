"""Model flavors, registered by name and imported on first use (as a plugin would be).

Each flavor module has ``detect(obj) -> bool`` (for in-memory objects), ``save(obj, dest) ->
dict`` (writes files into ``dest``, returns metadata for gyre-model.json) and
``load(path, meta) -> Predictor``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Protocol

from gyre.errors import InvalidParameter, MissingExtra

FLAVORS: dict[str, tuple[str, str, str]] = {
    # name: (module, package it needs, extra)
    "python": ("gyre.registry.flavors.python_flavor", "", ""),
    "sklearn": ("gyre.registry.flavors.sklearn_flavor", "skops", "sklearn"),
    "torch": ("gyre.registry.flavors.torch_flavor", "torch", "torch"),
    "onnx": ("gyre.registry.flavors.onnx_flavor", "onnxruntime", "onnx"),
}


class Predictor(Protocol):
    def predict(self, batch: Any) -> Any: ...


def flavor_module(name: str) -> ModuleType:
    entry = FLAVORS.get(name)
    if entry is None:
        raise InvalidParameter(
            f"Unknown model flavor {name!r}; gyre knows {', '.join(sorted(FLAVORS))}."
        )
    module, package, extra = entry
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(package, extra, f"The {name} flavor") from exc


def detect(obj: Any) -> str:
    """The flavor of an in-memory model object."""
    kind = type(obj).__module__
    if kind.startswith("sklearn") or hasattr(obj, "_sklearn_is_fitted"):
        return "sklearn"
    if kind.startswith("torch") or any(c.__module__.startswith("torch") for c in type(obj).__mro__):
        return "torch"
    if kind.startswith("onnx"):
        return "onnx"
    raise InvalidParameter(
        f"gyre cannot tell the flavor of a {type(obj).__name__}; pass flavor= (python, sklearn, "
        "torch, onnx) or register a folder with a score.py (init()/run(data))."
    )
