"""Where compared data comes from: in-memory tables, dataset versions of a workspace (tables,
append-only datasets, labeled image folders) and time windows of an inference dataset."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gyre.errors import InvalidParameter
from gyre.monitoring import features

if TYPE_CHECKING:
    from gyre.store import Store
    from gyre.store.datasets import VersionRecord


def feature_set(data: Any, *, target: str | None = None) -> features.FeatureSet:
    """The features of a FeatureSet, a pyarrow Table, a pandas DataFrame, a dict of columns,
    a labeled image folder (a path) or a dataset version (``gyre.Dataset('x@2').get()``)."""
    if isinstance(data, features.FeatureSet):
        return data
    table = as_table(data)
    if table is not None:
        return features.from_table(table, target=target)
    if isinstance(data, Path):
        return image_folder(data)
    record = getattr(data, "record", None)
    store = getattr(data, "store", None)
    if record is not None and store is not None:
        return of_version(store, record, target=target)
    raise InvalidParameter(
        f"Cannot compare a {type(data).__name__}: give a pyarrow Table, a pandas DataFrame, a "
        "dict of columns, a labeled image folder (a Path), a dataset version "
        "(gyre.Dataset('name@2').get()) or a dataset reference string such as 'products@2'."
    )


def as_table(data: Any) -> Any:
    """``data`` as a pyarrow Table, or None when it is not tabular."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, dict):
        return pa.table(data)
    if type(data).__module__.split(".")[0] == "pandas" and hasattr(data, "columns"):
        return pa.Table.from_pandas(data, preserve_index=False)
    return None


def image_folder(root: Path) -> features.FeatureSet:
    if not root.is_dir():
        raise InvalidParameter(
            f"{root} is not a folder: a labeled image folder holds <label>/<image> files."
        )
    relative = [str(p.relative_to(root).as_posix()) for p in root.rglob("*") if p.is_file()]
    return features.from_image_folder(root, relative)


def of_reference(store: Store, reference: str, *, target: str | None = None) -> features.FeatureSet:
    """The features of a dataset version named like ``products@2`` (``products``: latest)."""
    from gyre.data import versions
    from gyre.refs import parse_ref

    name, ref = parse_ref(reference)
    return of_version(store, versions.get(store, name, ref), target=target)


def of_version(
    store: Store, record: VersionRecord, *, target: str | None = None
) -> features.FeatureSet:
    from gyre.data import versions

    if record.layout in ("table", "partitions"):
        return features.from_table(versions.to_arrow(store, record), target=target)
    root = versions.local_path(store, record)
    listed = versions.manifest(store, record)
    listing = sorted(listed.get("files") or listed.get("objects") or {})
    return features.from_image_folder(root, listing)


def window(store: Store, dataset: str, start: float, end: float) -> Any:
    """The rows of an append-only dataset whose timestamps fall in [start, end)."""
    import pyarrow.compute as pc

    from gyre.data import append_only

    table = append_only.window(store, dataset, start, end)
    if table.num_rows == 0 or "timestamp" not in table.column_names:
        return table
    stamps = table.column("timestamp")
    inside = pc.and_(pc.greater_equal(stamps, start), pc.less(stamps, end))
    return table.filter(inside)
