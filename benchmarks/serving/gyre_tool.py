"""gyre: ``gyre init`` in a fresh folder, ``register_model``, then ``gyre serve NAME@1``.

Two entries share one workspace: ``gyre`` (the data collector on, as shipped) and
``gyre_nocollect`` (``--no-collect``), which gives the collector's cost. ``GYRE_URI`` names the
workspace, so no ``gyre.yaml`` in a parent folder can redirect a command. After its load,
``collected_rows`` counts the rows of the endpoint's inference dataset (``gyre data show
NAME-inference --json``), and ``/metrics`` gives the server's own counts.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import procs
from procs import Server
from tools import base_env
from venvs import Unavailable
from workload import FEATURES, Workload, records

CATCH_UP_TIMEOUT_S = 120.0


def _gyre_version() -> str:
    import gyre

    return str(gyre.__version__)


def _env(folder: Path) -> dict[str, str]:
    return {**base_env(), "GYRE_URI": str(folder / ".gyre")}


class GyreWorkspace:
    """One workspace holding every model under test, registered once."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.gyre = str(Path(sys.executable).parent / "gyre")

    def env(self) -> dict[str, str]:
        assert self.folder is not None
        return _env(self.folder)

    def prepare(self, workloads: list[Workload], work: Path) -> None:
        if self.folder is not None:
            return
        import gyre
        from gyre.config import embedded_settings
        from gyre.store import open_store

        folder = work / "gyre"
        folder.mkdir(parents=True)
        done = subprocess.run(
            [self.gyre, "init"], cwd=folder, env=_env(folder), capture_output=True
        )
        if done.returncode != 0:
            raise Unavailable(f"gyre init failed: {done.stderr.decode(errors='replace')[-300:]}")
        store = open_store(embedded_settings(folder / ".gyre"))
        example = [dict.fromkeys(FEATURES, 0.0)]
        for workload in workloads:
            record = gyre.register_model(
                workload.name, workload.model, input_example=example, store=store
            )
            if record.version != 1:
                raise Unavailable(f"{workload.name} registered as version {record.version}, not 1")
        self.folder = folder

    def collected_rows(self, workload: Workload) -> int:
        """Rows in the ``NAME-inference`` dataset (0 when it does not exist)."""
        assert self.folder is not None
        done = subprocess.run(
            [self.gyre, "data", "show", f"{workload.name}-inference", "--json"],
            cwd=self.folder,
            env=self.env(),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            print(f"  gyre data show failed: {done.stderr.strip()[-300:]}")
            return 0
        shown = json.loads(done.stdout)
        return sum(int(part["rows"]) for part in shown.get("partitions", []))


class Gyre:
    def __init__(
        self,
        workspace: GyreWorkspace,
        *,
        collect: bool,
        launcher: list[str] | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        """``launcher`` replaces the ``gyre`` executable (``profile_gyre.py`` runs the server
        through ``serve_probe.py``); ``extra_args`` go after ``gyre serve NAME@1``."""
        self.workspace = workspace
        self.collect = collect
        self.launcher = launcher
        self.extra_args = extra_args or []
        self.key = "gyre" if collect else "gyre_nocollect"
        version = _gyre_version()
        self.label = f"gyre {version}" if collect else f"gyre {version} --no-collect"

    def prepare(self, workloads: list[Workload], work: Path) -> None:
        self.workspace.prepare(workloads, work)

    def start(self, workload: Workload, work: Path) -> Server:
        assert self.workspace.folder is not None
        port = procs.free_port()
        launcher = self.launcher or [self.workspace.gyre]
        argv = [*launcher, "serve", f"{workload.name}@1", "--port", str(port), *self.extra_args]
        if not self.collect:
            argv.append("--no-collect")
        log = work / "logs" / f"{self.key}-{workload.name}.log"
        return procs.start(
            self.label,
            argv,
            cwd=self.workspace.folder,
            env=self.workspace.env(),
            port=port,
            log=log,
        )

    def ready_path(self, workload: Workload) -> str:
        return "/v2/health/ready"

    def score_path(self, workload: Workload) -> str:
        return "/score"

    def body(self, rows: list[list[float]]) -> bytes:
        return json.dumps(records(rows)).encode()

    def predictions(self, answer: Any) -> list[Any]:
        return list(answer["predictions"])


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` (or, for a counter, ``name_total``) whose labels
    include ``labels`` (Prometheus text)."""
    total = 0.0
    for line in text.splitlines():
        found = re.match(rf"^{name}(?:_total)?(?:{{(.*)}})?\s+(\S+)$", line)
        if found is None:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', found.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(found.group(2))
    return total


def wait_converted(server: Server) -> float:
    """Seconds until the collector has converted every journaled row (so that its work does
    not fall into the next tool's measurement)."""
    started = time.perf_counter()
    while time.perf_counter() - started < CATCH_UP_TIMEOUT_S:
        text = server.get_text("/metrics")
        if "gyre_collector_journaled_rows" not in text:  # renamed: waiting would mean nothing
            print("  gyre's /metrics has no gyre_collector_journaled_rows: not waiting")
            return 0.0
        journaled = metric(text, "gyre_collector_journaled_rows")
        converted = metric(text, "gyre_collector_converted_rows")
        if converted >= journaled:
            return time.perf_counter() - started
        time.sleep(0.2)
    print(f"  gyre's collector had not caught up after {CATCH_UP_TIMEOUT_S:.0f} s")
    return time.perf_counter() - started
