"""Register, read, compare and delete dataset versions (the capability behind ``gyre data``)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gyre import actors
from gyre.data import file_sets, filesystems, profiles, tables
from gyre.data.datastores import check_location
from gyre.errors import Conflict, CorruptBlob, GyreError, InvalidParameter
from gyre.store import Store, audit, dataset_uses, names
from gyre.store import datasets as rows
from gyre.store import datastores as datastore_rows
from gyre.store import partitions as partition_rows
from gyre.store.blobs import LocalBlobStore
from gyre.store.datasets import DatasetRecord, VersionRecord
from gyre.store.datastores import DatastoreRecord
from gyre.store.partitions import PartitionRecord
from gyre.store.stat_cache import StatCache

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class AddResult:
    version: VersionRecord
    created: bool
    """False when the content was already registered (no new version, nothing copied)."""


@dataclass(frozen=True)
class _Source:
    url: str  # a local path or a URL
    options: dict[str, Any]
    datastore: DatastoreRecord | None
    by_reference: bool

    @property
    def local(self) -> bool:
        return "://" not in self.url or self.url.startswith("file://")


def _source(store: Store, source: str, datastore: str | None, by_reference: bool) -> _Source:
    if datastore:
        with store.read() as tx:
            record = datastore_rows.get_datastore(tx, datastore)
        url = record.url.rstrip("/") + "/" + source.lstrip("/") if source else record.url
        return _Source(
            url, filesystems.datastore_options(record), record, by_reference or record.by_reference
        )
    if not source.strip():
        raise InvalidParameter(
            "The source is empty (an empty path would register the current folder). Give the "
            "path of a folder or a table file, or a URL; write . for the current folder.",
            field="source",
        )
    if "://" in source and not source.startswith("file://"):
        check_location(source)
        return _Source(source, {}, None, by_reference)
    path = Path(source.removeprefix("file://")).expanduser()
    if not path.exists():
        raise InvalidParameter(
            f"{path} does not exist. Give the path of a folder or a table file "
            "(.csv, .parquet, .jsonl), or a URL."
        )
    return _Source(str(path.resolve()), {}, None, by_reference)


def add(
    store: Store,
    name: str,
    source: str,
    *,
    description: str | None = None,
    datastore: str | None = None,
    by_reference: bool = False,
    progress: Progress | None = None,
    run_id: str | None = None,
    link: bool = False,
    alias: str | None = None,
) -> AddResult:
    """Register ``source`` (a folder, a table file or a URL) as the next version of ``name``.

    ``by_reference``: record the files where they are instead of copying them.
    ``link``: hard-link local files into the blob store instead of copying them (the files
    become read-only; files on another file system are copied).
    ``alias``: also point ``NAME@ALIAS`` at the new (or unchanged) version.
    """
    names.check_name(name)
    if alias is not None:
        names.check_alias(alias)
    result = _add(store, name, source, description, datastore, by_reference, progress, run_id, link)
    if alias is not None:
        set_alias(store, name, result.version.version, alias)
        result = AddResult(get(store, name, result.version.version), result.created)
    return result


def _add(
    store: Store,
    name: str,
    source: str,
    description: str | None,
    datastore: str | None,
    by_reference: bool,
    progress: Progress | None,
    run_id: str | None,
    link: bool,
) -> AddResult:
    src = _source(store, source, datastore, by_reference)
    if link and not (src.local and isinstance(store.blobs, LocalBlobStore)):
        raise InvalidParameter(
            "--link works for local files and a local artifact store only (this one: "
            f"{store.blobs.url}, source {src.url}); leave --link out to copy.",
            field="link",
        )
    if src.by_reference:
        return _add_reference(store, name, src, description, run_id)
    if src.local:
        path = Path(src.url)
        fmt = tables.table_format(path.name) if path.is_file() else None
        if fmt:
            _check_readable(path)
            return _add_table(store, name, path.read_bytes(), fmt, src, description, run_id)
        return _add_local_files(store, name, path, src, description, progress, run_id, link)
    fs, remote = filesystems.open_fs(src.url, src.options)
    try:
        is_file = fs.isfile(remote)
    except Exception as exc:  # each fsspec backend raises its own errors
        raise filesystems.access_error(src.url, exc, datastore) from exc
    fmt = tables.table_format(remote) if is_file else None
    if fmt:
        with fs.open(remote, "rb") as handle:
            return _add_table(store, name, handle.read(), fmt, src, description, run_id)
    return _add_remote_files(store, name, fs, remote, src, description, progress, run_id)


def _check_readable(path: Path) -> None:
    if not os.access(path, os.R_OK):
        raise InvalidParameter(
            f"{path} cannot be read (permission denied). Give this user read access "
            f"(chmod u+r {path})."
        )


def _register(
    store: Store,
    name: str,
    kind: str,
    *,
    digest: str,
    layout: str,
    src: _Source,
    size: int,
    files: int,
    rows_count: int | None,
    schema: Any,
    profile: dict[str, Any] | None,
    description: str | None,
    run_id: str | None,
    source_digest: str | None = None,
) -> AddResult:
    profile_digest = (
        store.blobs.put_bytes(json.dumps(profile, sort_keys=True).encode()) if profile else None
    )
    with store.write() as tx:
        rows.ensure_dataset(tx, name, kind)
        existing = rows.find_by_digest(tx, name, digest)
        if existing is not None:
            if run_id:
                dataset_uses.record_use(tx, run_id, name, existing.version, "write")
            return AddResult(rows.get_version(tx, name, existing.version), False)
        version = rows.add_version(
            tx,
            dataset=name,
            digest=digest,
            layout=layout,
            source=src.url,
            source_digest=source_digest,
            datastore=src.datastore.name if src.datastore else None,
            by_reference=src.by_reference,
            size=size,
            files=files,
            rows=rows_count,
            schema=schema,
            profile_digest=profile_digest,
            description=description,
            created_by=actors.user_name(),
            run_id=run_id,
        )
        if run_id:
            dataset_uses.record_use(tx, run_id, name, version.version, "write")
    return AddResult(version, True)


def _add_table(
    store: Store,
    name: str,
    data: bytes,
    fmt: str,
    src: _Source,
    description: str | None,
    run_id: str | None,
) -> AddResult:
    table = tables.read_table(data, fmt, src.url)
    stored = tables.store_table(table, store.blobs)
    return _register(
        store,
        name,
        "table",
        digest=stored.digest,
        layout="table",
        src=src,
        size=stored.size,
        files=1,
        rows_count=stored.rows,
        schema=stored.schema,
        profile=profiles.table_profile(table),
        description=description,
        run_id=run_id,
        source_digest=hashlib.sha256(data).hexdigest(),
    )


def _add_local_files(
    store: Store,
    name: str,
    path: Path,
    src: _Source,
    description: str | None,
    progress: Progress | None,
    run_id: str | None,
    link: bool = False,
    alias: str | None = None,
) -> AddResult:
    cache = StatCache(store.local_path("cache") / "stat-cache.db")
    try:
        if path.is_file():
            _check_readable(path)
            files = [(path.name, path)]
            result = file_sets.add_tree(
                path.parent, store.blobs, cache, progress, files=files, link=link
            )
        else:
            result = file_sets.add_tree(path, store.blobs, cache, progress, link=link)
    finally:
        cache.close()
    profile = (
        profiles.image_folder_profile(path, result.files)
        if result.layout == "labeled-images"
        else profiles.files_profile(result.files)
    )
    return _register(
        store,
        name,
        "files",
        digest=result.manifest_digest,
        layout=result.layout,
        src=src,
        size=result.size,
        files=len(result.files),
        rows_count=None,
        schema=None,
        profile=profile,
        description=description,
        run_id=run_id,
    )


def _list_objects(fs: Any, root: str, url: str, datastore: str | None) -> dict[str, dict[str, Any]]:
    try:
        found = fs.find(root, detail=True)
    except Exception as exc:  # each fsspec backend raises its own errors
        raise filesystems.access_error(url, exc, datastore) from exc
    objects: dict[str, dict[str, Any]] = {}
    for key, info in found.items():
        if info.get("type") == "directory":
            continue
        rel = str(key)[len(root) :].lstrip("/")
        objects[rel] = {
            "size": int(info.get("size") or 0),
            "etag": str(info.get("ETag") or info.get("etag") or info.get("md5Hash") or "").strip(
                '"'
            )
            or None,
            "version_id": info.get("VersionId") or info.get("version_id"),
            "mtime": _mtime(info),
        }
    if not objects:
        try:  # a store that did not answer can look empty to find(): ask it once more
            fs.ls(root)
        except FileNotFoundError:
            pass
        except Exception as exc:
            raise filesystems.access_error(url, exc, datastore) from exc
        raise InvalidParameter(f"{url} holds no files: an empty dataset cannot be registered.")
    return dict(sorted(objects.items()))


def _mtime(info: dict[str, Any]) -> float | None:
    value = info.get("mtime") or info.get("LastModified") or info.get("last_modified")
    if value is None:
        return None
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)


def _add_remote_files(
    store: Store,
    name: str,
    fs: Any,
    root: str,
    src: _Source,
    description: str | None,
    progress: Progress | None,
    run_id: str | None,
) -> AddResult:
    objects = _list_objects(fs, root, src.url, src.datastore.name if src.datastore else None)
    listing = hashlib.sha256(json.dumps(objects, sort_keys=True).encode()).hexdigest()
    with store.read() as tx:
        try:
            latest = rows.get_version(tx, name)
        except GyreError:
            latest = None
    if latest is not None and latest.source_digest == listing and latest.source == src.url:
        return AddResult(latest, False)  # unchanged listing (ETags, sizes): nothing downloaded
    files: dict[str, list[Any]] = {}
    for rel in objects:
        with fs.open(f"{root}/{rel}", "rb") as handle:
            digest, size = store.blobs.put_stream(handle, sync=False)
        files[rel] = [digest, size]
        if progress:
            progress(size, 1)
    manifest = json.dumps({"files": files}, sort_keys=True, separators=(",", ":")).encode()
    digest = store.blobs.put_bytes(manifest, sync=False)
    store.blobs.sync()
    layout = file_sets.detect_layout(list(files))
    return _register(
        store,
        name,
        "files",
        digest=digest,
        layout=layout,
        src=src,
        size=sum(s for _, s in files.values()),
        files=len(files),
        rows_count=None,
        schema=None,
        profile=profiles.files_profile(files),
        description=description,
        run_id=run_id,
        source_digest=listing,
    )


def _add_reference(
    store: Store, name: str, src: _Source, description: str | None, run_id: str | None
) -> AddResult:
    fs, root = filesystems.open_fs(src.url, src.options)
    objects = _list_objects(fs, root, src.url, src.datastore.name if src.datastore else None)
    manifest = {"reference": src.url, "objects": objects}
    data = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    digest = store.blobs.put_bytes(data)
    return _register(
        store,
        name,
        "files",
        digest=digest,
        layout="reference",
        src=src,
        size=sum(o["size"] for o in objects.values()),
        files=len(objects),
        rows_count=None,
        schema=None,
        profile=None,
        description=description,
        run_id=run_id,
        source_digest=digest,
    )


# -- reading ------------------------------------------------------------------------------------


def get(store: Store, name: str, ref: int | str | None = None) -> VersionRecord:
    with store.read() as tx:
        return rows.get_version(tx, name, ref)


def set_alias(store: Store, name: str, ref: int | str | None, alias: str) -> VersionRecord:
    """Point ``NAME@ALIAS`` (e.g. ``products@baseline``) at a version; returns the version."""
    with store.write() as tx:
        version = rows.get_version(tx, name, ref)
        rows.set_alias(tx, name, alias, version.version)
        audit.append(
            tx, audit.default_actor(), "dataset.alias", f"dataset {version.ref}", {"alias": alias}
        )
    return version


def describe(store: Store, name: str, ref: int | str | None, text: str) -> VersionRecord:
    """Set the description of a version; returns the version."""
    with store.write() as tx:
        version = rows.get_version(tx, name, ref)
        rows.describe_version(tx, name, version.version, text)
    return version


def list_datasets(store: Store) -> list[dict[str, Any]]:
    """Every dataset with its kind, newest version and number of versions."""
    with store.read() as tx:
        return rows.list_datasets(tx)


@dataclass(frozen=True)
class Overview:
    dataset: DatasetRecord
    versions: list[VersionRecord]
    partitions: list[PartitionRecord]  # append-only datasets: the sealed partitions


def overview(store: Store, name: str) -> Overview:
    with store.read() as tx:
        dataset = rows.get_dataset(tx, name)
        found = rows.versions(tx, name)
        parts = partition_rows.partitions(tx, name) if dataset.kind == "append" else []
    return Overview(dataset, found, parts)


def manifest(store: Store, version: VersionRecord) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(store.blobs.read_bytes(version.digest))
    return data


def check_reference(store: Store, version: VersionRecord) -> list[str]:
    """How the source of a by-reference version changed since it was registered (empty: not)."""
    recorded = manifest(store, version)["objects"]
    src = _source_for(store, version)
    fs, root = filesystems.open_fs(src.url, src.options)
    try:
        current = _list_objects(fs, root, src.url, version.datastore)
    except InvalidParameter:
        current = {}
    changes = [f"removed: {rel}" for rel in sorted(set(recorded) - set(current))]
    changes += [f"added: {rel}" for rel in sorted(set(current) - set(recorded))]
    for rel in sorted(set(recorded) & set(current)):
        before, after = recorded[rel], current[rel]
        same = (before["etag"], before["version_id"], before["size"]) == (
            after["etag"],
            after["version_id"],
            after["size"],
        )
        if before["etag"] is None and before["version_id"] is None:
            same = same and before.get("mtime") == after.get("mtime")
        if not same:
            changes.append(f"changed: {rel}")
    return changes


def _source_for(store: Store, version: VersionRecord) -> _Source:
    if version.datastore:
        with store.read() as tx:
            record = datastore_rows.get_datastore(tx, version.datastore)
        return _Source(
            version.source or record.url, filesystems.datastore_options(record), record, True
        )
    return _Source(version.source or "", {}, None, True)


def local_path(store: Store, version: VersionRecord) -> Path:
    """A verified local copy of a file-set version (cached; shared by the steps that read it)."""
    from gyre.store import local_copies
    from gyre.store.folders import local_copy

    cache = store.local_path("cache")
    if version.layout == "table":
        name = f"{version.dataset}.parquet"
        folder = cache / "tables" / version.digest
        return local_copies.materialize(folder, {name: version.digest}, store.blobs) / name
    if version.layout == "reference":
        return _materialize_reference(store, version, cache)
    if version.layout == "partitions":
        raise InvalidParameter(
            f"{version.ref} is an append-only dataset: read it as a table (to_arrow) or a "
            "time window, not as a folder."
        )
    return local_copy(store.blobs, version.digest, cache)


def _materialize_reference(store: Store, version: VersionRecord, cache: Path) -> Path:
    target = cache / "dirs" / version.digest
    if target.exists():
        return target
    changes = check_reference(store, version)
    if changes:
        raise CorruptBlob(
            f"The source of {version.ref} ({version.source}) changed since it was registered: "
            f"{'; '.join(changes[:5])}. Register the new content as a new version: "
            f"gyre data add {version.dataset} ... --by-reference."
        )
    src = _source_for(store, version)
    fs, root = filesystems.open_fs(src.url, src.options)
    staging = target.with_name(f".{target.name}.{os.getpid()}")
    for rel in manifest(store, version)["objects"]:
        dest = staging / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(f"{root}/{rel}", str(dest))
    staging.mkdir(parents=True, exist_ok=True)
    os.replace(staging, target)
    return target


def to_arrow(store: Store, version: VersionRecord) -> Any:
    if version.layout == "table":
        return tables.load_table(store.blobs, version.digest)
    if version.layout == "partitions":
        parts = manifest(store, version)["partitions"]
        return tables.concat([tables.load_table(store.blobs, p["digest"]) for p in parts])
    raise InvalidParameter(
        f"{version.ref} is a file set ({version.files} files), not a table; use .path()."
    )


def profile(store: Store, version: VersionRecord) -> dict[str, Any]:
    if not version.profile_digest:
        return {"kind": version.layout, "note": "no profile (registered by reference)"}
    data: dict[str, Any] = json.loads(store.blobs.read_bytes(version.profile_digest))
    return data


def export(store: Store, version: VersionRecord, dest: Path, fmt: str | None = None) -> Path:
    """Copy a version's content to ``dest``: a table (or append-only dataset) as one CSV,
    Parquet or JSON lines file (format from ``fmt`` or the extension, see
    :func:`gyre.data.exports.target`), written whole or not at all; a file set as a folder."""
    from gyre.data import exports

    if version.layout in ("table", "partitions"):
        target, chosen = exports.target(dest, version.dataset, fmt)
        exports.write_table(to_arrow(store, version), target, chosen)
        return target
    if fmt is not None:
        raise InvalidParameter(
            f"{version.ref} is a file set ({version.files} files), not a table: it is copied "
            "as a folder; leave out --format."
        )
    source = local_path(store, version)
    shutil.copytree(source, dest, dirs_exist_ok=True)
    return dest


def diff(store: Store, old: VersionRecord, new: VersionRecord) -> dict[str, Any]:
    if old.layout in ("table", "partitions") or new.layout in ("table", "partitions"):
        return {
            "kind": "table",
            "rows": [old.rows, new.rows],
            "schema": tables.diff_schemas(old.schema or [], new.schema or []),
        }
    old_files = _files_of(store, old)
    new_files = _files_of(store, new)
    return {"kind": "files", **file_sets.diff_manifests(old_files, new_files)}


def _files_of(store: Store, version: VersionRecord) -> dict[str, list[Any]]:
    data = manifest(store, version)
    if "objects" in data:
        return {
            rel: [o["etag"] or o["version_id"] or o["size"], o["size"]]
            for rel, o in data["objects"].items()
        }
    files: dict[str, list[Any]] = data["files"]
    return files


def delete(store: Store, name: str, ref: int | str, *, force: bool = False) -> VersionRecord:
    with store.write() as tx:
        version = rows.get_version(tx, name, ref)
        if version.aliases and not force:
            raise Conflict(
                f"{version.ref} has the alias(es) {', '.join(version.aliases)}; move them first "
                "or pass --force."
            )
        rows.delete_version(tx, name, version.version, force=force)
        audit.append(
            tx, audit.default_actor(), "dataset.delete", f"dataset {version.ref}", {"force": force}
        )
    return version
