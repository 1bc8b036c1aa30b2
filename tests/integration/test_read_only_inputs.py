"""What a run recorded cannot change under it: inputs and run outputs are read-only copies,
and a step or a user that writes into one does not change what anyone reads next."""

from __future__ import annotations

from pathlib import Path

import gyre
from conftest import copy_resource
from gyre.pipelines.loader import load_pipeline
from gyre.store import Store


def _run(store: Store, ref: str) -> gyre.PipelineRun:
    return gyre.run(load_pipeline(ref), {}, workspace=store, quiet=True)


def test_a_step_that_writes_into_its_input_fails_naming_the_input_and_others_see_the_original(
    workspace: Store, project: Path
) -> None:
    copy_resource("bad/writes_input.py", project)
    first = _run(workspace, "writes_input.py:writes_input")
    vandal = first.steps["vandal"]
    assert first.status == "failed" and vandal.outcome == "failed"
    assert "changed its input 'data'" in (vandal.error or "")
    assert "gyre.output_dir()" in (vandal.error or "")
    later = _run(workspace, "writes_input.py:reads_only")
    assert later.steps["prepare"].outcome == "reused"
    assert later.output("reader") == "original", "a later run reads the recorded bytes"


def test_a_run_output_is_read_only_and_a_changed_copy_is_made_again(
    workspace: Store, project: Path
) -> None:
    copy_resource("bad/writes_input.py", project)
    run = _run(workspace, "writes_input.py:reads_only")
    folder = Path(run.output("prepare"))
    file = folder / "data.txt"
    assert not file.stat().st_mode & 0o222, "handed out read-only"
    file.chmod(0o644)
    file.write_text("edited by hand")
    again = Path(run.output("prepare"))
    assert (again / "data.txt").read_text() == "original"


def _registered_model(workspace: Store) -> tuple[Path, str]:
    import numpy as np
    from sklearn.linear_model import LinearRegression

    from gyre.registry import models as registry

    x = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    model = LinearRegression().fit(x, x[:, 0])
    record = registry.register_model(
        "pricer", model, input_example=[{"size": 1.0, "rooms": 0.0}], store=workspace
    )
    files = registry.model_files(workspace, record)
    return files, record.digest


def test_a_damaged_cached_copy_of_a_model_is_made_again_before_it_is_loaded(
    workspace: Store, project: Path
) -> None:
    from gyre.registry import models as registry

    files, _ = _registered_model(workspace)
    skops = files / "model.skops"
    skops.chmod(0o644)
    skops.write_bytes(b"not a zip file")  # before, loading blamed the flavor (BadZipFile)
    loaded = registry.load_model("pricer@1", workspace)
    assert list(loaded.predict([{"size": 2.0, "rooms": 1.0}])) == [2.0]


def test_a_corrupt_model_blob_names_the_version_the_blob_and_the_fix(
    workspace: Store, project: Path
) -> None:
    import pytest

    from gyre.errors import CorruptBlob
    from gyre.registry import models as registry
    from gyre.store.folders import manifest as dir_manifest
    from gyre.store.local_copies import discard

    files, digest = _registered_model(workspace)
    discard(files)
    blob_digest = dir_manifest(workspace.blobs, digest)["model.skops"][0]
    blob = workspace.blobs.path(blob_digest)  # type: ignore[attr-defined]
    blob.chmod(0o644)
    blob.write_bytes(b"x" * blob.stat().st_size)
    with pytest.raises(CorruptBlob) as error:
        registry.load_model("pricer@1", workspace)
    message = str(error.value)
    assert "Model version pricer@1 cannot be loaded" in message
    assert blob_digest[:12] in message and "Register pricer again" in message
