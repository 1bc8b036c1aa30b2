"""What a Ray worker runs for one step attempt.

The worker imports the pipeline from the project folder (in place on the driver's host, else
the working directory shipped by Ray's runtime environment), traces it with the run's
parameters to find its step, opens the workspace itself (the same SQLite file on one host;
PostgreSQL plus an object store across hosts), and runs the step exactly as a local step
process would: outputs go through gyre's blob store, so reuse, lineage and digests are the
same on both executors. stdout and stderr (including those of script steps' child processes)
reach the run while the step runs: appended to the step's log file on the driver's host, else
streamed back through a Ray queue.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

FLUSH_S = 0.2


def _store(settings: dict[str, Any]) -> Any:
    from gyre.config import WorkspaceSettings, _settings_for_uri, embedded_settings
    from gyre.store import open_store

    if settings["embedded"]:
        resolved = embedded_settings(Path(settings["local_dir"]))
        if settings["artifacts_url"] != resolved.artifacts_url:
            resolved = WorkspaceSettings(
                resolved.db_url,
                settings["artifacts_url"],
                resolved.local_dir,
                settings["artifacts_options"],
            )
    else:
        base = _settings_for_uri(settings["db_url"], settings["artifacts_url"], "ray worker")
        resolved = WorkspaceSettings(
            base.db_url, base.artifacts_url, base.local_dir, settings["artifacts_options"]
        )
    return open_store(resolved)


def _point_stdio_at(fd: int) -> tuple[int, int]:
    """Make fds 1 and 2 write to ``fd``; returns copies of the old ones for ``_restore_stdio``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    return saved


def _restore_stdio(saved: tuple[int, int]) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(saved[0], 1)
    os.dup2(saved[1], 2)
    for fd in saved:
        os.close(fd)


class _LogFile:
    """Same host: fds 1 and 2 append to the step's log file, which the driver tails."""

    def __init__(self, path: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._saved = _point_stdio_at(fd)
        os.close(fd)

    def close(self) -> bytes:
        _restore_stdio(self._saved)
        return b""  # already in the log file


class _Streamer:
    """Reads a pipe that fds 1 and 2 point at; sends chunks to the driver's queue."""

    def __init__(self, queue: Any, key: str) -> None:
        self.queue = queue
        self.key = key
        self.captured: list[bytes] = []
        self._read, self._write = os.pipe()
        self._saved = _point_stdio_at(self._write)
        self._pending: list[bytes] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._flusher = threading.Thread(target=self._flush_loop, daemon=True)
        self._reader.start()
        self._flusher.start()

    def _pump(self) -> None:
        while chunk := os.read(self._read, 65536):
            with self._lock:
                self._pending.append(chunk)
            self.captured.append(chunk)

    def _flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        if pending and self.queue is not None:
            try:
                self.queue.put((self.key, b"".join(pending)), timeout=5)
            except Exception:  # the driver may be gone; the log is still returned at the end
                return

    def _flush_loop(self) -> None:
        while not self._done.wait(FLUSH_S):
            self._flush()

    def close(self) -> bytes:
        _restore_stdio(self._saved)
        os.close(self._write)
        self._reader.join(timeout=10)
        os.close(self._read)
        self._done.set()
        self._flusher.join(timeout=10)
        self._flush()
        return b"".join(self.captured)


def run_step(spec: dict[str, Any], queue: Any) -> dict[str, Any]:
    """Run one attempt; returns {"outputs": ...} or {"error": ...} and the step's log."""
    from gyre.pipelines.dataset_inputs import DatasetPins
    from gyre.pipelines.dsl import trace
    from gyre.pipelines.loader import load_pipeline
    from gyre.pipelines.params import resolve_params
    from gyre.pipelines.step_keys import node_params
    from gyre.pipelines.step_process import InputSpec, StepTask, read_result, run_task

    output = _LogFile(spec["log_path"]) if "log_path" in spec else _Streamer(queue, spec["key"])
    result: dict[str, Any]
    try:
        os.environ.update(spec.get("env", {}))
        if "project_root" in spec:  # same host: the project folder in place
            os.chdir(spec["project_root"])
            if spec["project_root"] not in sys.path:
                sys.path.insert(0, spec["project_root"])
        store = _store(spec["settings"])
        pipeline = load_pipeline(f"{spec['pipeline_file']}:{spec['pipeline']}")
        values = resolve_params(pipeline, spec["params"])
        values = DatasetPins(store).pin_values(values)
        node = trace(pipeline, values)[spec["node"]]
        scratch = Path(tempfile.mkdtemp(prefix="gyre-ray-step-"))
        task = StepTask(
            node=node,
            step_run_id=spec["step_run_id"],
            params=node_params(node, values),
            inputs={k: InputSpec(**v) for k, v in spec["inputs"].items()},
            scratch=scratch,
        )
        code = run_task(task, store)
        result = read_result(task) or {"error": f"the step exited with code {code} and no result"}
        store.close()
    except BaseException as exc:  # reported as the attempt's error; the traceback is in the log
        import traceback

        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        log = output.close()
    result["log"] = log.decode(errors="replace")
    result["host"] = os.uname().nodename
    result["pid"] = os.getpid()
    result["finished"] = time.time()
    cleaned: dict[str, Any] = json.loads(json.dumps(result, default=str))
    return cleaned
