"""Reuse across the matrix: graph shapes by executors by cache states.

Shapes: chain, fan-out, fan-in, diamond (tests/resources/good/graph_shapes.py). Executors: the
local one and a real local Ray cluster (the session's ``ray_cluster``). Cache states, one test
each, over every shape and executor:

* cold: the first run runs every step;
* warm: a second run reuses every step, and hands on the very same output digests;
* input changed: a parameter of one source step changes, and exactly that step and the steps
  downstream of it run again, with new digests; the others keep theirs;
* output corrupt: a blob of one step's output is overwritten on disk; exactly that step runs
  again, saying why, re-makes the same bytes under the same digest, and its consumers are
  reused.
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import gyre
from conftest import copy_resource
from gyre.pipelines.executors.ray import connection as ray_connection
from gyre.pipelines.loader import load_pipeline
from gyre.store import Store
from gyre.store import compute as targets
from support.ray_cluster import LocalRayCluster


@dataclass(frozen=True)
class Shape:
    pipeline: str
    steps: tuple[str, ...]
    source: str
    """A source step, and the pipeline parameter it takes: (name, default, a new value)."""
    param: tuple[str, int, int]
    downstream: frozenset[str]
    """``source`` and every step downstream of it."""
    corrupt: str
    """The step whose output blob the corrupt case overwrites."""
    last: str
    last_value: dict[str, Any]
    """What the ``last`` step gives back on a cold run (the same on every executor)."""


SHAPES = {
    "chain": Shape(
        pipeline="chain",
        steps=("first", "second", "third"),
        source="first",
        param=("start", 1, 2),
        downstream=frozenset({"first", "second", "third"}),
        corrupt="second",
        last="third",
        last_value={"step": "third", "values": [4, 8, 12]},
    ),
    "fan-out": Shape(
        pipeline="fan_out",
        steps=("root", "left", "middle", "right"),
        source="root",
        param=("start", 1, 5),
        downstream=frozenset({"root", "left", "middle", "right"}),
        corrupt="root",
        last="middle",
        last_value={"step": "middle", "values": [2, 4, 6]},
    ),
    "fan-in": Shape(
        pipeline="fan_in",
        steps=("a", "b", "join"),
        source="a",
        param=("a", 1, 3),
        downstream=frozenset({"a", "join"}),
        corrupt="b",
        last="join",
        last_value={"step": "join", "values": [1, 2, 3, 10, 11, 12]},
    ),
    "diamond": Shape(
        pipeline="diamond",
        steps=("root", "left", "right", "join"),
        source="root",
        param=("start", 1, 4),
        downstream=frozenset({"root", "left", "right", "join"}),
        corrupt="left",
        last="join",
        last_value={"step": "join", "values": [2, 4, 6, 2, 4, 6]},
    ),
}


@dataclass(frozen=True)
class Executor:
    """Where ``gyre.run`` runs the steps: locally, or on a Ray cluster's compute target."""

    ray_address: str | None = None

    def run(
        self, store: Store, shape: Shape, params: dict[str, int] | None = None
    ) -> gyre.PipelineRun:
        run = gyre.run(
            load_pipeline(f"graph_shapes.py:{shape.pipeline}"),
            params or {},
            workspace=store,
            quiet=True,
            compute=None if self.ray_address is None else "cluster",
        )
        assert run.status == "finished", run.error
        assert tuple(run.steps) == shape.steps
        if self.ray_address is not None:  # this process drove the cluster's job
            connection = ray_connection.current()
            assert connection is not None and connection.address == self.ray_address
        return run


@pytest.fixture(params=["local", "ray"])
def executor(
    request: pytest.FixtureRequest, workspace: Store, monkeypatch: pytest.MonkeyPatch
) -> Executor:
    """The local executor, or the session's Ray cluster added as compute target "cluster" (as
    a user does with ``gyre compute add``)."""
    if request.param == "local":
        return Executor()
    cluster: LocalRayCluster = request.getfixturevalue("ray_cluster")
    # The run drives Ray itself: a warm driver per test project would cost a process start
    # (and its stop) per case; tests/integration/test_ray.py covers the warm driver.
    monkeypatch.setenv("GYRE_RAY_WARM_DRIVER", "0")
    with workspace.write() as tx:
        targets.add(tx, "cluster", "ray", cluster.address, {})
    return Executor(cluster.address)


@pytest.fixture(scope="module", autouse=True)
def _ray_job_ends_with_the_module() -> Iterator[None]:
    """The Ray cases share this process's connection (one job); end it for later modules."""
    yield
    ray_connection.disconnect()


@pytest.fixture(params=list(SHAPES.values()), ids=list(SHAPES))
def shape(request: pytest.FixtureRequest, project: Path) -> Shape:
    copy_resource("good/graph_shapes.py", project)
    chosen: Shape = request.param
    return chosen


@pytest.fixture
def cold(shape: Shape, executor: Executor, workspace: Store) -> gyre.PipelineRun:
    """The first run of ``shape`` in a new workspace."""
    return executor.run(workspace, shape)


def _outcomes(run: gyre.PipelineRun) -> dict[str, str | None]:
    return {name: step.outcome for name, step in run.steps.items()}


def _digests(run: gyre.PipelineRun) -> dict[str, str]:
    return {name: step.outputs["output"].digest for name, step in run.steps.items()}


def _overwrite_blob(project: Path, digest: str) -> Path:
    """Overwrite a blob's bytes in place, as a stray write or a bad disk would."""
    blob = project / ".gyre" / "blobs" / digest[:2] / digest
    assert blob.is_file(), f"no blob at {blob}"
    blob.chmod(blob.stat().st_mode | stat.S_IWUSR)  # blobs are read-only files
    blob.write_bytes(b"these are not the bytes the digest names")
    return blob


def test_a_first_run_runs_every_step_and_gives_each_its_own_output(
    shape: Shape, cold: gyre.PipelineRun
) -> None:
    assert _outcomes(cold) == dict.fromkeys(shape.steps, "ran")
    assert all(step.reason == "never ran before" for step in cold.steps.values())
    assert len(set(_digests(cold).values())) == len(shape.steps)  # no two steps share a blob
    assert cold.output(shape.last) == shape.last_value


def test_a_second_run_reuses_every_step_and_hands_on_the_same_digests(
    shape: Shape, executor: Executor, workspace: Store, cold: gyre.PipelineRun
) -> None:
    warm = executor.run(workspace, shape)
    assert _outcomes(warm) == dict.fromkeys(shape.steps, "reused")
    assert _digests(warm) == _digests(cold)
    for name, step in warm.steps.items():
        assert step.reused_from == cold.steps[name].run_id


def test_a_changed_source_parameter_reruns_exactly_that_source_and_the_steps_downstream(
    shape: Shape, executor: Executor, workspace: Store, cold: gyre.PipelineRun
) -> None:
    param, old, new = shape.param
    changed = executor.run(workspace, shape, {param: new})
    assert _outcomes(changed) == {
        name: "ran" if name in shape.downstream else "reused" for name in shape.steps
    }
    before, after = _digests(cold), _digests(changed)
    for name in shape.steps:
        if name in shape.downstream:
            assert after[name] != before[name], f"{name} re-ran with a changed input"
        else:
            assert after[name] == before[name], f"{name} does not depend on {param}"
    # The reason names the source step's own argument (every source calls it `start`) and,
    # where the pipeline parameter has another name, that one too.
    via = "" if param == "start" else f" (pipeline param {param})"
    assert f"param start{via}: {old} -> {new}" in changed.steps[shape.source].reason


def test_a_corrupt_output_blob_reruns_only_its_step_which_remakes_the_same_digest(
    shape: Shape, executor: Executor, workspace: Store, project: Path, cold: gyre.PipelineRun
) -> None:
    before = _digests(cold)
    digest = before[shape.corrupt]
    blob = _overwrite_blob(project, digest)
    again = executor.run(workspace, shape)
    assert _outcomes(again) == {
        name: "ran" if name == shape.corrupt else "reused" for name in shape.steps
    }
    reason = again.steps[shape.corrupt].reason
    assert f"output 'output' of {shape.corrupt}" in reason
    assert f"is corrupt (blob {digest[:12]})" in reason
    assert _digests(again) == before  # the same bytes again, under the same digest
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == digest  # and intact on disk
    for name, step in again.steps.items():
        if name != shape.corrupt:  # its consumers too: their input digest did not change
            assert step.reused_from == cold.steps[name].run_id
