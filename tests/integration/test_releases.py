"""Releases end to end: a real agent drives real endpoints while clients keep scoring.

The definition has a test stage (every kind of check: a metric gate, a probe, a pytest folder,
a latency budget, champion/challenger on a held-out dataset, replay of production's traffic)
and a production stage (an approval, then a canary rollout judged on the endpoint's own
/metrics). Registering versions is all a user does, besides approving.
"""

from __future__ import annotations

import os
import signal
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import gyre
from gyre import endpoints, releases
from gyre.errors import Conflict, NotAnApprover
from gyre.registry.catalog import alias_history
from gyre.registry.models import alias_target
from gyre.store import Store
from gyre.workspace.audit_log import entries
from support.agents import AgentProcess
from support.model_files import spoil_model_files
from support.scoring_load import Load
from support.waiting import wait_for

pytestmark = pytest.mark.slow
COLUMNS = ["f 1", "f 2", "f 3"]
OK_ROW = {"f 1": 0.1, "f 2": 0.5, "f 3": 0.5}

EVERY_CHECK = """\
      - pytest: release_tests
      - latency: {p99_ms: 250, requests: 40, concurrency: 4, body: [OK]}
      - champion_challenger: {dataset: holdout@1, label: "y", margin: 0.05}
      - replay: {window: 1h, rows: 200, min_agreement: 0.9}
"""

DEFINITION = """\
name: clf-release
trigger:
  model: clf
  tags: {{build: "*"}}
stages:
  - name: test
    deploy: {{endpoint: clf-test}}
    checks:
      - metric: {{name: accuracy, min: 0.8}}
      - probe: {{path: /score, body: [{ok}], status: 200}}
{more_checks}  - name: production
    deploy: {{endpoint: clf}}
    approval: {{approvers: [alice], timeout: {timeout}}}
    rollout:
      steps: [50, 100]
      interval: 1s
      max_error_rate: 0.05
      max_p99_ms: 100
      min_requests: 5
"""

RULE_MODEL = '''\
import time


class Rule:
    """Right on every row, and slow (300 ms) on rows whose first feature is above 0.5."""

    @classmethod
    def load(cls, path):
        return cls()

    def predict(self, batch):
        if any(row["f 1"] > 0.5 for row in batch):
            time.sleep(0.3)
        return [int(row["f 1"] > 0.5) for row in batch]
'''

RELEASE_TEST = """\
import os

import httpx


def test_the_candidate_answers_on_the_stage_endpoint():
    answer = httpx.post(
        os.environ["GYRE_ENDPOINT_URL"] + "/score",
        json=[{"f 1": 0.2, "f 2": 0.2, "f 3": 0.2}],
        headers={"gyre-model-version": os.environ["GYRE_MODEL_VERSION"]},
    )
    assert answer.status_code == 200
    assert answer.headers["gyre-model-version"] == os.environ["GYRE_MODEL_VERSION"]
"""


def frame(seed: int, rows: int = 300) -> pd.DataFrame:
    data = pd.DataFrame(np.random.RandomState(seed).rand(rows, 3), columns=COLUMNS)
    return data


def register_sklearn(build: str, c: float = 1.0, accuracy: float | None = None) -> int:
    """A version of ``clf``; ``accuracy``: the metric recorded (default: measured)."""
    data = frame(0)
    labels = (data["f 1"] > 0.5).astype(int)
    model = LogisticRegression(C=c).fit(data, labels)
    if accuracy is None:
        accuracy = float((model.predict(data) == labels).mean())
    record = gyre.register_model(
        "clf",
        model,
        input_example=data.head(2),
        metrics={"accuracy": accuracy},
        tags={"build": build},
    )
    return record.version


def register_slow_rule(project: Path, build: str) -> int:
    folder = project / "rule_model"
    folder.mkdir(exist_ok=True)
    (folder / "rule.py").write_text(RULE_MODEL)
    record = gyre.register_model(
        "clf",
        folder,
        flavor="python",
        entry="rule:Rule",
        metrics={"accuracy": 1.0},
        tags={"build": build},
    )
    return record.version


def write_definition(project: Path, timeout: str = "10m", every_check: bool = False) -> None:
    """The definition; ``every_check``: every kind of check in the test stage (else a probe,
    which keeps the tests that are about something else quick)."""
    ok = "{" + ", ".join(f'"{k}": {v}' for k, v in OK_ROW.items()) + "}"
    more = EVERY_CHECK.replace("OK", ok) if every_check else ""
    (project / "release.yaml").write_text(
        DEFINITION.format(ok=ok, timeout=timeout, more_checks=more)
    )
    (project / "release_tests").mkdir(exist_ok=True)
    (project / "release_tests" / "test_stage.py").write_text(RELEASE_TEST)
    holdout = frame(1, 200)
    holdout["y"] = (holdout["f 1"] > 0.5).astype(int)
    holdout.to_csv(project / "holdout.csv", index=False)
    gyre.Dataset("holdout").add(project / "holdout.csv")


def collected(store: Store, dataset: str) -> int:
    """Rows of an endpoint's inference dataset converted so far."""
    from gyre.data.append_only import list_partitions
    from gyre.errors import NotFound

    try:
        return sum(p.rows for p in list_partitions(store, dataset))
    except NotFound:
        return 0


def release_of(store: Store, version: int) -> releases.ReleaseRow:
    return wait_for(
        lambda: next((r for r in releases.list_releases(store) if r.version == version), None),
        60,
        f"the release of version {version}",
    )


def settles(
    store: Store, release_id: int, statuses: tuple[str, ...], timeout_s: float = 120
) -> releases.ReleaseRow:
    def check() -> releases.ReleaseRow | None:
        row = releases.get(store, release_id)
        return row if row.status in statuses else None

    found = wait_for(check, timeout_s, f"release {release_id} to be {statuses}")
    assert found is not None
    return found


def waiting_for_approval(store: Store, release_id: int) -> releases.ReleaseRow:
    row = settles(store, release_id, ("waiting", "failed", "rolled_back"))
    assert row.status == "waiting", (row.status, row.error, row.state)
    return row


@pytest.fixture
def released(
    workspace: Store, project: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Any:
    monkeypatch.setenv("GYRE_USER", "alice")
    write_definition(project, every_check=getattr(request, "param", "") == "every check")
    releases.apply(workspace, project / "release.yaml")
    agent = AgentProcess(project)
    yield agent
    agent.stop(signal.SIGINT)
    for row in endpoints.list_endpoints(workspace):
        endpoints.delete(workspace, row.name)


@pytest.mark.parametrize("released", ["every check"], indirect=True)
def test_versions_go_through_test_approval_and_canary_and_a_bad_canary_rolls_back(
    workspace: Store, project: Path, released: AgentProcess
) -> None:
    first = register_sklearn("1")
    one = waiting_for_approval(workspace, release_of(workspace, first).id)
    checks = one.state["stages"]["test"]["checks"]
    assert [c["passed"] for c in checks] == [True] * 6, checks
    releases.approve(workspace, one.id, comment="first production model")
    settles(workspace, one.id, ("succeeded",))
    assert alias_target(workspace, "clf", "production") == first
    production = endpoints.get(workspace, "clf")

    with Load(production.url, clients=3) as load:
        wait_for(lambda: load.answered() > 30, what="production traffic")
        wait_for(lambda: collected(workspace, "clf-inference") > 0, 60, "traffic to replay")
        second = register_sklearn("2", c=0.5)
        two = waiting_for_approval(workspace, release_of(workspace, second).id)
        assert endpoints.get(workspace, "clf").traffic == {first: 100}  # untouched so far
        assert endpoints.get(workspace, "clf").shadow == second
        replay = next(c for c in two.state["stages"]["test"]["checks"] if c["label"] == "replay")
        assert replay["figures"]["rows"] > 0 and replay["figures"]["agreement"] > 0.9
        releases.approve(workspace, two.id)
        two = settles(workspace, two.id, ("succeeded", "rolled_back", "failed"))
        assert two.status == "succeeded", two.error
        steps = two.state["stages"]["production"]["rollout"]
        assert [s["percent"] for s in steps] == [50, 100]
        assert all(s["requests"] >= 5 and s["verdict"] == "healthy" for s in steps)

        third = register_slow_rule(project, "3")
        three = waiting_for_approval(workspace, release_of(workspace, third).id)
        releases.approve(workspace, three.id)
        three = settles(workspace, three.id, ("succeeded", "rolled_back", "failed"))
        settled = time.time()  # requests sent from now on: the rollback is applied
        wait_for(lambda: len(load.versions_sent_after(settled)) > 30, what="traffic after it")
        after = set(load.versions_sent_after(settled))

    assert three.status == "rolled_back", (three.status, three.error)
    assert "p99" in (three.error or "") and "rolled back to version" in (three.error or "")
    assert load.failures == [] and set(load.statuses) == {200}, load.statuses
    assert after == {second}
    assert endpoints.get(workspace, "clf").traffic == {second: 100}
    assert endpoints.get(workspace, "clf").shadow is None
    assert alias_target(workspace, "clf", "production") == second
    actions = [e.action for e in entries(workspace, subject=f"release {two.id}")]
    assert actions.count("release.traffic") == 2 and "release.approved" in actions


def test_an_agent_killed_mid_rollout_is_continued_by_the_next_without_a_second_deployment(
    workspace: Store, project: Path, released: AgentProcess
) -> None:
    first = register_sklearn("1")
    releases.approve(workspace, waiting_for_approval(workspace, release_of(workspace, first).id).id)
    settles(workspace, release_of(workspace, first).id, ("succeeded",))
    production = endpoints.get(workspace, "clf")
    with Load(production.url, clients=2) as load:
        second = register_sklearn("2", c=0.5)
        two = waiting_for_approval(workspace, release_of(workspace, second).id)
        releases.approve(workspace, two.id)
        wait_for(
            lambda: (
                releases.get(workspace, two.id).phase == "rollout"
                and releases.get(workspace, two.id).step >= 1
            ),
            60,
            "the first canary step",
        )
        released.stop(signal.SIGKILL)
        time.sleep(1.0)
        successor = AgentProcess(project)
        try:
            done = settles(workspace, two.id, ("succeeded", "failed", "rolled_back"), 180)
        finally:
            successor.stop(signal.SIGINT)
    assert done.status == "succeeded", done.error
    assert load.failures == [] and set(load.statuses) == {200}
    history = [e for e in entries(workspace, subject=f"release {two.id}")]
    percents = [e.detail["percent"] for e in history if e.action == "release.traffic"]
    assert sorted(percents) == [50, 100]  # each canary step once
    creates = entries(workspace, subject="endpoint clf", action="endpoint.create")
    assert [e.subject for e in creates].count("endpoint clf") == 1
    assert endpoints.get(workspace, "clf").pid == production.pid  # never restarted

    with pytest.raises(Conflict, match="first at clf: there is no earlier version"):
        releases.rollback(workspace, release_of(workspace, first).id)
    undone = releases.rollback(workspace, two.id)  # by hand, after it succeeded
    assert undone.status == "rolled_back" and f"to version {first}" in (undone.error or "")
    assert endpoints.get(workspace, "clf").traffic == {first: 100}
    assert alias_target(workspace, "clf", "production") == first
    moves = [(h["version"], h["previous"]) for h in alias_history(workspace, "clf")]
    assert (second, first) in moves and (first, second) in moves


def test_approvals_are_checked_and_a_failing_stage_leaves_production_alone(
    workspace: Store, project: Path, released: AgentProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = register_sklearn("1")
    one = waiting_for_approval(workspace, release_of(workspace, first).id)
    monkeypatch.setenv("GYRE_USER", "mallory")
    with pytest.raises(NotAnApprover, match="mallory may not approve .*approvers are alice"):
        releases.approve(workspace, one.id)
    monkeypatch.setenv("GYRE_USER", "alice")
    releases.approve(workspace, one.id)
    settles(workspace, one.id, ("succeeded",))
    with pytest.raises(Conflict, match="not waiting for an approval"):
        releases.approve(workspace, one.id)

    second = register_sklearn("2", c=0.5)
    two = waiting_for_approval(workspace, release_of(workspace, second).id)
    releases.reject(workspace, two.id, comment="not this week")
    assert releases.get(workspace, two.id).status == "rejected"
    wait_for(lambda: endpoints.get(workspace, "clf").shadow is None, 30, "the shadow's removal")
    assert endpoints.get(workspace, "clf").traffic == {first: 100}

    broken = register_sklearn("3", c=0.25)
    spoil_model_files(workspace, f"clf@{broken}")
    three = settles(workspace, release_of(workspace, broken).id, ("failed",), 120)
    assert three.stage == 0 and "deploy" in (three.error or ""), three.error
    assert endpoints.get(workspace, "clf").traffic == {first: 100}
    assert alias_target(workspace, "clf", "production") == first

    weak = register_sklearn("5", c=0.15, accuracy=0.5)
    failing = settles(workspace, release_of(workspace, weak).id, ("failed", "waiting"), 120)
    assert failing.status == "failed" and failing.stage == 0
    assert "check failed: metric accuracy: accuracy = 0.5, outside the gate (at least 0.8)" in (
        failing.error or ""
    )
    assert endpoints.get(workspace, "clf").traffic == {first: 100}

    fourth = register_sklearn("4", c=0.2)
    four = waiting_for_approval(workspace, release_of(workspace, fourth).id)
    assert releases.cancel(workspace, four.id).status == "cancelled"
    wait_for(lambda: endpoints.get(workspace, "clf").shadow is None, 30, "the shadow's removal")
    again = releases.retry(workspace, four.id)  # the production stage, from its deploy
    assert again.status == "running" and again.phase == "deploy" and again.stage == 1
    waiting_for_approval(workspace, four.id)
    assert endpoints.get(workspace, "clf").shadow == fourth
    assert endpoints.get(workspace, "clf").traffic == {first: 100}
    actions = [e.action for e in entries(workspace, subject=f"release {four.id}")]
    assert "release.cancelled" in actions and "release.retry" in actions

    untagged = gyre.register_model(
        "clf",
        LogisticRegression(C=0.3).fit(frame(0), (frame(0)["f 1"] > 0.5).astype(int)),
        input_example=frame(0).head(2),
    ).version
    time.sleep(3)  # the agent handles the event: no trigger matches a version without a build
    assert all(r.version != untagged for r in releases.list_releases(workspace))


def test_an_approval_that_times_out_fails_the_release(
    workspace: Store, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GYRE_USER", "alice")
    earlier = register_sklearn("0", c=2.0)  # before the definition: never released by itself
    write_definition(project, timeout="2s")
    releases.apply(workspace, project / "release.yaml")
    agent = AgentProcess(project)
    try:
        first = register_sklearn("1")
        row = settles(workspace, release_of(workspace, first).id, ("failed", "succeeded"), 120)
        assert [r.version for r in releases.list_releases(workspace)] == [first]
        assert earlier != first
    finally:
        agent.stop(signal.SIGINT)
        for endpoint in endpoints.list_endpoints(workspace):
            endpoints.delete(workspace, endpoint.name)
    assert row.status == "failed" and "nobody approved within 2 s" in (row.error or "")
    assert alias_target(workspace, "clf", "production") is None


def test_the_cli_applies_lists_and_shows_a_release(
    workspace: Store, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    write_definition(project)
    (project / "bad.yaml").write_text(
        textwrap.dedent(
            """\
            name: x
            trigger: {model: clf}
            stages:
              - name: a
                deploy: {endpoint: e}
                rollout: {steps: [100, 50]}
            """
        )
    )

    def gyre_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gyre.cli.main", *args],
            cwd=project,
            capture_output=True,
            text=True,
            env={**os.environ, "GYRE_USER": "alice"},
        )

    bad = gyre_cli("release", "apply", "bad.yaml")
    assert bad.returncode != 0
    assert "bad.yaml line 6: stages[0].rollout.steps: percents must rise" in bad.stderr
    good = gyre_cli("release", "apply")
    assert good.returncode == 0 and "clf-release version 1: clf: test -> production" in good.stdout
    again = gyre_cli("release", "apply")
    assert "unchanged (version 1)" in again.stdout
    unknown = gyre_cli("release", "show", "99")
    assert unknown.returncode != 0 and "No release with id 99" in unknown.stderr
