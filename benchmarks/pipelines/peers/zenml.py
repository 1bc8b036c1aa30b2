"""ZenML: ``@step`` functions chained in a ``@pipeline``, on the default local stack.

The local store is SQLite under the project's ``ZENML_CONFIG_PATH``; steps are cached by
default (code, parameters and input artifacts), so the re-run is the same command again.
"""

from __future__ import annotations

from workloads import STEPS, step_bodies

from peers.base import Peer, Project

FLOW = f"""
import sys

from zenml import pipeline, step

import chain_steps


@step
def s0(x: str) -> str:
    return chain_steps.first(x)


@step
def nth(value: str, i: int) -> str:
    return chain_steps.nth(value, i)


@pipeline(name="chain")
def chain(x: str = "default") -> None:
    value = s0(x=x)
    for i in range(1, {STEPS}):
        value = nth(value, i=i, id=f"s{{i}}")


if __name__ == "__main__":
    chain(x=sys.argv[1])
"""


class ZenML(Peer):
    name = "zenml"
    requirements = ("zenml[local]==0.98.0",)
    reuse = "same command again (steps cached)"
    reuse_marker = "Using cached version of step"
    slow = True

    def env(self, project: Project) -> dict[str, str]:
        return {
            "ZENML_CONFIG_PATH": str(project.dir / "zenml-config"),
            "ZENML_ANALYTICS_OPT_IN": "false",
            "ZENML_LOGGING_COLORS_DISABLED": "true",
        }

    def write(self, project: Project) -> None:
        (project.dir / "chain_steps.py").write_text(step_bodies(project.workload))
        (project.dir / "flow.py").write_text(FLOW)

    def setup(self, project: Project) -> list[list[str]]:
        return [[str(project.bin / "zenml"), "init"]]

    def first_run(self, project: Project, value: str) -> list[str]:
        return [str(project.python), "flow.py", value]

    def rerun(self, project: Project, value: str) -> list[str]:
        return self.first_run(project, value)
