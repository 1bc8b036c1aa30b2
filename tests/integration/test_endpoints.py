"""Endpoints on the local target: real agents, real serving processes, real HTTP clients.

Each test registers three versions of a small scikit-learn model, starts ``gyre agent`` as a
user does, and drives ``gyre endpoint`` through the capability the CLI calls (or the CLI
itself for what users type). Traffic changes happen under load from several client threads,
and the processes are killed with SIGKILL where a machine would lose them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import gyre
from gyre import endpoints
from gyre.errors import Conflict, InvalidParameter, NotFound
from gyre.store import Store
from gyre.tracking.liveness import process_exists
from gyre.workspace.audit_log import entries as list_entries
from support.agents import AgentProcess
from support.model_files import spoil_model_files
from support.ports import free_port
from support.scoring_load import ROW, Load
from support.waiting import wait_for

pytestmark = pytest.mark.slow


def register_versions(count: int = 3) -> None:
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(rng.rand(200, 3), columns=list(ROW))
    labels = (frame["f 1"] > 0.5).astype(int)
    for number in range(count):
        model = LogisticRegression(C=10.0**-number).fit(frame, labels)
        gyre.register_model("clf", model, input_example=frame.head(2))


def serving(store: Store, name: str) -> endpoints.EndpointRow:
    row = endpoints.get(store, name)
    return wait_for(
        lambda: (r := endpoints.get(store, name)).applied_generation == r.generation and r,
        90,
        f"endpoint {name} to serve (last error: {row.last_error})",
    )


def dataset_rows(project: Path, name: str) -> int:
    shown = subprocess.run(
        [sys.executable, "-m", "gyre.cli.main", "data", "show", name, "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(shown.stdout)
    return sum(p["rows"] for p in info.get("partitions", []))


@pytest.fixture
def agent(workspace: Store, project: Path) -> Iterator[AgentProcess]:
    register_versions()
    process = AgentProcess(project)
    yield process
    process.stop(signal.SIGINT)
    for row in endpoints.list_endpoints(workspace):  # no serving process outlives its test
        endpoints.delete(workspace, row.name)


def test_split_shadow_and_live_changes_under_load_drop_no_request(
    workspace: Store, project: Path, agent: AgentProcess
) -> None:
    row = endpoints.create(workspace, "web", "clf@1")
    serving(workspace, "web")
    pid = endpoints.get(workspace, "web").pid
    with Load(row.url) as load:
        wait_for(lambda: load.answered() > 50, what="requests before the change")
        endpoints.set_traffic(workspace, "web", {"1": "90", "2": "10"}, shadow="3")
        serving(workspace, "web")
        mark = len(load.versions)
        wait_for(lambda: len(load.versions) >= mark + 220, what="requests on the 90/10 split")
        split = Counter(load.versions[mark + 20 : mark + 220])
        endpoints.set_traffic(workspace, "web", {"2": "100"}, shadow="none")
        serving(workspace, "web")
        swapped = time.time()  # requests sent from now on reach the new split
        wait_for(lambda: len(load.versions_sent_after(swapped)) > 100, what="requests after it")
        after = Counter(load.versions_sent_after(swapped))
    assert load.failures == []
    assert set(load.statuses) == {200}, load.statuses
    assert split[2] in range(10, 41) and split[1] + split[2] == 200, (
        split
    )  # 10% of 200, give or take
    assert set(after) == {2}, after
    current = endpoints.get(workspace, "web")
    assert current.pid == pid and current.restarts == 0  # changed live, never restarted
    assert current.traffic == {2: 100} and current.shadow is None
    answered = len(load.versions)
    endpoints.delete(workspace, "web")  # the process converts what it collected, then exits
    assert not process_exists(pid)
    assert dataset_rows(project, "web-inference") >= answered
    assert dataset_rows(project, "web-shadow-inference") > 0  # the shadow's copies
    actions = [e.action for e in list_entries(workspace, subject="endpoint web")]
    assert actions.count("endpoint.traffic") == 2 and "endpoint.delete" in actions


def test_a_pinned_version_and_the_answering_version_header(
    workspace: Store, project: Path, agent: AgentProcess
) -> None:
    row = endpoints.create(workspace, "pin", "clf@1")
    endpoints.set_traffic(workspace, "pin", {"1": "50", "2": "50"})
    serving(workspace, "pin")
    seen = [
        httpx.post(f"{row.url}/score", json=[ROW], timeout=30).headers["gyre-model-version"]
        for _ in range(10)
    ]
    assert Counter(seen) == {"1": 5, "2": 5}  # smooth weighted round robin: exact shares
    pinned = httpx.post(
        f"{row.url}/v2/models/clf/infer",
        headers={"gyre-model-version": "2"},
        json={
            "inputs": [
                {"name": name, "shape": [1], "datatype": "FP64", "data": [value]}
                for name, value in ROW.items()
            ]
        },
        timeout=30,
    )
    assert pinned.status_code == 200 and pinned.json()["model_version"] == "2"
    missing = httpx.post(
        f"{row.url}/score/pin", json=[ROW], headers={"gyre-model-version": "3"}, timeout=30
    )
    assert missing.status_code == 404 and "no version 3" in missing.text


def test_a_killed_serving_process_is_restarted_on_its_port_and_loses_no_answered_row(
    workspace: Store, project: Path, agent: AgentProcess
) -> None:
    row = endpoints.create(workspace, "hard", "clf@1")
    first = serving(workspace, "hard")
    answered = 0
    with httpx.Client(timeout=30) as client:
        for _ in range(30):
            answered += client.post(f"{row.url}/score", json=[ROW]).status_code == 200
        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
        again = wait_for(
            lambda: (
                (r := endpoints.get(workspace, "hard")).pid not in (None, first.pid)
                and r.applied_generation
                and r
            ),
            90,
            "the restart",
        )
        for _ in range(10):
            answered += client.post(f"{row.url}/score", json=[ROW]).status_code == 200
    assert answered == 40
    assert again.port == first.port and again.restarts == 1
    endpoints.delete(workspace, "hard")
    assert dataset_rows(project, "hard-inference") == 40
    actions = [e.action for e in list_entries(workspace, subject="endpoint hard")]
    assert "endpoint.restart" in actions


def test_an_agent_killed_and_restarted_adopts_the_serving_process(
    workspace: Store, project: Path, agent: AgentProcess
) -> None:
    row = endpoints.create(workspace, "calm", "clf@1")
    pid = serving(workspace, "calm").pid
    agent.stop(signal.SIGKILL)
    assert httpx.post(f"{row.url}/score", json=[ROW], timeout=30).status_code == 200
    second = AgentProcess(project)
    try:
        wait_for(
            lambda: (
                endpoints.get(workspace, "calm").supervisor == f"{os.uname().nodename}:{second.pid}"
            ),
            60,
            "the new agent to take the lease",
        )
        time.sleep(1.5)  # a few ticks: it must not start a second process
        current = endpoints.get(workspace, "calm")
        assert current.pid == pid and current.restarts == 0
        starts = [
            e
            for e in list_entries(workspace, subject="endpoint calm")
            if e.action.endswith("start")
        ]
        assert len(starts) == 1
    finally:
        second.stop(signal.SIGINT)


def test_a_change_that_cannot_load_leaves_the_endpoint_serving_what_it_did(
    workspace: Store, project: Path, agent: AgentProcess
) -> None:
    row = endpoints.create(workspace, "keep", "clf@1")
    serving(workspace, "keep")
    spoil_model_files(workspace, "clf@3")
    changed = endpoints.set_traffic(workspace, "keep", {"3": "100"})
    wait_for(lambda: endpoints.get(workspace, "keep").last_error, 60, "the load error")
    current = endpoints.get(workspace, "keep")
    assert current.applied_generation == changed.generation - 1
    assert "not applied" in (current.last_error or "")
    answer = httpx.post(f"{row.url}/score", json=[ROW], timeout=30)
    assert answer.status_code == 200 and answer.headers["gyre-model-version"] == "1"


def test_bad_endpoint_input_names_the_field_and_the_fix(workspace: Store, project: Path) -> None:
    register_versions(2)
    with pytest.raises(InvalidParameter, match="Say which version"):
        endpoints.create(workspace, "a", "clf")
    with pytest.raises(NotFound, match="clf"):
        endpoints.create(workspace, "a", "clf@9")
    with pytest.raises(InvalidParameter, match="'nomad' is unknown; endpoints run on: local"):
        endpoints.create(workspace, "a", "clf@1", target="nomad")
    with pytest.raises(InvalidParameter, match="not allowed"):
        endpoints.create(workspace, "no spaces", "clf@1")
    port = free_port()
    endpoints.create(workspace, "a", "clf@1", port=port)
    with pytest.raises(Conflict, match="exists"):
        endpoints.create(workspace, "a", "clf@1")
    with pytest.raises(Conflict, match=f"Port {port}.*belongs to endpoint 'a'"):
        endpoints.create(workspace, "b", "clf@1", port=port)
    with pytest.raises(InvalidParameter, match=r"add up to 110 \(100 \+ 10\)"):
        endpoints.set_traffic(workspace, "a", {"1": "100", "2": "10"})
    with pytest.raises(InvalidParameter, match="whole percent"):
        endpoints.set_traffic(workspace, "a", {"1": "ninety", "2": "10"})
    with pytest.raises(InvalidParameter, match="traffic: .*version 7"):
        endpoints.set_traffic(workspace, "a", {"7": "100"})
    with pytest.raises(InvalidParameter, match="cannot be the shadow"):
        endpoints.set_traffic(workspace, "a", {"1": "50", "2": "50"}, shadow="2")
    with pytest.raises(NotFound, match="No endpoint named 'b'.*Endpoints: a"):
        endpoints.set_traffic(workspace, "b", {"1": "100"})
    assert endpoints.get(workspace, "a").generation == 1  # nothing above changed it
    endpoints.delete(workspace, "a")


def test_a_port_taken_by_another_program_is_the_endpoints_error(
    workspace: Store, project: Path, agent: AgentProcess
) -> None:
    import socket

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        endpoints.create(workspace, "busy", "clf@1", port=port)
        row = wait_for(
            lambda: (r := endpoints.get(workspace, "busy")).last_error and r, 60, "the error"
        )
        assert f"127.0.0.1:{port}" in (row.last_error or "")
        shown = subprocess.run(
            [sys.executable, "-m", "gyre.cli.main", "endpoint", "show", "busy"],
            cwd=project,
            capture_output=True,
            text=True,
        )
        assert "last error" in shown.stdout and str(port) in shown.stdout
