"""Ids in tables are never cut: piped, or in a terminal narrower than the table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import copy_resource

GYRE = [sys.executable, "-m", "gyre.cli.main"]


def test_run_ids_stay_whole_when_piped_and_in_a_narrow_terminal(project: Path) -> None:
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    subprocess.run([*GYRE, "init"], check=True, capture_output=True)
    for _ in range(2):
        subprocess.run([*GYRE, "run", "chain.py:chain"], check=True, capture_output=True)
    listed = subprocess.run([*GYRE, "runs", "list", "--json"], capture_output=True, text=True)
    ids = [r["id"] for r in json.loads(listed.stdout)]
    piped = subprocess.run([*GYRE, "runs", "list"], capture_output=True, text=True)
    assert all(run_id in piped.stdout for run_id in ids), piped.stdout
    assert "…" not in piped.stdout
    narrow = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, rich.console as c; c.Console.is_terminal = property(lambda s: True); "
            "from gyre.cli.main import main; sys.exit(main(sys.argv[1:]))",
            "runs",
            "list",
        ],
        capture_output=True,
        text=True,
        env={"COLUMNS": "40", "PATH": "/usr/bin:/bin", "TERM": "xterm"},
    )
    assert narrow.returncode == 0, narrow.stderr
    assert all(run_id in narrow.stdout for run_id in ids), narrow.stdout
    shown = subprocess.run([*GYRE, "runs", "show", ids[0][:6]], capture_output=True, text=True)
    assert shown.returncode == 0 and ids[0] in shown.stdout, "a unique prefix is accepted"
