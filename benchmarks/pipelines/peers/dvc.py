"""DVC: ten ``dvc.yaml`` stages, each a small script reading the previous stage's output file.

Stage 0 depends on the parameter ``x`` in ``params.yaml``; a first run writes a new value
there and calls ``dvc repro``. The re-run is ``dvc repro`` again, which skips every stage
whose dependencies, parameters and outputs are unchanged.
"""

from __future__ import annotations

import json

from workloads import STEPS, step_bodies

from peers.base import Peer, Project

STAGE_SCRIPT = """
import sys

import chain_steps

i = int(sys.argv[1])
if i == 0:
    import yaml

    with open("params.yaml") as f:
        value = chain_steps.first(yaml.safe_load(f)["x"])
else:
    with open(f"v{i - 1}.txt") as f:
        value = chain_steps.nth(f.read(), i)
with open(f"v{i}.txt", "w") as f:
    f.write(value)
"""


def _dvc_yaml(python: str) -> str:
    stages: dict[str, dict[str, list[str] | str]] = {}
    for i in range(STEPS):
        stage: dict[str, list[str] | str] = {
            "cmd": f"{python} stage.py {i}",
            "deps": ["stage.py", "chain_steps.py"] + ([f"v{i - 1}.txt"] if i else []),
        }
        if i == 0:
            stage["params"] = ["x"]
        stage["outs"] = [f"v{i}.txt"]
        stages[f"s{i}"] = stage
    return json.dumps({"stages": stages}, indent=2)  # JSON is YAML


class DVC(Peer):
    name = "dvc"
    requirements = ("dvc==3.67.1",)
    reuse = "dvc repro again (all stages skipped)"
    reuse_marker = "didn't change, skipping"

    def env(self, project: Project) -> dict[str, str]:
        return {
            "DVC_NO_ANALYTICS": "1",
            "DVC_SITE_CACHE_DIR": str(project.dir / "dvc-site-cache"),
        }

    def write(self, project: Project) -> None:
        (project.dir / "chain_steps.py").write_text(step_bodies(project.workload))
        (project.dir / "stage.py").write_text(STAGE_SCRIPT)
        (project.dir / "dvc.yaml").write_text(_dvc_yaml(str(project.python)))
        (project.dir / "params.yaml").write_text("x: default\n")

    def setup(self, project: Project) -> list[list[str]]:
        return [[str(project.bin / "dvc"), "init", "--no-scm", "-q"]]

    def first_run(self, project: Project, value: str) -> list[str]:
        (project.dir / "params.yaml").write_text(f"x: {json.dumps(value)}\n")
        return [str(project.bin / "dvc"), "repro"]

    def rerun(self, project: Project, value: str) -> list[str]:
        return [str(project.bin / "dvc"), "repro"]
