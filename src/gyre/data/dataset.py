"""``gyre.Dataset``: datasets from Python, and as pipeline inputs.

    products = gyre.Dataset("products")
    v = products.latest()            # or products.get(3), products.get("balanced")
    v.path(); v.to_arrow(); v.to_pandas(); v.profile()

As a pipeline parameter or step argument, ``Dataset("products")`` is pinned to its latest
version when the run starts (``Dataset("products", version=3)`` or ``"products@3"`` pin
explicitly); the step receives a local folder (file sets) or a pyarrow Table (tables), and the
version's digest is part of the step's cache key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gyre.errors import InvalidParameter
from gyre.store import Store
from gyre.store.datasets import VersionRecord
from gyre.store.names import check_name
from gyre.tracking.current_store import current_store


def _record_use(store: Store, version: VersionRecord, direction: str) -> None:
    from gyre.store import dataset_uses
    from gyre.tracking.active_run import active_run_id

    run_id = active_run_id()
    if run_id:
        with store.write() as tx:
            dataset_uses.record_use(tx, run_id, version.dataset, version.version, direction)


class Dataset:
    """A named dataset; ``version`` pins one (a number, an alias, or ``latest``)."""

    _gyre_dataset = True

    def __init__(
        self, name: str, version: int | str | None = None, *, store: Store | None = None
    ) -> None:
        if "@" in name:
            if version is not None:
                raise InvalidParameter(f"Give the version once: {name!r} already names one.")
            name, version = name.split("@", 1)
        self.name = check_name(name)
        if isinstance(version, str) and version.isascii() and version.isdigit():
            version = int(version)
        self.version = version
        self._store = store

    @classmethod
    def parse(cls, text: str) -> Dataset:
        return cls(text)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}" if self.version is not None else self.name

    def __repr__(self) -> str:
        return f"Dataset({self.ref!r})"

    def __str__(self) -> str:
        return self.ref

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dataset) and (self.name, self.version) == (
            other.name,
            other.version,
        )

    def __hash__(self) -> int:
        return hash((self.name, self.version))

    def get(self, version: int | str | None = None) -> DatasetVersion:
        from gyre.data import versions

        store = current_store(self._store)
        chosen = version if version is not None else self.version
        return DatasetVersion(versions.get(store, self.name, chosen), store)

    def latest(self) -> DatasetVersion:
        return self.get("latest")

    def versions(self) -> list[DatasetVersion]:
        from gyre.store import datasets as rows

        store = current_store(self._store)
        with store.read() as tx:
            return [DatasetVersion(v, store) for v in rows.versions(tx, self.name)]

    def add(self, source: str | Path, *, description: str | None = None) -> DatasetVersion:
        """Register a folder or table file as the next version (from a step: lineage 'write')."""
        from gyre.data import versions
        from gyre.tracking.active_run import active_run_id

        store = current_store(self._store)
        result = versions.add(
            store, self.name, str(source), description=description, run_id=active_run_id()
        )
        return DatasetVersion(result.version, store)

    def append(self, table: Any, *, starts_at: float, ends_at: float) -> None:
        """Seal rows as a partition of an append-only dataset."""
        from gyre.data import append_only

        append_only.append(
            current_store(self._store), self.name, table, starts_at=starts_at, ends_at=ends_at
        )

    def window(self, start: float | None = None, end: float | None = None) -> Any:
        """Rows of an append-only dataset's partitions overlapping [start, end)."""
        from gyre.data import append_only

        return append_only.window(current_store(self._store), self.name, start, end)


@dataclass
class DatasetVersion:
    """One immutable version: its metadata, and its content as a folder or a table."""

    record: VersionRecord
    store: Store

    @property
    def name(self) -> str:
        return self.record.dataset

    @property
    def version(self) -> int:
        return self.record.version

    @property
    def ref(self) -> str:
        return self.record.ref

    def path(self) -> Path:
        from gyre.data import versions

        _record_use(self.store, self.record, "read")
        return versions.local_path(self.store, self.record)

    def to_arrow(self) -> Any:
        from gyre.data import versions

        _record_use(self.store, self.record, "read")
        return versions.to_arrow(self.store, self.record)

    def to_pandas(self) -> Any:
        return self.to_arrow().to_pandas()

    def profile(self) -> dict[str, Any]:
        from gyre.data import versions

        return versions.profile(self.store, self.record)
