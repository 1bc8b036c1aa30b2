"""Every raise in gyre is a class of the error tree, and each new class's message names the
thing, the problem and the fix."""

from __future__ import annotations

import ast
import socket
from pathlib import Path

import pytest

from gyre import errors

ROOT = Path(__file__).parents[2]
SRC = ROOT / "src" / "gyre"
# Raised on purpose outside the tree, each for a reason.
NOT_ERRORS = {
    "SystemExit": "the CLI's exit codes",
    "BadParameter": "click: a command-line usage error (exit code 2, names the option)",
    "UsageError": "click: a command-line usage error",
    "AttributeError": "the module __getattr__ protocol (gyre/__init__.py)",
    "KernelCopyUnsupported": "an internal signal that blobs.put_file catches (it then streams)",
    "PydanticCustomError": "a request body's field refused by its type (answered 400, naming it)",
    "HTTPException": "the MLflow endpoint's NOT_IMPLEMENTED (501) refusals and 404s, which the "
    "server's one handler answers in MLflow's envelope",
}


def _tree() -> set[str]:
    """GyreError and every class in src/ that derives from it, by name."""
    bases: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = {
                    b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
                }
    tree = {"GyreError"}
    while True:
        grown = tree | {name for name, parents in bases.items() if parents & tree}
        if grown == tree:
            return tree
        tree = grown


def _raised(node: ast.Raise) -> str | None:
    target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return None


def test_every_raise_is_a_class_of_the_tree_and_never_the_bare_root() -> None:
    allowed = (_tree() - {"GyreError"}) | set(NOT_ERRORS)
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Raise) and node.exc is not None:
                name = _raised(node)
                if name is None or not name[0].isupper():
                    continue  # re-raising what was caught (raise exc) or made (raise _bad(...))
                if name not in allowed:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} raises {name}")
    assert offenders == []


def test_a_port_in_use_is_serve_failed_naming_the_port_and_the_fix() -> None:
    from gyre.serving.server import check_port

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(errors.ServeFailed, match=f"127.0.0.1:{port}.*--port"):
            check_port("127.0.0.1", port)


def test_an_unwritable_export_is_write_failed_and_leaves_nothing(tmp_path: Path) -> None:
    import pyarrow as pa

    from gyre.data.exports import write_table

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(errors.WriteFailed, match="Could not write .*another destination"):
        write_table(pa.table({"a": [1]}), blocker / "out.csv", "csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]


def test_a_step_parameter_that_is_not_json_is_invalid_parameter_naming_the_type() -> None:
    from gyre.pipelines.cache_key import canonical_json

    with pytest.raises(errors.InvalidParameter, match="object values cannot be step parameters"):
        canonical_json({"p": object()})


def test_an_unknown_materializer_asks_to_upgrade(tmp_path: Path) -> None:
    from gyre.pipelines.materializers import load
    from gyre.store.blobs import LocalBlobStore

    blobs = LocalBlobStore(tmp_path / "blobs")
    digest = blobs.put_bytes(b"x")
    with pytest.raises(errors.WorkspaceError, match="'zarr'.*newer gyre.*pip install -U gyre"):
        load("zarr", digest, {}, blobs, tmp_path / "cache")


def test_an_unknown_run_field_is_invalid_parameter_listing_the_fields(tmp_path: Path) -> None:
    from gyre.store import init_workspace
    from gyre.store import runs as run_rows

    store = init_workspace(tmp_path / ".gyre")
    with store.write() as tx, pytest.raises(errors.InvalidParameter, match="Unknown run fields"):
        run_rows.create(tx, kind="run", name="r", experiment="e", colour="red")
    store.close()


def test_a_secret_that_is_not_an_object_names_the_datastore_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gyre.data.filesystems import datastore_options
    from gyre.data.secrets import set_secret
    from gyre.store.datastores import DatastoreRecord

    monkeypatch.setenv("GYRE_SECRETS_FILE", str(tmp_path / "secrets.json"))
    set_secret("plain", "just-a-string")
    record = DatastoreRecord("lake", "s3://b", "plain", {}, False, 0.0)
    with pytest.raises(errors.InvalidParameter, match="JSON object.*gyre secret set plain"):
        datastore_options(record)


def test_a_read_that_fails_otherwise_is_read_failed_naming_the_url() -> None:
    from gyre.data.filesystems import access_error

    error = access_error("s3://b/x", IsADirectoryError("x is a folder"), None)
    assert isinstance(error, errors.ReadFailed)
    assert "Could not read s3://b/x" in str(error) and "gyre datastore show" in str(error)
    denied = access_error("s3://b/x", PermissionError("no"), "lake")
    assert isinstance(denied, errors.AccessDenied) and "gyre secret set" in str(denied)


@pytest.mark.parametrize("records", [[1, 2], [{"a": 1.0}], [{"a": 1.0, "b": 2.0}, "x"], [None]])
def test_records_that_do_not_fit_the_signature_are_a_400_naming_the_problem(
    records: list[object],
) -> None:
    from gyre.serving.payloads import RequestError, records_to_array

    signature = {
        "inputs": [{"name": "a", "type": "double"}, {"name": "b", "type": "double"}],
        "outputs": [{"name": "output", "type": "long"}],
    }
    with pytest.raises(RequestError) as raised:
        records_to_array(signature, records)
    assert raised.value.status == 400 and str(raised.value)
    assert isinstance(raised.value, errors.InvalidParameter)
