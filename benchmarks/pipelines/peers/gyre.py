"""gyre: ``@gyre.step`` functions chained by a ``@gyre.pipeline``, run with ``gyre run``.

The re-run is the same command again: every step's cache key (code, inputs, params) is
unchanged, so all ten steps are reused.
"""

from __future__ import annotations

import sys
from pathlib import Path

from workloads import STEPS, step_bodies

from peers.base import Peer, Project

FLOW = f"""
import gyre

import chain_steps


@gyre.step
def s0(x: str) -> str:
    return chain_steps.first(x)


@gyre.step
def nth(value: str, i: int) -> str:
    return chain_steps.nth(value, i)


@gyre.pipeline
def chain(x: str = "default"):
    value = s0(x=x)
    for i in range(1, {STEPS}):
        value = nth.named(f"s{{i}}")(value, i=i)
"""


class Gyre(Peer):
    name = "gyre"
    reuse = "same command again (all steps reused)"
    reuse_marker = ": reused ("

    def env(self, project: Project) -> dict[str, str]:
        return {"GYRE_URI": str(project.dir / ".gyre")}

    def write(self, project: Project) -> None:
        (project.dir / "chain_steps.py").write_text(step_bodies(project.workload))
        (project.dir / "flow.py").write_text(FLOW)

    def setup(self, project: Project) -> list[list[str]]:
        return [[str(project.bin / "gyre"), "init"]]

    def first_run(self, project: Project, value: str) -> list[str]:
        return [str(project.bin / "gyre"), "run", "flow.py:chain", "--param", f"x={value}"]

    def rerun(self, project: Project, value: str) -> list[str]:
        return self.first_run(project, value)


def project_python() -> Path:
    """gyre runs from the project's own environment (the one running this benchmark)."""
    return Path(sys.executable)
