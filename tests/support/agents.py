"""A real ``gyre agent`` process in a project folder, as users run it."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path


class AgentProcess:
    """``gyre agent --poll 0.2`` in ``project``, its output in ``agent-N.log``."""

    count = 0

    def __init__(self, project: Path, *args: str) -> None:
        AgentProcess.count += 1
        self.log = project / f"agent-{AgentProcess.count}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gyre.cli.main", "agent", "--poll", "0.2", *args],
            stdout=open(self.log, "w"),  # noqa: SIM115 - the agent's own log, kept open
            stderr=subprocess.STDOUT,
            cwd=project,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=60)

    def output(self) -> str:
        return self.log.read_text()
