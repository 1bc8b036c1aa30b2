"""Datasets as step inputs: pinned to a version when the run starts, keyed by digest."""

from __future__ import annotations

from typing import Any

from gyre.pipelines.dsl import Node
from gyre.store import Store
from gyre.store.datasets import VersionRecord


def is_dataset(value: Any) -> bool:
    return bool(getattr(value, "_gyre_dataset", False))


class DatasetPins:
    """Resolves ``Dataset`` references once per run, so every step sees the same version."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pins: dict[tuple[str, Any], VersionRecord] = {}

    def resolve(self, value: Any) -> VersionRecord:
        key = (value.name, value.version)
        if key not in self._pins:
            from gyre.data import versions

            self._pins[key] = versions.get(self.store, value.name, value.version)
        return self._pins[key]

    def pin_values(self, values: dict[str, Any]) -> dict[str, Any]:
        """Pipeline parameters with every Dataset replaced by one pinned to its version."""
        from gyre.data.dataset import Dataset

        pinned = dict(values)
        for name, value in values.items():
            if is_dataset(value):
                record = self.resolve(value)
                pinned[name] = Dataset(record.dataset, record.version)
        return pinned


def dataset_args(
    node: Node, values: dict[str, Any], pins: DatasetPins | None
) -> dict[str, VersionRecord]:
    """The node's arguments bound to datasets, resolved to versions."""
    found: dict[str, VersionRecord] = {}
    if pins is None:
        return found
    for arg, binding in node.bindings.items():
        value = values.get(binding.param or "") if binding.kind == "param" else binding.value
        if binding.kind != "input" and is_dataset(value):
            found[arg] = pins.resolve(value)
    return found
