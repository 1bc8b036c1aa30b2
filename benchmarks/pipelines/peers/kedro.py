"""Kedro, as a reference: a minimal project whose pipeline chains ten nodes, ``kedro run``.

Kedro has no step reuse, so its "re-run" is a full second run; it never counts as the best
peer.
"""

from __future__ import annotations

from workloads import STEPS, step_bodies

from peers.base import Peer, Project

PYPROJECT = """
[tool.kedro]
package_name = "chain"
project_name = "chain"
kedro_init_version = "1.7.0"
source_dir = "src"
"""

REGISTRY = f"""
from kedro.pipeline import Pipeline, node

from chain import chain_steps


def register_pipelines() -> dict[str, Pipeline]:
    nodes = [node(chain_steps.first, "params:x", "v0", name="s0")]
    for i in range(1, {STEPS}):
        nodes.append(
            node(chain_steps.nth, [f"v{{i - 1}}", f"params:i{{i}}"], f"v{{i}}", name=f"s{{i}}")
        )
    return {{"__default__": Pipeline(nodes)}}
"""


class Kedro(Peer):
    name = "kedro"
    requirements = ("kedro==1.7.0",)
    reuse = "none: a full second run (reference only)"
    reuses = False
    compared = False

    def env(self, project: Project) -> dict[str, str]:
        return {"KEDRO_DISABLE_TELEMETRY": "true"}

    def write(self, project: Project) -> None:
        package = project.dir / "src" / "chain"
        package.mkdir(parents=True)
        for conf in ("base", "local"):
            (project.dir / "conf" / conf).mkdir(parents=True)
        (project.dir / "pyproject.toml").write_text(PYPROJECT)
        (package / "__init__.py").write_text("")
        (package / "settings.py").write_text("")
        (package / "chain_steps.py").write_text(step_bodies(project.workload))
        (package / "pipeline_registry.py").write_text(REGISTRY)
        (project.dir / "conf" / "base" / "catalog.yml").write_text("")
        params = ["x: default", *[f"i{i}: {i}" for i in range(1, STEPS)]]
        (project.dir / "conf" / "base" / "parameters.yml").write_text("\n".join(params) + "\n")

    def first_run(self, project: Project, value: str) -> list[str]:
        return [str(project.bin / "kedro"), "run", "--params", f"x={value}"]

    def rerun(self, project: Project, value: str) -> list[str]:
        return self.first_run(project, value)
