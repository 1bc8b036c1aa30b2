"""The kubernetes target: KServe manifests and model folders, validated by KServe's own SDK.

No cluster runs here. The manifest is checked by deserializing it into KServe's generated
``V1beta1InferenceServiceSpec`` model (in ``.venv-kserve``, which ``make test`` builds): every
field must be one the InferenceService schema has, with the type it has, and nothing may be
lost on the way back. The model folder is read as KServe's sklearn server reads it
(``joblib.load`` of ``model.joblib``).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression

import gyre
from gyre import endpoints
from gyre.errors import InvalidParameter
from gyre.store import Store

ROOT = Path(__file__).parents[2]
KSERVE_PYTHON = ROOT / ".venv-kserve" / "bin" / "python"
VALIDATE = """
import json, sys
import yaml
from kserve import constants
from kserve.api_client import ApiClient

document = yaml.safe_load(open(sys.argv[1]))
assert document["apiVersion"] == constants.KSERVE_V1BETA1, document["apiVersion"]
assert document["kind"] == constants.KSERVE_KIND_INFERENCESERVICE, document["kind"]
client = ApiClient()
spec = client._ApiClient__deserialize(document["spec"], "V1beta1InferenceServiceSpec")
def without_defaults(value):  # the SDK fills the container name with ""
    if isinstance(value, dict):
        return {k: without_defaults(v) for k, v in value.items() if v != ""}
    return value

back = without_defaults(client.sanitize_for_serialization(spec))
print(json.dumps({"back": back, "canary": spec.predictor.canary_traffic_percent,
                  "uri": spec.predictor.model.storage_uri}))
"""


def register(c: float) -> int:
    frame = pd.DataFrame(np.random.RandomState(0).rand(100, 3), columns=["a", "b", "c"])
    model = LogisticRegression(C=c).fit(frame, (frame["a"] > 0.5).astype(int))
    return gyre.register_model("clf", model, input_example=frame.head(2)).version


def kserve_reads(path: Path) -> dict:
    if not KSERVE_PYTHON.exists():
        pytest.fail("KServe's SDK is installed by `make test` (.venv-kserve); run make test")
    done = subprocess.run(
        [str(KSERVE_PYTHON), "-c", VALIDATE, str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_manifests_follow_the_split_and_kserve_reads_them(workspace: Store, project: Path) -> None:
    first, second = register(1.0), register(0.1)
    row = endpoints.create(
        workspace, "clf", "clf@1", target="kubernetes", options={"namespace": "ml"}
    )
    assert row.url == "http://clf.ml.svc.cluster.local:80"
    assert row.applied_generation == row.generation and row.machine == "manifest only"
    path = endpoints.manifest_path(workspace, "clf")
    document = yaml.safe_load(path.read_text())
    assert document["kind"] == "InferenceService" and document["metadata"]["namespace"] == "ml"
    read = kserve_reads(path)
    assert read["back"] == document["spec"]  # every field is the schema's, nothing lost
    assert read["canary"] is None and read["uri"].endswith(f"/model-{first}")

    folder = path.parent / f"model-{first}"
    served = joblib.load(folder / "model.joblib")  # what KServe's sklearn server does
    rows = np.random.RandomState(1).rand(20, 3)
    expected = gyre.load_model(f"clf@{first}").predict(pd.DataFrame(rows, columns=["a", "b", "c"]))
    assert list(served.predict(pd.DataFrame(rows, columns=["a", "b", "c"]))) == list(expected)

    endpoints.set_traffic(workspace, "clf", {str(first): "90", str(second): "10"})
    read = kserve_reads(path)
    assert read["canary"] == 10 and read["uri"].endswith(f"/model-{second}")
    assert (path.parent / f"model-{second}" / "model.joblib").exists()
    endpoints.set_traffic(workspace, "clf", {str(second): "100"})
    assert kserve_reads(path)["canary"] is None


def test_what_kserve_cannot_do_is_refused_with_the_reason(workspace: Store, project: Path) -> None:
    for c in (1.0, 0.1, 0.01):
        register(c)
    endpoints.create(workspace, "clf", "clf@1", target="kubernetes")
    with pytest.raises(InvalidParameter, match="two revisions.*3 versions"):
        endpoints.set_traffic(workspace, "clf", {"1": "50", "2": "25", "3": "25"})
    with pytest.raises(InvalidParameter, match="no shadow"):
        endpoints.set_traffic(workspace, "clf", {"1": "100"}, shadow="2")
    folder = project / "scorer"
    folder.mkdir()
    (folder / "score.py").write_text("def init():\n    pass\n\ndef run(data):\n    return data\n")
    gyre.register_model("echo", folder, flavor="python")
    with pytest.raises(InvalidParameter, match="python model; the kubernetes target serves"):
        endpoints.create(workspace, "echo", "echo@1", target="kubernetes")
    assert endpoints.find(workspace, "echo") is None  # nothing half-made
