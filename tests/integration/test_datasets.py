"""Datasets: versions, dedup, tables, image folders, profiles, aliases, diff, export, delete."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gyre import Dataset
from gyre.data import append_only, versions
from gyre.errors import Conflict, InvalidParameter, NotFound
from gyre.store import Store, dataset_uses
from gyre.store import datasets as rows
from gyre.store import datastores as datastore_rows
from support.data_files import make_images, write


class CountingBlobs:
    """Wraps a blob store to count the bytes it is asked to store (a test-only probe)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.files_put = 0

    def put_file(self, path: Path, *, sync: bool = True) -> tuple[str, int]:
        self.files_put += 1
        return self.inner.put_file(path, sync=sync)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_folder_becomes_a_numbered_version_and_unchanged_content_adds_nothing(
    workspace: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    for i in range(5):
        write(folder / f"sub/{i}.txt", f"file {i}")
    first = versions.add(workspace, "docs", str(folder))
    assert first.created and first.version.version == 1 and first.version.files == 5
    counting = CountingBlobs(workspace.blobs)
    workspace.blobs = counting  # type: ignore[assignment]
    again = versions.add(workspace, "docs", str(folder))
    assert not again.created and again.version.version == 1
    assert counting.files_put == 0, "an unchanged re-add read and copied files"
    write(folder / "sub/new.txt", "new")
    third = versions.add(workspace, "docs", str(folder))
    assert third.created and third.version.version == 2
    assert counting.files_put == 1, "only the new file is read"


def test_an_interrupted_add_leaves_no_version_and_the_rerun_skips_stored_files(
    workspace: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gyre.store import stat_cache

    monkeypatch.setattr(stat_cache, "FLUSH_EVERY", 10)
    folder = tmp_path / "many"
    for i in range(60):
        write(folder / f"{i:03}.txt", f"content {i}")
    seen = {"files": 0}

    def interrupt(_bytes: int, files: int) -> None:
        seen["files"] += files
        if seen["files"] == 40:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        versions.add(workspace, "many", str(folder), progress=interrupt)
    with workspace.read() as tx, pytest.raises(NotFound):
        rows.get_dataset(tx, "many")
    counting = CountingBlobs(workspace.blobs)
    workspace.blobs = counting  # type: ignore[assignment]
    result = versions.add(workspace, "many", str(folder))
    assert result.created and result.version.files == 60
    assert counting.files_put <= 30, f"re-read {counting.files_put} of 60 files"


def test_labeled_image_folders_show_classes_and_image_statistics(
    workspace: Store, tmp_path: Path
) -> None:
    images = make_images(tmp_path / "products", {"dress": 12, "shoe": 2})
    version = versions.add(workspace, "products", str(images)).version
    assert version.layout == "labeled-images"
    profile = versions.profile(workspace, version)
    assert profile["classes"] == {"dress": 12, "shoe": 2}
    stats = profile["image_stats"]
    assert stats["sizes"] == {"6x4": 14}
    assert 0 <= stats["brightness_mean"] <= 1 and len(stats["channel_means"]) == 3


def test_a_csv_is_stored_as_parquet_with_schema_and_profile(
    workspace: Store, tmp_path: Path
) -> None:
    csv = write(tmp_path / "sales.csv", "price,region\n1.5,north\n2.5,south\n,north\n10,north\n")
    version = versions.add(workspace, "sales", str(csv)).version
    assert (version.layout, version.rows) == ("table", 4)
    assert version.schema == [
        {"name": "price", "type": "double"},
        {"name": "region", "type": "string"},
    ]
    profile = versions.profile(workspace, version)
    price = profile["columns"]["price"]
    assert (price["count"], price["nulls"], price["min"], price["max"]) == (3, 1, 1.5, 10.0)
    assert price["mean"] == pytest.approx(14 / 3)
    assert sum(price["histogram"]["counts"]) == 3 and "0.5" in price["quantiles"]
    region = profile["columns"]["region"]
    assert region["top"][0] == {"value": "north", "count": 3, "frequency": 0.75}
    table = Dataset("sales", store=workspace).latest().to_pandas()
    assert list(table["region"]) == ["north", "south", "north", "north"]


def test_json_lines_and_parquet_tables_are_accepted(workspace: Store, tmp_path: Path) -> None:
    jsonl = write(tmp_path / "events.jsonl", '{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n')
    assert versions.add(workspace, "events", str(jsonl)).version.rows == 2
    out = tmp_path / "export"
    versions.export(workspace, versions.get(workspace, "events"), out)
    parquet = out / "events.parquet"
    assert versions.add(workspace, "copy", str(parquet)).version.rows == 2


def test_table_diff_reports_schema_changes_and_row_counts(workspace: Store, tmp_path: Path) -> None:
    csv = write(tmp_path / "t.csv", "a,b\n1,x\n2,y\n")
    versions.add(workspace, "t", str(csv))
    write(csv, "a,c\n1,1.5\n2,2.5\n3,3.5\n")
    versions.add(workspace, "t", str(csv))
    result = versions.diff(
        workspace, versions.get(workspace, "t", 1), versions.get(workspace, "t", 2)
    )
    assert result["rows"] == [2, 3]
    assert result["schema"] == {
        "columns_added": ["c"],
        "columns_removed": ["b"],
        "types_changed": {},
    }


def test_file_diff_lists_added_removed_and_changed(workspace: Store, tmp_path: Path) -> None:
    folder = tmp_path / "f"
    write(folder / "keep.txt", "same")
    write(folder / "edit.txt", "before")
    write(folder / "gone.txt", "bye")
    versions.add(workspace, "f", str(folder))
    write(folder / "edit.txt", "after")
    (folder / "gone.txt").unlink()
    write(folder / "new.txt", "hi")
    versions.add(workspace, "f", str(folder))
    result = versions.diff(
        workspace, versions.get(workspace, "f", 1), versions.get(workspace, "f", 2)
    )
    assert (result["added"], result["removed"], result["changed"]) == (
        ["new.txt"],
        ["gone.txt"],
        ["edit.txt"],
    )


def test_aliases_resolve_like_numbers_and_latest(workspace: Store, tmp_path: Path) -> None:
    folder = tmp_path / "a"
    write(folder / "x.txt", "1")
    versions.add(workspace, "a", str(folder))
    write(folder / "x.txt", "2")
    versions.add(workspace, "a", str(folder))
    with workspace.write() as tx:
        rows.set_alias(tx, "a", "baseline", 1)
        with pytest.raises(InvalidParameter, match="other than 'latest'"):
            rows.set_alias(tx, "a", "latest", 1)
    assert Dataset("a@baseline", store=workspace).get().version == 1
    assert Dataset("a", store=workspace).latest().version == 2
    assert [v.version for v in Dataset("a", store=workspace).versions()] == [1, 2]
    assert (Dataset("a", version=1, store=workspace).get().path() / "x.txt").read_text() == "1"


def test_unknown_versions_and_datasets_list_what_exists(workspace: Store, tmp_path: Path) -> None:
    write(tmp_path / "p" / "x.txt", "1")
    versions.add(workspace, "products", str(tmp_path / "p"))
    with pytest.raises(NotFound, match="has no version 9; it has 1"):
        versions.get(workspace, "products", 9)
    with pytest.raises(NotFound, match="Did you mean 'products'.*Datasets: products"):
        versions.get(workspace, "prodcts")
    with pytest.raises(NotFound, match="no version or alias 'blanced'"):
        versions.get(workspace, "products", "blanced")


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "does not exist"),
        ("empty_dir", "holds no files: an empty dataset"),
        ("empty_csv", "is empty: an empty dataset"),
        ("header_only_csv", "has no rows"),
        ("bad_csv", "line 3, column 3: expected 2 fields like the header, found 3"),
        ("symlink_out", "outside the folder being added"),
        ("bad_name", "is not allowed"),
        ("bad_scheme", "unknown scheme 'nosuch'"),
    ],
)
def test_bad_input_is_refused_with_a_message_that_names_it(
    workspace: Store, tmp_path: Path, setup: str, message: str
) -> None:
    name = "d"
    source = str(tmp_path / "src")
    if setup == "empty_dir":
        (tmp_path / "src").mkdir()
    elif setup == "empty_csv":
        source = str(write(tmp_path / "e.csv", ""))
    elif setup == "header_only_csv":
        source = str(write(tmp_path / "h.csv", "a,b\n"))
    elif setup == "bad_csv":
        source = str(write(tmp_path / "b.csv", "a,b\n1,2\n3,4,5\n"))
    elif setup == "symlink_out":
        write(tmp_path / "src" / "ok.txt", "x")
        secret = write(tmp_path / "elsewhere" / "passwd", "secret")
        os.symlink(secret, tmp_path / "src" / "link")
    elif setup == "bad_name":
        write(tmp_path / "src" / "ok.txt", "x")
        name = "no spaces please"
    elif setup == "bad_scheme":
        source = "nosuch://bucket/path"
    with pytest.raises(InvalidParameter, match=message):
        versions.add(workspace, name, source)
    with workspace.read() as tx:
        assert rows.list_datasets(tx) == [], "a refused add leaves nothing behind"


def _as_unprivileged_user(script: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run Python code as 'nobody' when we are root (root reads every file whatever its mode)."""
    command = [sys.executable, "-c", script]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to drop root privileges")
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        probe = subprocess.run(
            [*command[:-2], "-c", "import gyre.store"], capture_output=True, text=True
        )
        if probe.returncode != 0:
            pytest.skip(
                "'nobody' cannot import gyre from this checkout (a folder on its path is "
                "private, e.g. a clone in a mktemp -d folder); clone into a folder other users "
                f"may enter to run this test: {probe.stderr.strip().splitlines()[-1:]}"
            )
    return subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "HOME": str(home)}
    )


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder every user may enter (pytest's own temp folders are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="gyre-perm-", dir="/tmp"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _open_and(action: str, workspace: Path) -> str:
    return (
        "import pathlib\nfrom gyre.config import embedded_settings\n"
        "from gyre.store import open_store\nfrom gyre.data import versions\n"
        "from gyre.errors import GyreError\n"
        "try:\n"
        f"    store = open_store(embedded_settings(pathlib.Path({str(workspace)!r})))\n"
        f"    {action}\n"
        "except GyreError as exc:\n    print(exc)\n"
    )


def test_an_unreadable_file_is_named_with_the_fix(shared_folder: Path) -> None:
    from gyre.store import init_workspace

    init_workspace(shared_folder / ".gyre").close()
    folder = shared_folder / "locked"
    write(folder / "open.txt", "fine")
    secret = write(folder / "closed.txt", "no")
    for path in [shared_folder, *shared_folder.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)
    secret.chmod(0)
    done = _as_unprivileged_user(
        _open_and(f"versions.add(store, 'locked', {str(folder)!r})", shared_folder / ".gyre"),
        shared_folder,
    )
    assert "closed.txt cannot be read (permission denied)" in done.stdout, done.stdout + done.stderr
    assert "chmod u+r" in done.stdout


def test_an_unreadable_workspace_is_reported_with_the_fix(shared_folder: Path) -> None:
    from gyre.store import init_workspace

    init_workspace(shared_folder / ".gyre").close()
    (shared_folder / ".gyre").chmod(0o700)
    done = _as_unprivileged_user(_open_and("pass", shared_folder / ".gyre"), shared_folder)
    assert "cannot be read by this user (permission denied)" in done.stdout, (
        done.stdout + done.stderr
    )


def test_deleting_a_version_a_run_used_is_refused_unless_forced(
    workspace: Store, tmp_path: Path
) -> None:
    write(tmp_path / "d" / "x.txt", "1")
    versions.add(workspace, "d", str(tmp_path / "d"))
    with workspace.write() as tx:
        from gyre.store import runs as run_rows

        run_id = run_rows.create(tx, kind="run", name="r", experiment="e")
        dataset_uses.record_use(tx, run_id, "d", 1, "read")
    with pytest.raises(Conflict, match=f"used by run\\(s\\) {run_id}"):
        versions.delete(workspace, "d", 1)
    versions.delete(workspace, "d", 1, force=True)
    with pytest.raises(NotFound):
        versions.get(workspace, "d", 1)


def test_gc_keeps_dataset_blobs_and_frees_them_after_delete(
    workspace: Store, tmp_path: Path
) -> None:
    from gyre.store.garbage import collect

    make_images(tmp_path / "imgs", {"a": 3, "b": 3})
    versions.add(workspace, "imgs", str(tmp_path / "imgs"))
    assert collect(workspace, grace_s=0).removed == 0
    assert (Dataset("imgs", store=workspace).latest().path() / "a" / "0.png").exists()
    versions.delete(workspace, "imgs", 1)
    assert collect(workspace, grace_s=0).removed == 5  # 3 distinct images, manifest, profile
    assert list(workspace.blobs.digests()) == []


def test_append_only_partitions_windows_and_snapshots(workspace: Store) -> None:
    import pyarrow as pa

    hour = 3600.0
    t0 = 1_800_000_000.0
    for i in range(3):
        table = pa.table({"x": [float(i)] * (i + 1), "ts": [t0 + i * hour] * (i + 1)})
        append_only.append(
            workspace, "inference", table, starts_at=t0 + i * hour, ends_at=t0 + (i + 1) * hour
        )
    window = append_only.window(workspace, "inference", t0 + hour, t0 + 3 * hour)
    assert window.num_rows == 5 and sorted(set(window["x"].to_pylist())) == [1.0, 2.0]
    snap = append_only.snapshot(workspace, "inference")
    assert (snap.version, snap.rows, snap.files) == (1, 6, 3)
    assert append_only.snapshot(workspace, "inference").version == 1, (
        "same partitions, same version"
    )
    parts = append_only.list_partitions(workspace, "inference")
    assert [p.rows for p in parts] == [1, 2, 3]
    table = pa.table({"x": [0.0], "ts": [t0]})
    again = append_only.append(
        workspace, "inference", table, starts_at=t0, ends_at=t0 + hour, key=parts[0].partition_key
    )
    assert again.digest == parts[0].digest, "re-appending the same rows is a no-op"
    with pytest.raises(Conflict, match="sealed and immutable"):
        append_only.append(
            workspace,
            "inference",
            pa.table({"x": [9.0], "ts": [t0]}),
            starts_at=t0,
            ends_at=t0 + hour,
            key=parts[0].partition_key,
        )
    assert Dataset("inference@1", store=workspace).get().to_arrow().num_rows == 6


def test_a_version_registered_by_reference_detects_a_changed_source(
    workspace: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "external"
    write(folder / "a.txt", "one")
    with workspace.write() as tx:
        datastore_rows.add_datastore(
            tx, "ext", str(folder), secret=None, options={}, by_reference=True
        )
    version = versions.add(workspace, "ext-data", "", datastore="ext").version
    assert version.layout == "reference" and version.files == 1
    assert workspace.blobs.exists(version.digest)
    assert versions.check_reference(workspace, version) == []
    assert (versions.local_path(workspace, version) / "a.txt").read_text() == "one"
    write(folder / "b.txt", "two")
    os.utime(folder / "a.txt", (1, 1))
    assert versions.check_reference(workspace, version) == ["added: b.txt", "changed: a.txt"]
    manifest = json.loads(workspace.blobs.read_bytes(version.digest))
    assert manifest["reference"] == str(folder)


def test_datastore_options_that_look_like_credentials_never_reach_the_database(
    project: Path,
) -> None:
    import subprocess
    import sys

    gyre_cmd = [sys.executable, "-m", "gyre.cli.main"]
    subprocess.run([*gyre_cmd, "init"], check=True, capture_output=True)
    done = subprocess.run(
        [*gyre_cmd, "datastore", "add", "s", "s3://b", "--option", "secret_access_key=abc"],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "looks like a credential" in done.stderr


def test_link_makes_the_files_the_blobs_without_copying_and_protects_them(
    workspace: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "raw"
    for i in range(3):
        write(folder / f"{i}.bin", f"payload {i}" * 100)
    added = versions.add(workspace, "raw", str(folder), link=True)
    assert added.created and added.version.files == 3
    for i in range(3):
        source = folder / f"{i}.bin"
        digest = versions.manifest(workspace, added.version)["files"][f"{i}.bin"][0]
        blob = workspace.blobs.path(digest)  # type: ignore[attr-defined]
        assert os.stat(blob).st_ino == os.stat(source).st_ino, "linked, not copied"
        assert not os.access(source, os.W_OK) or os.getuid() == 0
        assert source.stat().st_mode & 0o222 == 0, "the file is read-only now"
    again = versions.add(workspace, "raw", str(folder), link=True)
    assert not again.created
    dest = versions.export(workspace, added.version, tmp_path / "out")
    assert (dest / "1.bin").read_text() == "payload 1" * 100


def test_link_is_refused_where_it_cannot_work(workspace: Store, tmp_path: Path) -> None:
    from gyre.store.blobs import FsspecBlobStore

    write(tmp_path / "a" / "x.txt", "x")
    workspace.blobs = FsspecBlobStore("memory://gyre-link-test")  # type: ignore[assignment]
    with pytest.raises(InvalidParameter, match="--link works for local files") as error:
        versions.add(workspace, "a", str(tmp_path / "a"), link=True)
    assert error.value.field == "link"


def test_a_file_that_changes_while_it_is_linked_is_refused_and_leaves_no_blob(
    workspace: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gyre.errors import CorruptBlob
    from gyre.store import blobs

    target = write(tmp_path / "b" / "y.txt", "before")
    real = blobs.sha256_file

    def hash_then_write(path: Path) -> tuple[str, int]:
        result = real(path)
        os.utime(path, ns=(1, 1))  # a writer touched it after it was hashed
        return result

    monkeypatch.setattr(blobs, "sha256_file", hash_then_write)
    with pytest.raises(CorruptBlob, match="changed while it was being added"):
        versions.add(workspace, "b", str(tmp_path / "b"), link=True)
    digest = real(target)[0]
    assert not workspace.blobs.exists(digest)
    with pytest.raises(NotFound):
        versions.get(workspace, "b")
