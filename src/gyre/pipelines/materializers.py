"""Store step outputs as blobs and load them back, chosen by annotation and value type.

| materializer | for                               | blob                               |
|--------------|-----------------------------------|------------------------------------|
| dir          | ``-> Dir`` (a directory path)      | JSON manifest {path: [digest, size]}|
| file         | ``-> File`` (a file path)          | the file's bytes                   |
| json         | int, float, str, bool, None, lists and dicts of them | canonical JSON   |
| numpy        | numpy.ndarray                      | ``.npy`` bytes                     |
| pandas       | pandas.DataFrame                   | Parquet                            |
| arrow        | pyarrow.Table                      | Parquet                            |
| pickle       | anything else picklable            | pickle (only within one workspace) |
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gyre.errors import InvalidParameter, StepFailed, WorkspaceError
from gyre.pipelines.dsl import Dir, File
from gyre.store import folders, local_copies
from gyre.store.blobs import BlobStore


@dataclass(frozen=True)
class SavedOutput:
    materializer: str
    digest: str
    size: int
    meta: dict[str, Any]


def _type_of(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


def save(value: Any, annotation: Any, blobs: BlobStore, *, where: str) -> SavedOutput:
    """Store ``value`` (returned by a step) and return what identifies it."""
    wants_dir = annotation is Dir or annotation == "Dir" or isinstance(value, Dir)
    wants_file = annotation is File or annotation == "File" or isinstance(value, File)
    if wants_dir:
        return save_dir(_as_path(value, where, "a directory"), blobs, where=where)
    if wants_file:
        path = _as_path(value, where, "a file")
        if not path.is_file():
            raise StepFailed(f"{where} returned {path}, which is not a file (annotated File).")
        digest, size = blobs.put_file(path)
        return SavedOutput("file", digest, size, {"name": path.name})
    kind = _type_of(value)
    if kind == "numpy.ndarray":
        import numpy as np

        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        return _bytes("numpy", buffer.getvalue(), blobs, {"shape": list(value.shape)})
    if kind == "pandas.core.frame.DataFrame":
        buffer = io.BytesIO()
        value.to_parquet(buffer)
        return _bytes("pandas", buffer.getvalue(), blobs, {"rows": len(value)})
    if kind == "pyarrow.lib.Table":
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(value, buffer)
        return _bytes("arrow", buffer.getvalue(), blobs, {"rows": value.num_rows})
    if _is_json(value):
        data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
        return _bytes("json", data, blobs, {"type": type(value).__name__})
    try:
        data = pickle.dumps(value, protocol=5)
    except Exception as exc:
        raise StepFailed(
            f"{where} returned a {kind}, which gyre cannot store: it is not JSON-able and "
            f"pickling failed ({exc}). Return a Dir, File, array, table or JSON-able value."
        ) from exc
    return _bytes("pickle", data, blobs, {"type": kind})


def _bytes(materializer: str, data: bytes, blobs: BlobStore, meta: dict[str, Any]) -> SavedOutput:
    return SavedOutput(materializer, blobs.put_bytes(data), len(data), meta)


def _as_path(value: Any, where: str, what: str) -> Path:
    if isinstance(value, str | os.PathLike):
        return Path(value)
    raise StepFailed(
        f"{where} is annotated to return {what} but returned a {type(value).__name__}. "
        "Return the path (gyre.output_dir() gives a fresh folder to write into)."
    )


def save_dir(root: Path, blobs: BlobStore, *, where: str) -> SavedOutput:
    if not root.is_dir():
        raise StepFailed(f"{where} returned {root}, which is not a directory (annotated Dir).")
    try:
        stored = folders.store_folder(root, blobs, where=where)
    except InvalidParameter as exc:
        raise StepFailed(str(exc)) from None
    return SavedOutput("dir", stored.digest, stored.size, {"files": stored.files})


def load(
    materializer: str, digest: str, meta: dict[str, Any], blobs: BlobStore, cache: Path
) -> Any:
    """Give a step its input as a local path or an in-memory object, verified."""
    if materializer == "dir":
        return Dir(folders.local_copy(blobs, digest, cache))
    if materializer == "file":
        name = meta.get("name", "file")
        return File(
            local_copies.materialize(cache / "files" / digest, {name: digest}, blobs) / name
        )
    data = blobs.read_bytes(digest)
    if materializer == "json":
        return json.loads(data)
    if materializer == "numpy":
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    if materializer == "pandas":
        import pandas as pd

        return pd.read_parquet(io.BytesIO(data))
    if materializer == "arrow":
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(data))
    if materializer == "pickle":
        return pickle.loads(data)  # blobs of this workspace only; written by its own steps
    raise WorkspaceError(
        f"Blob {digest[:12]} was stored with the materializer {materializer!r}, which this "
        "gyre does not know: the workspace was written by a newer gyre. Upgrade gyre "
        "(pip install -U gyre) to read it."
    )


def blobs_of(materializer: str, digest: str, blobs: BlobStore) -> list[str]:
    """Every blob an output needs (a directory needs its manifest and each file)."""
    return folders.blobs_of(blobs, digest) if materializer == "dir" else [digest]
