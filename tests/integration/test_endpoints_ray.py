"""Endpoints on the ray target: a Ray Serve application on a real local Ray cluster.

The cluster is the session's (a head and a worker node started with ``ray start``, see
tests/support/ray_cluster.py); the endpoint's replicas load an iris classifier from the
test's workspace and are scored over HTTP through the cluster's Serve proxy, as a user's
clients would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import gyre
from gyre import endpoints
from gyre.errors import ComputeUnavailable, InvalidParameter
from gyre.store import Store
from gyre.workspace.audit_log import entries as list_entries
from support.ports import free_port
from support.ray_cluster import LocalRayCluster
from support.waiting import wait_for

pytestmark = pytest.mark.slow

FRAME = load_iris(as_frame=True).data  # its real column names: "sepal length (cm)", ...
RECORDS = FRAME.head(3).to_dict(orient="records")


@pytest.fixture(scope="module")
def serving_cluster(ray_cluster: LocalRayCluster) -> Iterator[LocalRayCluster]:
    """The session's cluster, with Ray Serve shut down again after this module's tests: the
    Serve controller and proxy left running would keep its head node ~30 s from stopping."""
    yield ray_cluster
    import ray
    from ray import serve

    ray.init(address=ray_cluster.address, log_to_driver=False)
    try:
        serve.shutdown()
    finally:
        ray.shutdown()


def register_versions(count: int) -> None:
    labels = load_iris().target
    for number in range(count):
        model = LogisticRegression(C=10.0**-number, max_iter=500).fit(FRAME, labels)
        gyre.register_model("iris", model, input_example=FRAME.head(2))


def dataset_rows(project: Path, name: str) -> int:
    shown = subprocess.run(
        [sys.executable, "-m", "gyre.cli.main", "data", "show", name, "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    if shown.returncode != 0:
        return 0  # not created yet: nothing converted so far
    return sum(p["rows"] for p in json.loads(shown.stdout).get("partitions", []))


ANSWERED: Counter[str] = Counter()  # rows answered, per endpoint URL


def versions_answering(url: str, requests: int) -> Counter[int]:
    seen: Counter[int] = Counter()
    with httpx.Client(timeout=30) as client:
        for _ in range(requests):
            answer = client.post(f"{url}/score", json=RECORDS)
            assert answer.status_code == 200, answer.text
            seen[int(answer.headers["gyre-model-version"])] += 1
            ANSWERED[url] += len(RECORDS)
    return seen


def test_an_endpoint_on_ray_serves_changes_split_live_collects_and_is_deleted(
    workspace: Store, project: Path, serving_cluster: LocalRayCluster
) -> None:
    register_versions(2)
    row = endpoints.create(
        workspace,
        "iris",
        "iris@1",
        target="ray",
        port=free_port(),
        options={
            "address": serving_cluster.address,
            "replicas": "2",
            "num_cpus": "0.5",
            "memory": "200MiB",
        },
    )
    url = endpoints.url(row)
    assert url == f"http://127.0.0.1:{row.port}/iris"
    assert row.options["replicas"] == 2 and row.options["memory"] == 200 * 1024**2

    assert versions_answering(url, 1) == {1: 1}
    scored = httpx.post(f"{url}/score", json=RECORDS, timeout=30)
    assert scored.status_code == 200 and scored.json()["predictions"] == [0, 0, 0], scored.text
    assert scored.headers["gyre-model-version"] == "1"
    oip = httpx.post(
        f"{url}/v2/models/iris/infer",
        json={
            "inputs": [
                {"name": name, "shape": [1], "datatype": "FP64", "data": [value]}
                for name, value in RECORDS[0].items()
            ]
        },
        timeout=30,
    )
    assert oip.status_code == 200, oip.text
    assert oip.json()["model_version"] == "1" and oip.headers["gyre-model-version"] == "1"
    bad = httpx.post(f"{url}/score", json=[{"sepal length (cm)": "long"}], timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["field"], bad.text

    changed = endpoints.set_traffic(workspace, "iris", {"1": "50", "2": "50"})
    endpoints.wait_applied(workspace, "iris", changed.generation, 60)
    wait_for(lambda: set(versions_answering(url, 10)) == {1, 2}, 30, "both versions answering")
    changed = endpoints.set_traffic(workspace, "iris", {"2": "100"}, shadow="1")
    endpoints.wait_applied(workspace, "iris", changed.generation, 60)
    # Each replica applies the change within its poll: soon every answer is version 2.
    wait_for(lambda: set(versions_answering(url, 20)) == {2}, 30, "only version 2 answering")
    shown = endpoints.get(workspace, "iris")
    assert shown.traffic == {2: 100} and shown.shadow == 1
    assert shown.applied_generation == shown.generation
    assert shown.machine is not None and shown.machine.startswith("ray:")

    shown_cli = subprocess.run(
        [sys.executable, "-m", "gyre.cli.main", "endpoint", "show", "iris"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"on ray at {url} (serving)" in shown_cli, shown_cli
    assert "2 replica(s), each num_cpus=0.5, num_gpus=0, memory=200MiB" in shown_cli, shown_cli

    wait_for(lambda: dataset_rows(project, "iris-inference") > 0, 60, "collected rows")
    endpoints.delete(workspace, "iris")
    assert endpoints.find(workspace, "iris") is None
    gone = httpx.post(f"{url}/score", json=RECORDS, timeout=30)
    assert gone.status_code == 404  # the proxy serves on; the application is gone
    # Each replica converted what it had journaled as Ray Serve stopped it: no answered row lost.
    assert dataset_rows(project, "iris-inference") >= ANSWERED[url] + 3 + 1  # /score, /v2
    assert dataset_rows(project, "iris-shadow-inference") > 0  # version 1's copies
    actions = [e.action for e in list_entries(workspace, subject="endpoint iris")]
    assert actions.count("endpoint.traffic") == 2 and "endpoint.undeploy" in actions


def test_bad_ray_options_and_an_unreachable_cluster_are_named_before_anything_is_created(
    workspace: Store,
) -> None:
    register_versions(1)

    def refused(options: dict[str, object]) -> str:
        with pytest.raises((InvalidParameter, ComputeUnavailable)) as caught:
            endpoints.create(workspace, "iris", "iris@1", target="ray", options=options)
        return str(caught.value)

    assert "Did you mean 'replicas'?" in refused({"replica": "2"})
    assert "replicas=0: must be a whole number of at least 1" in refused({"replicas": "0"})
    assert "num_gpus=-1: must be a number of at least 0" in refused({"num_gpus": "-1"})
    assert "memory=lots" in refused({"memory": "lots"})
    nowhere = f"127.0.0.1:{free_port()}"
    message = refused({"address": nowhere})
    assert nowhere in message and "cannot be reached" in message
    assert endpoints.list_endpoints(workspace) == []
