"""A datastore's location is checked when it is added: a typo, a missing folder or a store
that does not answer is reported then, naming the URL, not later as "holds no files"."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import S3_KEYS
from gyre.data.datastores import add_datastore
from gyre.data.secrets import set_secret
from gyre.errors import InvalidParameter, Unreachable
from gyre.store import Store
from support.ports import free_port

GYRE = [sys.executable, "-m", "gyre.cli.main"]


@pytest.mark.parametrize(
    ("url", "text"),
    [
        ("s3:/bad-url", "has s3: but not s3://. Write it as s3://bad-url"),
        ("s3://", "names no host or bucket"),
        ("nope://bucket/x", "unknown scheme 'nope'"),
        ("", "The location is empty"),
    ],
)
def test_a_malformed_location_is_refused_with_the_fix(
    workspace: Store, url: str, text: str
) -> None:
    with pytest.raises(InvalidParameter, match=text.replace("(", r"\(").replace(".", r"\.")):
        add_datastore(workspace, "lake", url)


def test_a_local_folder_that_does_not_exist_is_refused_unless_unchecked(
    workspace: Store, tmp_path: Path
) -> None:
    with pytest.raises(InvalidParameter, match="does not exist"):
        add_datastore(workspace, "lake", str(tmp_path / "missing"))
    (tmp_path / "real").mkdir()
    assert add_datastore(workspace, "lake", str(tmp_path / "real")).name == "lake"


def test_a_store_that_refuses_connections_is_a_network_error_naming_the_url(
    workspace: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GYRE_SECRETS_FILE", str(tmp_path / "secrets.json"))
    set_secret("keys", json.dumps(S3_KEYS))
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    options = {
        "client_kwargs": {"endpoint_url": closed},
        "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2},
    }
    with pytest.raises(Unreachable, match=r"Could not reach s3://lake/data: .*network error"):
        add_datastore(workspace, "lake", "s3://lake/data", secret="keys", options=options)
    record = add_datastore(
        workspace, "lake", "s3://lake/data", secret="keys", options=options, check=False
    )
    assert record.url == "s3://lake/data"


def test_credentials_in_options_are_refused_from_python_too(workspace: Store) -> None:
    with pytest.raises(InvalidParameter, match="looks like a credential"):
        add_datastore(
            workspace, "lake", "s3://b", options={"secret_access_key": "abc"}, check=False
        )


def test_the_cli_checks_the_location_and_no_check_skips_it(project: Path) -> None:
    subprocess.run([*GYRE, "init"], check=True, capture_output=True)
    typo = subprocess.run(
        [*GYRE, "datastore", "add", "lake", "s3:/bad-url"], capture_output=True, text=True
    )
    assert typo.returncode != 0 and "s3://bad-url" in typo.stderr
    assert "Traceback" not in typo.stderr
    missing = subprocess.run(
        [*GYRE, "datastore", "add", "lake", str(project / "nowhere")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode != 0 and "does not exist" in missing.stderr


def test_an_empty_source_does_not_register_the_current_folder(project: Path) -> None:
    subprocess.run([*GYRE, "init"], check=True, capture_output=True)
    (project / "stray.txt").write_text("not data")
    done = subprocess.run([*GYRE, "data", "add", "weird", ""], capture_output=True, text=True)
    assert done.returncode != 0 and "The source is empty" in done.stderr
    listed = subprocess.run([*GYRE, "data", "list", "--json"], capture_output=True, text=True)
    assert json.loads(listed.stdout) == []
