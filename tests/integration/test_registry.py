"""The model registry: idempotent versions, aliases with history, flavors, lineage, events."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import gyre
from conftest import RESOURCES, copy_resource
from gyre.data import versions as dataset_versions
from gyre.errors import Conflict, InvalidParameter, NotFound
from gyre.pipelines.loader import load_pipeline
from gyre.registry import models as registry
from gyre.store import Store, jobs
from gyre.store import models as rows
from support.data_files import write


def _sklearn_model():  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 5)
    y = np.array([0, 1, 1, 1] * 5)
    return LogisticRegression().fit(x, y)


def test_registering_the_same_model_twice_gives_the_same_version_and_one_event(
    workspace: Store,
) -> None:
    model = _sklearn_model()
    with gyre.start_run(experiment="retry", store=workspace):  # a step that registers twice
        v1 = registry.register_model(
            "clf", model, input_example=[{"a": 0.0, "b": 1.0}], tags={"build": "1"}, store=workspace
        )
        again = registry.register_model(
            "clf", _sklearn_model(), tags={"build": "2"}, store=workspace
        )
    assert (v1.version, again.version) == (1, 1)
    assert again.tags == {"build": "2"}
    assert v1.signature == {
        "inputs": [{"name": "a", "type": "float64"}, {"name": "b", "type": "float64"}],
        "outputs": [{"name": "output", "type": "int64", "shape": [-1]}],  # predicted from it
    }
    with workspace.read() as tx:
        events = jobs.list_jobs(tx, kind="model.registered")
    assert [e.payload["version"] for e in events] == [1]
    loaded = gyre.load_model("clf@1", store=workspace)
    assert list(loaded.predict([{"a": 0.0, "b": 0.0}, {"a": 1.0, "b": 1.0}])) == [0, 1]


def test_aliases_resolve_everywhere_and_every_change_is_recorded(workspace: Store) -> None:
    from sklearn.dummy import DummyClassifier

    for constant in (0, 1):
        model = DummyClassifier(strategy="constant", constant=constant).fit([[0]], [constant])
        registry.register_model("dummy", model, store=workspace)
    assert registry.set_alias(workspace, "dummy", "production", 1) is None
    assert registry.set_alias(workspace, "dummy", "production", 2) == 1
    assert registry.get(workspace, "dummy@production").version == 2
    assert registry.get(workspace, "dummy@latest").version == 2
    with workspace.read() as tx:
        history = rows.alias_history(tx, "dummy")
    assert [(h["alias"], h["previous"], h["version"]) for h in history] == [
        ("production", None, 1),
        ("production", 1, 2),
    ]
    assert all(h["changed_by"] for h in history)
    with pytest.raises(Conflict, match="dummy@production points at"):
        registry.delete(workspace, "dummy@2")
    registry.delete(workspace, "dummy@1")
    with pytest.raises(NotFound, match="has no version 1; it has 2"):
        registry.get(workspace, "dummy@1")
    with pytest.raises(NotFound, match="Did you mean 'production'"):
        registry.get(workspace, "dummy@prodution")


def test_a_python_flavor_folder_follows_the_score_py_contract(
    workspace: Store, tmp_path: Path
) -> None:
    folder = shutil.copytree(RESOURCES / "good" / "score_model", tmp_path / "m")
    version = registry.register_model("sizer", folder, store=workspace)
    assert version.flavor == "python"
    loaded = registry.load_model("sizer", workspace)
    assert loaded.predict({"size": 4}) == {"label": "big"}
    assert loaded.predict([{"size": 1}, {"size": 3}]) == [{"label": "small"}, {"label": "big"}]


def test_a_folder_with_pickles_is_refused_unless_trusted(workspace: Store, tmp_path: Path) -> None:
    folder = shutil.copytree(RESOURCES / "good" / "score_model", tmp_path / "m")
    (folder / "model.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(InvalidParameter, match="pickle files.*trusted=True"):
        registry.register_model("pickled", folder, store=workspace)
    assert registry.register_model("pickled", folder, trusted=True, store=workspace).version == 1


def test_torch_and_onnx_flavors_load_and_predict(workspace: Store, tmp_path: Path) -> None:
    import onnx
    import torch
    from onnx import TensorProto, helper

    net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    example = np.ones((1, 3), dtype=np.float32)
    registry.register_model("net", net, input_example=example, store=workspace)
    loaded = registry.load_model("net@1", workspace)
    expected = net(torch.ones(1, 3)).detach().numpy()
    assert np.allclose(loaded.predict(example), expected, atol=1e-6)
    assert loaded.signature == {
        "inputs": [{"name": "input", "type": "float32", "shape": [-1, 3]}],
        "outputs": [{"name": "output", "type": "float32", "shape": [-1, 2]}],
    }
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
    )
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    registry.register_model("relu", path, store=workspace)
    assert registry.load_model("relu", workspace).predict([[-1.0, 2.0]]).tolist() == [[0.0, 2.0]]


def test_loading_verifies_the_model_files(workspace: Store) -> None:
    from gyre.errors import CorruptBlob
    from gyre.store.folders import manifest as dir_manifest

    version = registry.register_model("clf", _sklearn_model(), store=workspace)
    skops_digest = dir_manifest(workspace.blobs, version.digest)["model.skops"][0]
    path = workspace.blobs.path(skops_digest)  # type: ignore[attr-defined]
    path.chmod(0o644)
    path.write_bytes(b"not the model")
    with pytest.raises(CorruptBlob, match="does not match its digest"):
        registry.load_model("clf", workspace)


def test_a_registration_records_run_pipeline_datasets_and_commit_and_reuse_adds_build_tags(
    workspace: Store, project: Path
) -> None:
    copy_resource("good/registry_pipeline.py", project)
    dataset_versions.add(
        workspace, "sales", str(write(project / "sales.csv", "x,y\n1,2\n2,4\n3,6\n"))
    )
    pipeline = load_pipeline("registry_pipeline.py:registry_pipeline")
    first = gyre.run(pipeline, tags={"build": "1.41"}, workspace=workspace, quiet=True)
    assert first.status == "finished", first.error
    version = registry.get(workspace, "pricer@1")
    assert version.run_id == first.steps["train"].run_id
    assert (version.pipeline_run_id, version.pipeline) == (first.id, "registry_pipeline")
    assert version.datasets == ["sales@1"]
    assert version.metrics and version.metrics["r2"] == pytest.approx(1.0)
    second = gyre.run(pipeline, tags={"build": "1.42"}, workspace=workspace, quiet=True)
    assert second.steps["train"].outcome == "reused"
    with workspace.read() as tx:
        assert [v.version for v in rows.versions(tx, "pricer")] == [1], "no second version"
        assert rows.registered_by(tx, second.steps["train"].run_id) == [("pricer", 1)]
    assert registry.get(workspace, "pricer@1").tags == {"build": "1.41,1.42", "stage": "trained"}
    import json
    import subprocess
    import sys

    lineage = subprocess.run(
        [sys.executable, "-m", "gyre.cli.main", "lineage", "pricer@1", "--json"],
        capture_output=True,
        text=True,
        cwd=project,
    )
    assert lineage.returncode == 0, lineage.stderr
    graph = json.loads(lineage.stdout)
    assert graph["subject"] == "model pricer@1"
    assert [r["run"] for r in graph["produced_by"]] == [first.steps["train"].run_id, first.id]
    assert graph["read"] == [{"dataset": "sales@1", "step_run": first.steps["train"].run_id}]
    of_run = subprocess.run(
        [sys.executable, "-m", "gyre.cli.main", "lineage", first.id, "--json"],
        capture_output=True,
        text=True,
        cwd=project,
    )
    assert [e["dataset"] for e in json.loads(of_run.stdout)["read"]] == ["sales@1"]


def test_unknown_models_and_flavors_are_named(workspace: Store) -> None:
    with pytest.raises(NotFound, match="No model named 'nope'"):
        registry.get(workspace, "nope@1")
    with pytest.raises(InvalidParameter, match="Unknown model flavor 'tensorflow'"):
        registry.register_model("x", _sklearn_model(), flavor="tensorflow", store=workspace)
    with pytest.raises(InvalidParameter, match="cannot tell the flavor of a dict"):
        registry.register_model("x", {"a": 1}, store=workspace)


def test_an_exported_model_scores_in_a_fresh_virtualenv_without_gyre(
    workspace: Store, tmp_path: Path
) -> None:
    import json
    import subprocess
    import sys
    import time
    import urllib.request

    from gyre.registry.export import export
    from support.ports import free_port

    folder = shutil.copytree(RESOURCES / "good" / "score_model", tmp_path / "m")
    registry.register_model("sizer", folder, store=workspace)
    exported = export(workspace, "sizer@1", tmp_path / "export")
    assert (exported / "requirements.txt").read_text() == ""  # the python flavor needs nothing
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    no_gyre = subprocess.run([str(python), "-c", "import gyre"], capture_output=True)
    assert no_gyre.returncode != 0, "the fresh environment must not see gyre"
    port = free_port()
    server = subprocess.Popen(
        [str(python), str(exported / "serve.py"), "--port", str(port)], cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline, "the exported server did not start"
                time.sleep(0.1)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/score",
            data=json.dumps({"size": 5}).encode(),
            headers={"content-type": "application/json"},
        )
        answer = json.loads(urllib.request.urlopen(request, timeout=10).read())
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert answer == {"predictions": {"label": "big"}, "model": "sizer@1"}


def test_a_signature_that_does_not_match_the_example_is_refused(workspace: Store) -> None:
    signature = {"inputs": [{"name": "a", "type": "float64"}]}
    with pytest.raises(InvalidParameter, match=r"names inputs \['a'\] but the example has \['b'\]"):
        registry.register_model(
            "x", _sklearn_model(), signature=signature, input_example=[{"b": 1.0}], store=workspace
        )
    with pytest.raises(InvalidParameter, match="'a' is float64 but the example gives string"):
        registry.register_model(
            "x",
            _sklearn_model(),
            signature=signature,
            input_example=[{"a": "text"}],
            store=workspace,
        )


def test_a_flavor_that_cannot_load_the_artifact_says_so(workspace: Store, tmp_path: Path) -> None:
    from gyre.errors import ModelLoadFailed

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"this is not an onnx model")
    registry.register_model("broken", broken, store=workspace)
    with pytest.raises(ModelLoadFailed, match="The onnx flavor could not load broken@1"):
        registry.load_model("broken@1", workspace)


def test_an_exported_sklearn_model_answers_input_it_cannot_take_with_400(
    workspace: Store, tmp_path: Path
) -> None:
    import subprocess
    import sys
    import time

    import httpx

    from gyre.registry.export import export
    from support.ports import free_port

    model = _sklearn_model()
    registry.register_model(
        "pricer", model, input_example=[{"size": 1.0, "rooms": 0.0}], store=workspace
    )
    exported = export(workspace, "pricer@1", tmp_path / "export")
    port = free_port()
    server = subprocess.Popen([sys.executable, str(exported / "serve.py"), "--port", str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the exported server did not start"
                time.sleep(0.1)
        missing = httpx.post(f"{url}/score", json={"size": 1.0})
        assert missing.status_code == 400
        assert "has no field 'rooms'" in missing.json()["error"]
        text = httpx.post(f"{url}/score", json=[{"size": "big", "rooms": 1.0}])
        assert text.status_code == 400 and "not all numbers" in text.json()["error"]
        good = httpx.post(f"{url}/score", json=[{"size": 1.0, "rooms": 1.0}])
        assert good.status_code == 200 and len(good.json()["predictions"]) == 1
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_model_holding_untrusted_types_is_refused_until_registered_as_trusted(
    workspace: Store,
) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from gyre.errors import UntrustedContent
    from gyre.registry.models import load_model, register_model

    x = np.array([[1.0], [2.0], [3.0], [4.0]])
    model = make_pipeline(FunctionTransformer(abs), LogisticRegression()).fit(x, [0, 0, 1, 1])
    register_model("odd", model, store=workspace)
    with pytest.raises(UntrustedContent, match="builtins.abs.*register it again with trusted=True"):
        load_model("odd@1", workspace)
    register_model("odd", model, trusted=True, store=workspace)
    assert load_model("odd@2", workspace).predict(x).tolist() == [0, 0, 1, 1]
