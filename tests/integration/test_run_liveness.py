"""A run whose process was killed is shown as killed, not as running forever."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import copy_resource
from gyre.store import Store
from gyre.store import runs as run_rows

GYRE = [sys.executable, "-m", "gyre.cli.main"]


def test_a_sigkilled_run_is_listed_as_killed(workspace: Store, project: Path) -> None:
    copy_resource("good/behaviours.py", project)
    gate = project / "never-opened"
    process = subprocess.Popen(
        [*GYRE, "run", "behaviours.py:waiting", "--param", f"path={gate}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    run_id = None
    while run_id is None:
        assert time.monotonic() < deadline, "the run did not start"
        with workspace.read() as conn:
            running = run_rows.select_runs(
                conn, "WHERE kind = ? AND status = ?", ["pipeline", "running"]
            )
        run_id = running[0].id if running else None
        time.sleep(0.1)
    listed = subprocess.run([*GYRE, "runs", "list", "--json"], capture_output=True, text=True)
    assert {r["id"]: r["status"] for r in json.loads(listed.stdout)}[run_id] == "running"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    listed = subprocess.run([*GYRE, "runs", "list", "--json"], capture_output=True, text=True)
    assert {r["id"]: r["status"] for r in json.loads(listed.stdout)}[run_id] == "killed"
    shown = subprocess.run(
        [*GYRE, "runs", "show", run_id, "--json"], capture_output=True, text=True
    )
    assert json.loads(shown.stdout)["status"] == "killed"
