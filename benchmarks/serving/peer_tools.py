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
- LitServe: a ``LitAPI`` (``peers/litserve_server.py``) with batching on, ``LitServer`` with one
  inference worker and ``fast_queue``; requests are ``{"rows": [[...]]}`` on ``POST /predict``.
- PyTriton: the model bound to Triton Inference Server with dynamic batching
  (``peers/triton_server.py``); requests are Open Inference Protocol v2 on Triton's own HTTP
  front end (``POST /v2/models/NAME/infer``, one FP64 tensor ``input`` of shape [rows, 20]).
"""

from __future__ import annotations

import json
import os
import platform
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
LITSERVE_VERSION = "0.2.19"
# Requests per batch: the most clients at once here. The timeout is gyre's --max-wait-ms 5; of
# 0, 1 and 5 ms (and 8 requests a batch), 5 ms gave LitServe its best throughput here.
LITSERVE_MAX_BATCH = 64
LITSERVE_BATCH_TIMEOUT_S = 0.005
PYTRITON_VERSION = "0.7.0"
# Rows per batch, as gyre's --max-batch 512. No queue delay: Triton's recommended first setting
# ("dynamic_batching { }"), which here did as well as 1 ms and better than 5 ms.
TRITON_MAX_BATCH = 512
TRITON_DELAY_US = 0


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


class LitServe:
    key = "litserve"
    label = f"LitServe {LITSERVE_VERSION}"

    def __init__(self) -> None:
        self.bin: Path | None = None

    def prepare(self, workloads: list[Workload], work: Path) -> None:
        self.bin = venvs.ensure(self.key, [f"litserve=={LITSERVE_VERSION}", sklearn_pin()])

    def start(self, workload: Workload, work: Path) -> Server:
        assert self.bin is not None
        folder = work / "litserve"
        folder.mkdir(parents=True, exist_ok=True)
        port = procs.free_port()
        argv = [
            str(self.bin / "python"),
            str(PEERS / "litserve_server.py"),
            str(workload.joblib_path),
            str(port),
        ]
        env = {
            **base_env(self.bin),
            "BENCH_LITSERVE_MAX_BATCH": str(LITSERVE_MAX_BATCH),
            "BENCH_LITSERVE_BATCH_TIMEOUT_S": str(LITSERVE_BATCH_TIMEOUT_S),
        }
        log = work / "logs" / f"{self.key}-{workload.name}.log"
        return procs.start(self.label, argv, cwd=folder, env=env, port=port, log=log)

    def ready_path(self, workload: Workload) -> str:
        return "/health"  # 200 once the inference worker has loaded the model

    def score_path(self, workload: Workload) -> str:
        return "/predict"

    def body(self, rows: list[list[float]]) -> bytes:
        return json.dumps({"rows": rows}).encode()

    def predictions(self, answer: Any) -> list[Any]:
        return list(answer["predictions"])


class PyTriton:
    """Triton Inference Server from the ``nvidia-pytriton`` wheel, which ships ``tritonserver``
    and a Python-backend stub per Python version. The stub embeds ``libpythonX.Y.so`` found by
    the dynamic loader; PyTriton's installation guide has ``LD_LIBRARY_PATH`` name the
    environment's Python ``LIBDIR``, and so does this benchmark. Without it the stub would take
    the system's libpython (Debian 12: 3.11.2) with this Python's standard library (3.11.7), and
    the model fails to load (``'_thread.RLock' object has no attribute '_recursion_count'``).
    ``prepare`` checks for that before anything starts and says why the peer is skipped."""

    key = "pytriton"
    label = f"PyTriton {PYTRITON_VERSION}"
    pausable = False  # stopped and continued, Triton's Python backend crashes (suite._others)

    def __init__(self) -> None:
        self.bin: Path | None = None
        self.library_path = ""

    def prepare(self, workloads: list[Workload], work: Path) -> None:
        machine = platform.machine()
        if platform.system() != "Linux" or machine not in ("x86_64", "aarch64"):
            raise venvs.Unavailable(
                f"nvidia-pytriton ships tritonserver for Linux x86_64 and aarch64 only, "
                f"not {platform.system()} {machine}"
            )
        self.bin = venvs.ensure(self.key, [f"nvidia-pytriton=={PYTRITON_VERSION}", sklearn_pin()])
        self.library_path = _check_triton_stub(self.bin / "python")

    def start(self, workload: Workload, work: Path) -> Server:
        assert self.bin is not None
        workspace = work / "pytriton" / workload.name
        workspace.parent.mkdir(parents=True, exist_ok=True)
        port, grpc_port, metrics_port = procs.free_port(), procs.free_port(), procs.free_port()
        argv = [
            str(self.bin / "python"),
            str(PEERS / "triton_server.py"),
            workload.name,
            str(workload.joblib_path),
            str(workspace),
            *(str(p) for p in (port, grpc_port, metrics_port)),
        ]
        env = {
            **base_env(self.bin),
            "LD_LIBRARY_PATH": self.library_path,
            "BENCH_TRITON_MAX_BATCH": str(TRITON_MAX_BATCH),
            "BENCH_TRITON_DELAY_US": str(TRITON_DELAY_US),
        }
        log = work / "logs" / f"{self.key}-{workload.name}.log"
        return procs.start(self.label, argv, cwd=work, env=env, port=port, log=log)

    def ready_path(self, workload: Workload) -> str:
        return f"/v2/models/{workload.name}/ready"

    def score_path(self, workload: Workload) -> str:
        return f"/v2/models/{workload.name}/infer"

    def body(self, rows: list[list[float]]) -> bytes:
        flat = [value for row in rows for value in row]
        tensor = {"name": "input", "shape": [len(rows), len(FEATURES)], "datatype": "FP64"}
        return json.dumps({"inputs": [{**tensor, "data": flat}]}).encode()

    def predictions(self, answer: Any) -> list[Any]:
        return list(answer["outputs"][0]["data"])


_STUB_CHECK = """
import json, sys, sysconfig
from pytriton.utils.distribution import get_stub_path
libdir = sysconfig.get_config_var("LIBDIR") or ""
shared = bool(sysconfig.get_config_var("Py_ENABLE_SHARED"))
print(json.dumps({
    "stub": str(get_stub_path(f"{sys.version_info[0]}.{sys.version_info[1]}")),
    "libdir": libdir if shared else "",
    "version": sys.version.split()[0],
}))
"""

_LIBPYTHON_VERSION = (
    "import ctypes, sys; f = ctypes.CDLL(sys.argv[1]).Py_GetVersion; "
    "f.restype = ctypes.c_char_p; print(f().decode().split()[0])"
)


def _check_triton_stub(python: Path) -> str:
    """The ``LD_LIBRARY_PATH`` for tritonserver, once the Python-backend stub is known to load
    a libpython of this very Python version.

    Raises:
        venvs.Unavailable: a library the stub needs is missing, or its libpython is another
            Python's (the model would fail to load); the message says which.
    """
    done = subprocess.run(
        [str(python), "-c", _STUB_CHECK], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise venvs.Unavailable(f"PyTriton has no stub here: {done.stderr.strip()[-300:]}")
    found = json.loads(done.stdout)
    library_path = os.pathsep.join(
        p for p in (found["libdir"], os.environ.get("LD_LIBRARY_PATH", "")) if p
    )
    ldd = subprocess.run(
        ["ldd", found["stub"]],
        capture_output=True,
        text=True,
        env={**os.environ, "LD_LIBRARY_PATH": library_path},
        timeout=60,
    )
    missing = [ln.split()[0] for ln in ldd.stdout.splitlines() if "not found" in ln]
    if ldd.returncode != 0 or missing:
        why = ", ".join(missing) or ldd.stderr.strip()[-200:]
        hint = (
            f" (this Python {found['version']} has no shared libpython: use one built with "
            "--enable-shared, or install the system's, e.g. Debian's libpython3.11)"
            if any("libpython" in m for m in missing)
            else ""
        )
        raise venvs.Unavailable(f"Triton's Python-backend stub cannot load {why}{hint}")
    libpython = next(
        (
            ln.split("=>")[1].split("(")[0].strip()
            for ln in ldd.stdout.splitlines()
            if "libpython" in ln and "=>" in ln
        ),
        "",
    )
    if not libpython:
        return library_path
    probe = subprocess.run(
        [str(python), "-c", _LIBPYTHON_VERSION, libpython],
        capture_output=True,
        text=True,
        timeout=60,
    )
    version = probe.stdout.strip()
    if probe.returncode != 0 or version != found["version"]:
        raise venvs.Unavailable(
            f"Triton's Python-backend stub would embed {libpython} (Python "
            f"{version or 'unknown'}) under the environment's Python {found['version']}: the "
            "model would fail to load (their standard libraries differ). Use a Python built "
            "with --enable-shared, or the system's Python, for this benchmark"
        )
    return library_path
