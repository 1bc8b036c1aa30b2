"""S3 through moto's S3 API server on 127.0.0.1, a stand-in for S3 (nothing leaves the machine).

gs:// and az:// go through fsspec's gcsfs and adlfs the same way; they are documented, not
tested here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import S3_KEYS
from gyre.data import versions
from gyre.data.secrets import set_secret
from gyre.errors import AccessDenied, CorruptBlob, InsecureSecrets
from gyre.store import Store
from gyre.store import datastores as datastore_rows
from gyre.store.blobs import FsspecBlobStore
from support.data_files import make_images, write


@pytest.fixture
def s3fs_client(s3_server: str, s3_bucket: str):  # type: ignore[no-untyped-def]
    import s3fs

    return s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server}, **S3_KEYS)


@pytest.fixture
def credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GYRE_SECRETS_FILE", str(tmp_path / "secrets.json"))
    set_secret("minio", json.dumps(S3_KEYS))
    return "minio"


def test_the_blob_store_contract_holds_on_s3(
    s3_server: str, s3_bucket: str, tmp_path: Path
) -> None:
    blobs = FsspecBlobStore(
        f"s3://{s3_bucket}/blobs", {"client_kwargs": {"endpoint_url": s3_server}, **S3_KEYS}
    )
    source = write(tmp_path / "a.bin", "x" * 10_000)
    digest, size = blobs.put_file(source)
    assert size == 10_000 and blobs.exists(digest)
    assert blobs.read_bytes(digest) == b"x" * 10_000
    blobs.fetch(digest, tmp_path / "copy.bin")
    assert (tmp_path / "copy.bin").read_bytes() == b"x" * 10_000
    assert list(blobs.digests()) == [digest]
    blobs.fs.pipe_file(blobs._key(digest), b"tampered")
    with pytest.raises(CorruptBlob, match="does not match its digest"):
        blobs.read_bytes(digest)


def test_a_dataset_is_copied_from_an_s3_datastore_and_an_unchanged_readd_downloads_nothing(
    workspace: Store,
    s3_server: str,
    s3_bucket: str,
    s3fs_client,
    credentials: str,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    images = make_images(tmp_path / "imgs", {"cat": 3, "dog": 2})
    s3fs_client.put(str(images), f"{s3_bucket}/photos", recursive=True)
    with workspace.write() as tx:
        datastore_rows.add_datastore(
            tx,
            "lake",
            f"s3://{s3_bucket}",
            secret=credentials,
            options={"client_kwargs": {"endpoint_url": s3_server}},
            by_reference=False,
        )
        stored = datastore_rows.get_datastore(tx, "lake")
    assert "testing" not in json.dumps(stored.options), "no credential in the database"
    first = versions.add(workspace, "photos", "photos", datastore="lake")
    assert first.created and first.version.files == 5 and first.version.layout == "labeled-images"
    local = versions.local_path(workspace, first.version)
    assert sorted(p.name for p in (local / "cat").iterdir()) == ["0.png", "1.png", "2.png"]
    again = versions.add(workspace, "photos", "photos", datastore="lake")
    assert not again.created


def test_a_reference_dataset_on_s3_records_etags_and_detects_a_change(
    workspace: Store,
    s3_server: str,
    s3_bucket: str,
    s3fs_client,
    credentials: str,  # type: ignore[no-untyped-def]
) -> None:
    s3fs_client.pipe(f"{s3_bucket}/big/part-0.csv", b"a\n1\n")
    with workspace.write() as tx:
        datastore_rows.add_datastore(
            tx,
            "big",
            f"s3://{s3_bucket}/big",
            secret=credentials,
            options={"client_kwargs": {"endpoint_url": s3_server}},
            by_reference=True,
        )
    version = versions.add(workspace, "big", "", datastore="big").version
    recorded = json.loads(workspace.blobs.read_bytes(version.digest))["objects"]
    assert recorded["part-0.csv"]["etag"], "the object's ETag is recorded"
    assert versions.check_reference(workspace, version) == []
    s3fs_client.pipe(f"{s3_bucket}/big/part-0.csv", b"a\n2\n")
    s3fs_client.invalidate_cache()
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    assert versions.check_reference(workspace, version) == ["changed: part-0.csv"]


def test_missing_credentials_say_how_to_set_them(
    workspace: Store,
    s3_server: str,
    s3_bucket: str,
    s3fs_client,  # type: ignore[no-untyped-def]
) -> None:
    s3fs_client.pipe(f"{s3_bucket}/d/x.txt", b"x")
    with workspace.write() as tx:
        datastore_rows.add_datastore(
            tx,
            "nocreds",
            f"s3://{s3_bucket}",
            secret=None,
            options={"client_kwargs": {"endpoint_url": s3_server}},
            by_reference=False,
        )
    with pytest.raises(AccessDenied, match="refused.*gyre secret set"):
        versions.add(workspace, "d", "d", datastore="nocreds")


def test_a_secret_that_does_not_exist_is_named(
    workspace: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gyre.errors import NotFound

    monkeypatch.setenv("GYRE_SECRETS_FILE", str(tmp_path / "secrets.json"))
    with workspace.write() as tx:
        datastore_rows.add_datastore(
            tx, "x", "s3://b", secret="nope", options={}, by_reference=False
        )
    with pytest.raises(NotFound, match="gyre secret set nope"):
        versions.add(workspace, "d", "p", datastore="x")


def test_the_secrets_file_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gyre.data.secrets import get_secret

    path = tmp_path / "secrets.json"
    monkeypatch.setenv("GYRE_SECRETS_FILE", str(path))
    set_secret("s", '{"key": "k"}')
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)
    with pytest.raises(InsecureSecrets, match="can be read by other users.*chmod 600"):
        get_secret("s")


def test_a_workspace_keeps_its_blobs_on_s3(
    project: Path, s3_server: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gyre
    from conftest import copy_resource
    from gyre import config
    from gyre.pipelines.loader import load_pipeline
    from gyre.store import init_workspace, open_store

    init_workspace(project / ".gyre").close()
    (project / "gyre.yaml").write_text(
        f"workspace: .gyre\nartifacts: s3://{s3_bucket}/artifacts\n"
        f"artifacts_options:\n  client_kwargs:\n    endpoint_url: {s3_server}\n"
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    store = open_store(config.resolve())
    assert isinstance(store.blobs, FsspecBlobStore)
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    first = gyre.run(load_pipeline("chain.py:chain"), workspace=store, quiet=True)
    assert first.status == "finished", first.error
    second = gyre.run(load_pipeline("chain.py:chain"), workspace=store, quiet=True)
    assert {s.outcome for s in second.steps.values()} == {"reused"}
    assert (second.output("report") / "total.txt").read_text() == "30"
