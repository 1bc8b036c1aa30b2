"""Metaflow: a ``FlowSpec`` with ``start``, eight middle steps and ``end``, run locally.

Metaflow has no cross-run step cache; its reuse is ``resume``, which clones every finished
task of the latest run and re-runs from the named step. Resuming the last step (``end``) is
the closest to "re-run, reuse everything".
"""

from __future__ import annotations

from workloads import STEPS, step_bodies

from peers.base import Peer, Project


def _flow() -> str:
    names = ["start", *[f"s{i}" for i in range(1, STEPS - 1)], "end"]
    steps = [
        "    @step\n"
        "    def start(self):\n"
        "        self.value = chain_steps.first(self.x)\n"
        f"        self.next(self.{names[1]})\n"
    ]
    for i, name in enumerate(names[1:], start=1):
        then = f"        self.next(self.{names[i + 1]})\n" if name != "end" else ""
        steps.append(
            "    @step\n"
            f"    def {name}(self):\n"
            f"        self.value = chain_steps.nth(self.value, {i})\n{then}"
        )
    body = "\n".join(steps)
    return (
        "from metaflow import FlowSpec, Parameter, step\n\n"
        "import chain_steps\n\n\n"
        "class ChainFlow(FlowSpec):\n"
        '    x = Parameter("x", default="default")\n\n'
        f"{body}\n\n"
        'if __name__ == "__main__":\n'
        "    ChainFlow()\n"
    )


class Metaflow(Peer):
    name = "metaflow"
    requirements = ("metaflow==2.19.39",)
    reuse = "resume end (clones 9 tasks, re-runs end)"
    reuse_marker = "Cloning previously run task"
    expected_reused = STEPS - 1

    def env(self, project: Project) -> dict[str, str]:
        return {
            "USER": "bench",
            "METAFLOW_USER": "bench",
            "METAFLOW_DEFAULT_DATASTORE": "local",
            "METAFLOW_DEFAULT_METADATA": "local",
            "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(project.dir),
        }

    def write(self, project: Project) -> None:
        (project.dir / "chain_steps.py").write_text(step_bodies(project.workload))
        (project.dir / "flow.py").write_text(_flow())

    def first_run(self, project: Project, value: str) -> list[str]:
        return [str(project.python), "flow.py", "--no-pylint", "run", "--x", value]

    def rerun(self, project: Project, value: str) -> list[str]:
        return [str(project.python), "flow.py", "--no-pylint", "resume", "end"]
