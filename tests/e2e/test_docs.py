"""The commands that docs/pipelines.md shows run as written."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from support.data_files import make_images

ROOT = Path(__file__).parents[2]


def test_the_pipeline_docs_commands_run_as_written(project: Path) -> None:
    shutil.copytree(ROOT / "examples" / "quickstart", project / "examples" / "quickstart")
    text = (ROOT / "docs" / "pipelines.md").read_text()
    section = text.split("## Running", 1)[1].split("\n## ", 1)[0]
    commands = [
        line.strip()[2:] for line in section.splitlines() if line.strip().startswith("$ gyre")
    ]
    assert len(commands) >= 5
    outputs = []
    for command in commands:
        args = shlex.split(command)[1:]
        done = subprocess.run(
            [sys.executable, "-m", "gyre.cli.main", *args],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
            timeout=120,
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        outputs.append(done.stdout)
    assert "finished: 3 reused" in outputs[2]
    assert "param epochs: 20 -> 40" in outputs[3]


def test_the_data_docs_commands_run_as_written(project: Path) -> None:
    make_images(project / "products", {"dress": 6, "shoe": 1})
    (project / "sales.csv").write_text("price,region\n1.5,north\n2.5,south\n")
    subprocess.run([sys.executable, "-m", "gyre.cli.main", "init"], check=True, capture_output=True)
    text = (ROOT / "docs" / "data.md").read_text()
    section = text.split("## Registering and inspecting", 1)[1].split("\n## ", 1)[0]
    commands = [
        line.strip()[2:] for line in section.splitlines() if line.strip().startswith("$ gyre")
    ]
    assert len(commands) >= 6
    outputs = []
    for command in commands:
        done = subprocess.run(
            [sys.executable, "-m", "gyre.cli.main", *shlex.split(command)[1:]],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
            timeout=120,
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        outputs.append(done.stdout)
    assert "Unchanged: products@1" in outputs[1]
    assert "dress" in outputs[2] and "shoe" in outputs[2]


def test_the_readme_query_finds_the_quickstart_run_by_its_step_metric(project: Path) -> None:
    shutil.copytree(ROOT / "examples" / "quickstart", project / "examples" / "quickstart")
    gyre_cmd = [sys.executable, "-m", "gyre.cli.main"]
    subprocess.run([*gyre_cmd, "init"], check=True, capture_output=True, timeout=60)
    subprocess.run(
        [*gyre_cmd, "run", "examples/quickstart/pipeline.py:quickstart"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    import json

    query = ["runs", "list", "--filter", "metrics.val_accuracy > 0.9", "--json"]
    found = subprocess.run([*gyre_cmd, *query], capture_output=True, text=True, timeout=60)
    rows = json.loads(found.stdout)
    assert [r["kind"] for r in rows] == ["pipeline"], found.stdout
    assert rows[0]["metrics"]["val_accuracy"] > 0.9
