"""No request to the team server's REST API makes a 5xx or breaks its OpenAPI document:
schemathesis over ``/api/v1/openapi.json`` with every check, as an admin (the widest reach),
against a real ``gyre server`` over a workspace with a run, a model and a dataset in it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import gyre
from gyre.store import Store
from support.team_server import TeamServer, team_server

pytestmark = pytest.mark.slow

# JSON Schema cannot say that a folder upload's bytes are a tar archive, that a submitted
# pipeline's params fit the pipeline, what the run filter's grammar is, that a registered
# model's files were sent first, or that a file's bytes have its digest: there a request the
# schema allows may get a 400 saying why.
CONFIG = """
[generation]
max-examples = 25

[[operations]]
include-path-regex = "(/artifacts/|/blobs/|/pipelines/[^/]+/runs$|/api/v1/runs$|/models/[^/]+/versions$)"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "404", "409"]
"""


@pytest.fixture
def server(workspace: Store, project: Path) -> Iterator[TeamServer]:
    frame = pd.DataFrame(np.random.RandomState(0).rand(30, 2), columns=["a b", "c"])
    frame.to_csv(project / "table.csv", index=False)
    gyre.Dataset("table").add(project / "table.csv")
    model = LogisticRegression().fit(frame, (frame["c"] > 0.5).astype(int))
    gyre.register_model("clf", model, input_example=frame.head(2))
    with gyre.start_run(experiment="fuzz"):
        gyre.log_metric("loss", 0.5)
        gyre.log_param("lr", 0.1)
    with team_server({"GYRE_URI": str(project / ".gyre")}, project) as running:
        yield running
    defects = [line for line in running.log.read_text().splitlines() if " failed" in line]
    assert not defects, "the server logged defects of its own: " + "; ".join(defects[:5])


def test_schemathesis_with_every_check_finds_no_violation(
    server: TeamServer, tmp_path: Path
) -> None:
    assert server.admin_token
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "--config-file",
            str(config),
            "run",
            f"{server.url}/api/v1/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {server.admin_token}",
            # One worker: hypothesis parses lambdas' source with ast, and two threads doing so
            # at once trip a CPython 3.11 bug ("AST constructor recursion depth mismatch").
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
