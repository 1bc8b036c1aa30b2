"""The peers, each in its own pinned environment, each served as its documentation shows.

- MLServer (Seldon): a model folder with ``model-settings.json`` (``mlserver_sklearn``), then
  ``mlserver start``; requests are Open Inference Protocol v2 (``POST /v2/models/NAME/infer``
  with one FP64 tensor of shape [rows, 20]). Its defaults stand: one inference worker process
  (``parallel_workers``), adaptive batching off, metrics on.
- MLflow: ``mlflow.sklearn.log_model`` into a local file store (``peers/mlflow_log.py``), then
  ``mlflow models serve --env-manager local`` (one uvicorn worker, its default); requests are
  ``{"dataframe_split": {"columns", "data"}}`` on ``POST /invocations``.
- BentoML: a ``@bentoml.service`` (``peers/bento_service.py``, one worker, its default) served
  with ``bentoml serve``; requests are ``{"rows": [[...]]}`` on ``POST /predict``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import procs
import venvs
from procs import Server
from tools import base_env, sklearn_pin
from workload import FEATURES, Workload

PEERS = Path(__file__).resolve().parent / "peers"
MLSERVER_VERSION = "1.7.1"
MLFLOW_VERSION = "3.17.2"  # 3.18.0's mlflow-skinny is not on the index here
BENTOML_VERSION = "1.4.40"


class MLServer:
    key = "mlserver"
    label = f"MLServer {MLSERVER_VERSION}"

    def __init__(self) -> None:
        self.bin: Path | None = None

    def prepare(self, workloads: list[Workload], work: Path) -> None:
        self.bin = venvs.ensure(
            self.key,
            [
                f"mlserver=={MLSERVER_VERSION}",
                f"mlserver-sklearn=={MLSERVER_VERSION}",
                "uvloop==0.21.0",  # MLServer 1.7.1 fails to start with uvloop 0.22
                sklearn_pin(),
            ],
        )

    def start(self, workload: Workload, work: Path) -> Server:
        assert self.bin is not None
        folder = work / "mlserver" / workload.name
        model_folder = folder / workload.name
        model_folder.mkdir(parents=True, exist_ok=True)
        settings = {
            "name": workload.name,
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": str(workload.joblib_path)},
        }
        (model_folder / "model-settings.json").write_text(json.dumps(settings))
        port = procs.free_port()
        server_settings = {
            "http_port": port,
            "grpc_port": procs.free_port(),
            "metrics_port": procs.free_port(),
        }
        (folder / "settings.json").write_text(json.dumps(server_settings))
        return procs.start(
            self.label,
            [str(self.bin / "mlserver"), "start", str(folder)],
            cwd=folder,
            env=base_env(self.bin),
            port=port,
            log=work / "logs" / f"{self.key}-{workload.name}.log",
        )

    def ready_path(self, workload: Workload) -> str:
        return f"/v2/models/{workload.name}/ready"

    def score_path(self, workload: Workload) -> str:
        return f"/v2/models/{workload.name}/infer"

    def body(self, rows: list[list[float]]) -> bytes:
        flat = [value for row in rows for value in row]
        tensor = {"name": "input-0", "shape": [len(rows), len(FEATURES)], "datatype": "FP64"}
        return json.dumps({"inputs": [{**tensor, "data": flat}]}).encode()

    def predictions(self, answer: Any) -> list[Any]:
        return list(answer["outputs"][0]["data"])


class MLflow:
    key = "mlflow"
    label = f"MLflow {MLFLOW_VERSION}"

    def __init__(self) -> None:
        self.bin: Path | None = None
        self.tracking_uri = ""
        self.model_uris: dict[str, str] = {}

    def env(self) -> dict[str, str]:
        assert self.bin is not None
        return {
            **base_env(self.bin),
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            "MLFLOW_ALLOW_FILE_STORE": "true",  # else MLflow 3.17 refuses a file store
        }

    def prepare(self, workloads: list[Workload], work: Path) -> None:
        self.bin = venvs.ensure(self.key, [f"mlflow=={MLFLOW_VERSION}", sklearn_pin()])
        self.tracking_uri = (work / "mlflow" / "mlruns").as_uri()
        for workload in workloads:
            done = subprocess.run(
                [
                    str(self.bin / "python"),
                    str(PEERS / "mlflow_log.py"),
                    self.tracking_uri,
                    workload.name,
                    str(workload.joblib_path),
                ],
                cwd=work,
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=300,
            )
            if done.returncode != 0 or not done.stdout.strip():
                raise venvs.Unavailable(f"logging {workload.name}: {done.stderr.strip()[-400:]}")
            self.model_uris[workload.name] = done.stdout.strip().splitlines()[-1]

    def start(self, workload: Workload, work: Path) -> Server:
        assert self.bin is not None
        port = procs.free_port()
        argv = [
            str(self.bin / "mlflow"),
            "models",
            "serve",
            "-m",
            self.model_uris[workload.name],
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        log = work / "logs" / f"{self.key}-{workload.name}.log"
        return procs.start(self.label, argv, cwd=work, env=self.env(), port=port, log=log)

    def ready_path(self, workload: Workload) -> str:
        return "/ping"

    def score_path(self, workload: Workload) -> str:
        return "/invocations"

    def body(self, rows: list[list[float]]) -> bytes:
        return json.dumps({"dataframe_split": {"columns": FEATURES, "data": rows}}).encode()

    def predictions(self, answer: Any) -> list[Any]:
        return list(answer["predictions"])


class BentoML:
    key = "bentoml"
    label = f"BentoML {BENTOML_VERSION}"

    def __init__(self) -> None:
        self.bin: Path | None = None

    def prepare(self, workloads: list[Workload], work: Path) -> None:
        self.bin = venvs.ensure(self.key, [f"bentoml=={BENTOML_VERSION}", sklearn_pin()])
        folder = work / "bentoml"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(PEERS / "bento_service.py", folder / "service.py")

    def start(self, workload: Workload, work: Path) -> Server:
        assert self.bin is not None
        folder = work / "bentoml"
        port = procs.free_port()
        argv = [str(self.bin / "bentoml"), "serve", "service:Scorer", "--host", "127.0.0.1"]
        env = {
            **base_env(self.bin),
            "BENCH_MODEL": str(workload.joblib_path),
            "BENTOML_HOME": str(folder / "home"),
            "BENTOML_DO_NOT_TRACK": "True",
        }
        return procs.start(
            self.label,
            [*argv, "--port", str(port)],
            cwd=folder,
            env=env,
            port=port,
            log=work / "logs" / f"{self.key}-{workload.name}.log",
        )

    def ready_path(self, workload: Workload) -> str:
        return "/readyz"

    def score_path(self, workload: Workload) -> str:
        return "/predict"

    def body(self, rows: list[list[float]]) -> bytes:
        return json.dumps({"rows": rows}).encode()

    def predictions(self, answer: Any) -> list[Any]:
        return list(answer)
