"""The ``kubernetes`` target: a KServe InferenceService per endpoint, written and applied.

For each change of an endpoint's split, gyre writes into ``<workspace>/kubernetes/NAME/``:

- ``model-V/``, for each version in the split, in the layout KServe's storage initializer and
  its model servers read: ``model.joblib`` for scikit-learn (the sklearn server), ``model.onnx``
  for ONNX (served by Triton); uploaded under the endpoint's ``storage_uri`` option
  (``s3://...``, ``gs://...``, ``pvc://...`` as the cluster reads it) when one is set;
- ``inferenceservice.yaml``: ``serving.kserve.io/v1beta1`` ``InferenceService`` whose predictor
  serves the newest version of the split over the Open Inference Protocol (``protocolVersion:
  v2``), with ``canaryTrafficPercent`` its share when the split holds two versions (KServe
  routes the rest to the revision it served before).

With ``kubectl`` on the PATH and a kubeconfig (``KUBECONFIG`` or ``~/.kube/config``), the
manifest is applied (``kubectl apply -f``); otherwise it is only written, and the endpoint
says so. KServe splits traffic between two revisions only and has no shadow: a split of three
versions, or a shadow, is refused here with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from gyre.errors import InvalidParameter
from gyre.registry import models as registry

if TYPE_CHECKING:
    from gyre.store import Store

API_VERSION = "serving.kserve.io/v1beta1"
FORMATS = {"sklearn": ("sklearn", "model.joblib"), "onnx": ("onnx", "model.onnx")}


def folder(store: Store, name: str) -> Path:
    return store.settings.local_dir / "kubernetes" / name


def manifest(
    name: str, namespace: str, model_format: str, storage_uri: str, canary: int | None
) -> dict[str, Any]:
    """The InferenceService for ``storage_uri``; ``canary``: its share while a split lasts."""
    predictor: dict[str, Any] = {
        "model": {
            "modelFormat": {"name": model_format},
            "protocolVersion": "v2",
            "storageUri": storage_uri,
        }
    }
    if canary is not None:
        predictor["canaryTrafficPercent"] = canary
    return {
        "apiVersion": API_VERSION,
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "gyre"},
        },
        "spec": {"predictor": predictor},
    }


def check_flavor(reference: str, flavor: str) -> None:
    if flavor not in FORMATS:
        raise InvalidParameter(
            f"{reference} is a {flavor} model; the kubernetes target serves "
            f"{' and '.join(FORMATS)} models through KServe's own servers.",
            field="model",
        )


def check_split(traffic: dict[int, int], shadow: int | None) -> None:
    if shadow is not None:
        raise InvalidParameter(
            "KServe has no shadow traffic: an endpoint on the kubernetes target cannot have a "
            "shadow version (use the local target for shadows).",
            field="shadow",
        )
    if len(traffic) > 2:
        raise InvalidParameter(
            f"KServe splits traffic between two revisions, the newest and the one before; "
            f"this split has {len(traffic)} versions. Give at most two (e.g. 7=90 8=10).",
            field="traffic",
        )


def write(
    store: Store, name: str, model: str, traffic: dict[int, int], options: dict[str, Any]
) -> Path:
    """Write the model folders and the manifest for ``traffic``; returns the manifest's path."""
    check_split(traffic, None)
    target = folder(store, name)
    target.mkdir(parents=True, exist_ok=True)
    newest = max(traffic)
    record = registry.get(store, f"{model}@{newest}")
    check_flavor(record.ref, record.flavor)
    model_format, _file = FORMATS[record.flavor]
    for version in traffic:
        _model_folder(store, f"{model}@{version}", target / f"model-{version}")
    base = str(options.get("storage_uri") or target.resolve().as_uri())
    if options.get("storage_uri"):
        _upload(target, base, list(traffic))
    canary = traffic[newest] if len(traffic) == 2 else None
    document = manifest(
        name,
        str(options.get("namespace", "default")),
        model_format,
        f"{base.rstrip('/')}/model-{newest}",
        canary,
    )
    path = target / "inferenceservice.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def apply(path: Path) -> str:
    """``kubectl apply -f PATH`` when a cluster is configured; what happened, in words."""
    kubectl = shutil.which("kubectl")
    config = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    if kubectl is None or not Path(config.split(os.pathsep)[0]).exists():
        return (
            f"written to {path}; not applied: no kubectl with a kubeconfig here "
            f"(apply it with: kubectl apply -f {path})"
        )
    done = subprocess.run(
        [kubectl, "apply", "-f", str(path)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return f"kubectl apply failed ({done.returncode}): {(done.stderr or done.stdout)[-500:]}"
    return f"applied: {done.stdout.strip()}"


def delete(path: Path) -> str:
    """``kubectl delete -f PATH`` for an applied endpoint; what happened, in words."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return f"not deleted from the cluster: no kubectl here (kubectl delete -f {path})"
    done = subprocess.run(
        [kubectl, "delete", "-f", str(path)], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or done.stderr.strip()


def _model_folder(store: Store, reference: str, dest: Path) -> None:
    if dest.exists():
        return  # a version's files never change
    loaded = registry.load_model(reference, store)
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    if loaded.record.flavor == "sklearn":
        import joblib

        joblib.dump(loaded.predictor.model, partial / "model.joblib")
    else:
        shutil.copy(loaded.path / "model.onnx", partial / "model.onnx")
    partial.rename(dest)


def _upload(target: Path, base: str, versions: list[int]) -> None:
    import fsspec

    fs, root = fsspec.core.url_to_fs(base)
    for version in versions:
        fs.put(
            str(target / f"model-{version}"), f"{root.rstrip('/')}/model-{version}", recursive=True
        )
