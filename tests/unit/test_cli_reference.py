"""docs/cli.md is generated from --help and must match the commands as they are."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_cli_reference_is_current() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cli_reference.py"), "--check"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert done.returncode == 0, done.stdout


def test_the_cli_reference_shows_what_the_cli_prints() -> None:
    env = {**os.environ, "COLUMNS": "100"}
    for command in (["runs", "list"], [], ["model", "alias"]):
        printed = subprocess.run(
            [sys.executable, "-m", "gyre.cli.main", *command, "-h"],
            capture_output=True,
            text=True,
            env=env,
        )
        assert printed.returncode == 0, printed.stderr
        heading = "## `" + " ".join(["gyre", *command]) + "`"
        section = (ROOT / "docs" / "cli.md").read_text().split(heading + "\n", 1)[1]
        documented = section.split("```\n", 2)[1]
        assert documented.strip() == printed.stdout.strip(), command
