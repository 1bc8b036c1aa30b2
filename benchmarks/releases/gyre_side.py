"""gyre's side: a workspace in a temporary folder, a release definition, a real ``gyre agent``,
and model versions registered while clients score the production endpoint.

Everything goes through gyre's own entry points (``gyre init``, ``gyre.register_model``,
``gyre release apply``, ``gyre agent``, ``gyre release show --json``, ``gyre endpoint``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

BIN = Path(sys.executable).parent
MODEL = "bench"
ENDPOINT = "bench"
TEST_ENDPOINT = "bench-test"
ACTIVE = ("pending", "running", "waiting")  # a release that has not ended

DEFINITION = """\
name: bench-release
trigger:
  model: {model}
  tags: {{build: "*"}}
stages:
  - name: test
    deploy: {{endpoint: {test}}}
    checks:
      - probe: {{path: /score, body: {body}, status: 200}}
      - latency: {{p99_ms: 1000, requests: 40, concurrency: 4, body: {body}}}
  - name: production
    deploy: {{endpoint: {production}}}
    rollout:
      steps: [10, 50, 100]
      interval: {interval:g}s
      max_error_rate: 0.01
      max_p99_ms: 2500
"""


@dataclass
class Release:
    """One release as the audit log tells it."""

    id: int
    status: str
    registered_at: float  # register_model returned: the model.registered event exists
    register_call_s: float  # how long register_model itself took
    traffic: list[tuple[float, int]]  # (when, percent) of each release.traffic entry
    succeeded_at: float | None
    timeline: list[dict[str, Any]]


class GyreWorkspace:
    """A fresh workspace in ``folder`` with the definition applied and an agent running."""

    def __init__(self, folder: Path, body: list[dict[str, float]], interval_s: float) -> None:
        self.folder = folder
        self.interval_s = interval_s
        self.env = {
            **os.environ,
            "GYRE_URI": str(folder / ".gyre"),
            "GYRE_USER": "bench",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        os.environ["GYRE_URI"] = self.env["GYRE_URI"]  # for gyre.register_model in-process
        self.agent: subprocess.Popen[bytes] | None = None
        self._store: Any = None
        self.cli("init")
        (folder / "release.yaml").write_text(
            DEFINITION.format(
                model=MODEL,
                test=TEST_ENDPOINT,
                production=ENDPOINT,
                body=json.dumps(body),
                interval=interval_s,
            )
        )
        self.cli("release", "apply", "release.yaml")

    def cli(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [str(BIN / "gyre"), *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"gyre {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json"))

    def start_agent(self) -> None:
        self.agent = subprocess.Popen(
            [str(BIN / "gyre"), "agent", "--poll", "0.2"],
            cwd=self.folder,
            env=self.env,
            stdout=open(self.folder / "agent.log", "w"),  # noqa: SIM115 - kept for the run
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def register(self, model: Any, example: pd.DataFrame, build: str) -> tuple[int, float, float]:
        """Register a version; its number, when the event existed, and the call's duration."""
        import gyre

        started = time.time()
        record = gyre.register_model(MODEL, model, input_example=example, tags={"build": build})
        done = time.time()
        return record.version, done, done - started

    def store(self) -> Any:
        """The workspace, read in this process: polling through the CLI would start a Python
        process every half second on the machine whose latency is being measured."""
        from gyre.tracking.current_store import current_store

        if self._store is None:
            self._store = current_store()
        return self._store

    def release_of(self, version: int, timeout_s: float = 60) -> int:
        from gyre import releases

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for row in releases.list_releases(self.store()):
                if row.model == MODEL and row.version == version:
                    return int(row.id)
            time.sleep(0.25)
        raise RuntimeError(f"no release of {MODEL}@{version} within {timeout_s:g} s")

    def wait_release(self, release_id: int, timeout_s: float = 300) -> dict[str, Any]:
        """The release once it ended, as ``gyre release show --json`` prints it."""
        from gyre import releases

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if releases.get(self.store(), release_id).status not in ACTIVE:
                return dict(self.cli_json("release", "show", str(release_id)))
            time.sleep(0.25)
        raise RuntimeError(f"release {release_id} still running after {timeout_s:g} s")

    def release(self, model: Any, example: pd.DataFrame, build: str) -> Release:
        version, registered_at, call_s = self.register(model, example, build)
        release_id = self.release_of(version)
        shown = self.wait_release(release_id)
        timeline = shown.get("timeline", [])
        traffic = [
            (float(e["at"]), int(e["detail"]["percent"]))
            for e in timeline
            if e["action"] == "release.traffic"
        ]
        succeeded = [float(e["at"]) for e in timeline if e["action"] == "release.succeeded"]
        return Release(
            release_id,
            shown["status"],
            registered_at,
            call_s,
            traffic,
            succeeded[0] if succeeded else None,
            timeline,
        )

    def endpoint_url(self) -> str:
        return str(self.cli_json("endpoint", "show", ENDPOINT)["url"])

    def wait_serving(self, timeout_s: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            shown = self.cli_json("endpoint", "show", ENDPOINT)
            if shown.get("status") == "serving":
                return dict(shown)
            time.sleep(0.5)
        raise RuntimeError(f"endpoint {ENDPOINT} not serving after {timeout_s:g} s")

    def close(self) -> list[str]:
        """Stop the agent (SIGINT), delete the endpoints; what could not be done, in words."""
        problems = []
        if self.agent is not None and self.agent.poll() is None:
            self.agent.send_signal(signal.SIGINT)
            try:
                self.agent.wait(timeout=60)
            except subprocess.TimeoutExpired:
                problems.append("the agent ignored SIGINT for 60 s; killed")
                os.killpg(self.agent.pid, signal.SIGKILL)
                self.agent.wait()
        try:
            names = [row["name"] for row in self.cli_json("endpoint", "list")]
        except RuntimeError as exc:
            return [*problems, str(exc)]
        for name in names:
            try:
                self.cli("endpoint", "delete", name, "--yes")
            except RuntimeError as exc:
                problems.append(str(exc))
        return problems
