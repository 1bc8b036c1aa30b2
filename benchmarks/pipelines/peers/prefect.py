"""Prefect 3 in its default local mode: a ``@flow`` calling ``@task`` functions in sequence.

With no ``PREFECT_API_URL`` set, each ``python flow.py`` starts Prefect's temporary local
server and stops it at exit. Cross-run reuse needs a cache policy that leaves out the run id
(``INPUTS + TASK_SOURCE``) and persisted results; the re-run is the same command again.
"""

from __future__ import annotations

from workloads import STEPS, step_bodies

from peers.base import Peer, Project

FLOW = f"""
import sys

from prefect import flow, task
from prefect.cache_policies import INPUTS, TASK_SOURCE

import chain_steps

REUSE = INPUTS + TASK_SOURCE


@task(cache_policy=REUSE, persist_result=True)
def s0(x: str) -> str:
    return chain_steps.first(x)


@task(cache_policy=REUSE, persist_result=True)
def nth(value: str, i: int) -> str:
    return chain_steps.nth(value, i)


@flow(name="chain")
def chain(x: str = "default") -> str:
    value = s0(x)
    for i in range(1, {STEPS}):
        value = nth.with_options(name=f"s{{i}}")(value, i)
    return value


if __name__ == "__main__":
    chain(x=sys.argv[1])
"""


class Prefect(Peer):
    name = "prefect"
    requirements = ("prefect==3.9.1",)
    reuse = "same command again (tasks cached on inputs + source)"
    slow = True
    # Unset, not empty: an empty PREFECT_API_URL breaks Prefect's event worker.
    unset = ("PREFECT_API_URL", "PREFECT_API_KEY")
    reuse_marker = "Finished in state Cached("

    def env(self, project: Project) -> dict[str, str]:
        return {
            "PREFECT_HOME": str(project.dir / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }

    def write(self, project: Project) -> None:
        (project.dir / "chain_steps.py").write_text(step_bodies(project.workload))
        (project.dir / "flow.py").write_text(FLOW)

    def first_run(self, project: Project, value: str) -> list[str]:
        return [str(project.python), "flow.py", value]

    def rerun(self, project: Project, value: str) -> list[str]:
        return self.first_run(project, value)
