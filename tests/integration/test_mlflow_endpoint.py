"""MLflow clients log to gyre unchanged: the real ``mlflow`` client (mlflow-skinny, in
.venv-mlflow, built by ``make test``) runs an ordinary training script against a real
``gyre server`` with MLFLOW_TRACKING_URI=http://.../mlflow, and the run is in gyre."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from conftest import RESOURCES, run_gyre
from gyre.store import Store
from gyre.tracking import artifact_files, run_details, run_query
from support.team_server import TeamServer, team_server

pytestmark = pytest.mark.slow

MLFLOW_PYTHON = Path(__file__).parents[2] / ".venv-mlflow" / "bin" / "python"
SCRIPT = RESOURCES / "clients" / "mlflow_training.py"


@pytest.fixture
def mlflow_python() -> Path:
    if not MLFLOW_PYTHON.exists():
        message = "MLflow's client is installed by `make test` (.venv-mlflow)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return MLFLOW_PYTHON


@pytest.fixture
def server(workspace: Store, project: Path) -> Iterator[TeamServer]:
    with team_server({"GYRE_URI": str(project / ".gyre")}, project) as running:
        assert running.admin_token, running.log.read_text()
        yield running


def _mlflow_env(server: TeamServer, token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "GYRE_"))}
    env["MLFLOW_TRACKING_URI"] = f"{server.url}/mlflow"
    if token:
        env["MLFLOW_TRACKING_TOKEN"] = token
    return env


def _token(server: TeamServer, user: str, role: str) -> str:
    with server.client(server.admin_token) as admin:
        return _made_token(admin, user, role)


def _made_token(admin: httpx.Client, user: str, role: str) -> str:
    made = admin.post("/users", json={"name": user, "role": role, "kind": "service"})
    assert made.status_code in (201, 409), made.text
    answer = admin.post("/tokens", json={"user": user})
    assert answer.status_code == 201, answer.text
    token: str = answer.json()["token"]
    return token


@pytest.fixture
def mlflow_http(server: TeamServer) -> Iterator[Callable[[str | None], httpx.Client]]:
    """HTTP clients of the server's MLflow routes with a token (or none), closed after."""
    made: list[httpx.Client] = []

    def client(token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        made.append(httpx.Client(base_url=f"{server.url}/mlflow", headers=headers, timeout=30))
        return made[-1]

    yield client
    for each in made:
        each.close()


def test_an_unchanged_mlflow_training_script_logs_its_run_to_gyre(
    server: TeamServer, workspace: Store, project: Path, mlflow_python: Path, tmp_path: Path
) -> None:
    token = _token(server, "trainer", "contributor")
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(
        [str(mlflow_python), str(SCRIPT), "iris-logreg", str(work)],
        env=_mlflow_env(server, token),
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:] + server.log.read_text()[-3000:]
    seen = json.loads(done.stdout.splitlines()[-1])
    run_id = seen["run_id"]

    # What the MLflow client read back through its own API.
    assert seen["status"] == "FINISHED"
    assert seen["params"] == {"C": "0.5", "penalty": "l2", "solver": "lbfgs", "max_iter": "200"}
    assert seen["metrics"]["val_accuracy"] == 0.93 and seen["metrics"]["recall"] == 0.94
    assert seen["tags"] == {"team": "vision", "dataset": "iris", "stage": "baseline"}
    assert seen["loss_steps"] == list(range(20))
    assert seen["artifacts"] == [["plots", True], ["report.txt", False]]
    assert seen["plots"] == ["plots/detail", "plots/loss.csv"]
    assert seen["downloaded"] == ["detail/confusion.csv", "loss.csv"]
    assert seen["search_good"] == [run_id] and seen["search_fluent"] == [run_id]
    assert seen["search_bad"] == []

    # The same run, as gyre has it.
    [row] = run_query.find_runs(workspace, experiment="iris-logreg")
    assert row.record.id == run_id and row.record.name == "iris-logreg"
    assert row.record.status == "finished" and row.record.ended_at is not None
    assert row.params == {"C": "0.5", "penalty": "l2", "solver": "lbfgs", "max_iter": "200"}
    assert {"team": "vision", "dataset": "iris", "stage": "baseline"}.items() <= row.tags.items()
    assert row.tags["mlflow.source.name"].endswith("mlflow_training.py")
    histories = run_details.metric_histories(workspace, run_id)
    assert [s for s, _, _ in histories["loss"]] == list(range(20))
    assert histories["loss"][0][1] == 1.0 and histories["precision"] == [
        (19, 0.91, histories["precision"][0][2])
    ]
    assert [f.path for f in artifact_files.artifact_files(workspace, run_id)] == [
        "plots/detail/confusion.csv",
        "plots/loss.csv",
        "report.txt",
    ]
    report = tmp_path / "report.txt"
    artifact_files.fetch_artifact_file(workspace, run_id, "report.txt", report)
    assert report.read_text() == (work / "report.txt").read_text()
    listed = json.loads(run_gyre("runs", "list", "--json", cwd=project).stdout)
    assert [r["id"] for r in listed] == [run_id]
    assert listed[0]["metrics"]["val_accuracy"] == 0.93


def test_a_token_without_the_contributor_role_gets_mlflows_permission_error_and_writes_nothing(
    server: TeamServer, workspace: Store, mlflow_python: Path, tmp_path: Path
) -> None:
    reader = _token(server, "dashboard", "reader")
    script = (
        "import mlflow\n"
        "from mlflow import MlflowClient\n"
        "print(len(MlflowClient().search_experiments()))\n"
        "mlflow.start_run()\n"
    )
    done = subprocess.run(
        [str(mlflow_python), "-c", script],
        env=_mlflow_env(server, reader),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert done.stdout.strip() == "1"  # reading is allowed: the default experiment
    assert "PERMISSION_DENIED" in done.stderr and "contributor" in done.stderr
    assert run_query.find_runs(workspace) == []


def test_without_a_token_every_mlflow_route_answers_401_in_mlflows_envelope(
    server: TeamServer, workspace: Store, mlflow_http: Callable[[str | None], httpx.Client]
) -> None:
    anonymous = mlflow_http(None)
    for method, path in [
        ("POST", "/api/2.0/mlflow/runs/create"),
        ("GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=x"),
        ("PUT", "/api/2.0/mlflow-artifacts/artifacts/0/abc/artifacts/f.txt"),
        ("POST", "/api/2.0/mlflow/registered-models/create"),
    ]:
        answer = anonymous.request(method, path, json={})
        assert answer.status_code == 401, answer.text
        assert answer.json()["error_code"] == "UNAUTHENTICATED"
    wrong = mlflow_http("gyre_t_0000000000_" + "x" * 43)
    assert wrong.post("/api/2.0/mlflow/runs/create", json={}).status_code == 401
    assert run_query.find_runs(workspace) == []


def test_bad_mlflow_requests_get_mlflows_error_codes_with_a_reason_and_never_a_5xx(
    server: TeamServer, workspace: Store, mlflow_http: Callable[[str | None], httpx.Client]
) -> None:
    client = mlflow_http(server.admin_token)
    api = "/api/2.0/mlflow"
    made = client.post(f"{api}/runs/create", json={"experiment_id": "0", "run_name": "r"})
    assert made.status_code == 200, made.text
    run = made.json()["run"]["info"]
    run_id, exp = run["run_id"], run["experiment_id"]
    assert (
        client.post(
            f"{api}/runs/log-parameter", json={"run_id": run_id, "key": "lr", "value": "0.1"}
        ).status_code
        == 200
    )
    files = f"/api/2.0/mlflow-artifacts/artifacts/{exp}/{run_id}/artifacts"
    cases: list[tuple[str, str, object, int, str, str]] = [
        # method, path, body, status, MLflow error code, a word of the message
        (
            "POST",
            f"{api}/runs/log-metric",
            {"run_id": run_id, "key": "a", "value": "x"},
            400,
            "INVALID_PARAMETER_VALUE",
            "value",
        ),
        (
            "POST",
            f"{api}/runs/log-metric",
            {"run_id": run_id, "key": "a", "value": 1, "step": 2**40},
            400,
            "INVALID_PARAMETER_VALUE",
            "step",
        ),
        (
            "POST",
            f"{api}/runs/log-metric",
            {"key": "a", "value": 1},
            400,
            "INVALID_PARAMETER_VALUE",
            "run_id",
        ),
        (
            "POST",
            f"{api}/runs/log-metric",
            {"run_id": "f" * 16, "key": "a", "value": 1},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "ffff",
        ),
        (
            "POST",
            f"{api}/runs/log-metric",
            {"run_id": run_id, "key": "", "value": 1},
            400,
            "INVALID_PARAMETER_VALUE",
            "key",
        ),
        ("POST", f"{api}/runs/log-metric", [1, 2], 400, "INVALID_PARAMETER_VALUE", "body"),
        (
            "POST",
            f"{api}/runs/log-parameter",
            {"run_id": run_id, "key": "lr", "value": "0.2"},
            409,
            "RESOURCE_ALREADY_EXISTS",
            "immutable",
        ),
        (
            "POST",
            f"{api}/runs/log-parameter",
            {"run_id": run_id, "key": "k", "value": "v" * 7000},
            400,
            "INVALID_PARAMETER_VALUE",
            "value",
        ),
        (
            "POST",
            f"{api}/runs/log-batch",
            {
                "run_id": run_id,
                "metrics": [
                    {"key": "m", "value": 1, "timestamp": 0, "step": i} for i in range(1001)
                ],
            },
            400,
            "INVALID_PARAMETER_VALUE",
            "at most 1000",
        ),
        (
            "POST",
            f"{api}/runs/log-batch",
            {"run_id": run_id, "params": [{"key": "p", "value": "1"}, {"key": "p", "value": "2"}]},
            400,
            "INVALID_PARAMETER_VALUE",
            "twice",
        ),
        (
            "POST",
            f"{api}/runs/update",
            {"run_id": run_id, "status": "BOGUS"},
            400,
            "INVALID_PARAMETER_VALUE",
            "FINISHED",
        ),
        (
            "POST",
            f"{api}/runs/update",
            {"run_id": run_id, "run_name": "other"},
            501,
            "NOT_IMPLEMENTED",
            "renaming",
        ),
        (
            "POST",
            f"{api}/runs/create",
            {"experiment_id": "zz"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "hex",
        ),
        (
            "POST",
            f"{api}/runs/create",
            {"experiment_id": "0", "run_name": "n" * 201},
            400,
            "INVALID_PARAMETER_VALUE",
            "run_name",
        ),
        (
            "POST",
            f"{api}/runs/create",
            {"experiment_id": "0", "start_time": -5},
            400,
            "INVALID_PARAMETER_VALUE",
            "start_time",
        ),
        (
            "POST",
            f"{api}/experiments/create",
            {"name": "e" * 201},
            400,
            "INVALID_PARAMETER_VALUE",
            "experiment name",
        ),
        (
            "POST",
            f"{api}/experiments/create",
            {"name": "default"},
            409,
            "RESOURCE_ALREADY_EXISTS",
            "already exists",
        ),
        (
            "POST",
            f"{api}/experiments/create",
            {"name": "x", "artifact_location": "s3://b/p"},
            501,
            "NOT_IMPLEMENTED",
            "artifact_location",
        ),
        (
            "GET",
            f"{api}/experiments/get?experiment_id=abc",
            None,
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "hex",
        ),
        (
            "GET",
            f"{api}/experiments/get-by-name?experiment_name=nobody",
            None,
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "nobody",
        ),
        (
            "POST",
            f"{api}/experiments/search",
            {"filter": "tags.a = 'b'"},
            501,
            "NOT_IMPLEMENTED",
            "by name only",
        ),
        (
            "POST",
            f"{api}/runs/search",
            {"filter": "metrics.a LIKE 'x'"},
            501,
            "NOT_IMPLEMENTED",
            "LIKE",
        ),
        (
            "POST",
            f"{api}/runs/search",
            {"filter": "((("},
            400,
            "INVALID_PARAMETER_VALUE",
            "Cannot read",
        ),
        (
            "POST",
            f"{api}/runs/search",
            {"filter": "metrics.a > 'x'"},
            400,
            "INVALID_PARAMETER_VALUE",
            "number",
        ),
        (
            "POST",
            f"{api}/runs/search",
            {"filter": "datasets.name = 'iris'"},
            501,
            "NOT_IMPLEMENTED",
            "datasets.name",
        ),
        (
            "POST",
            f"{api}/runs/search",
            {"filter": "attributes.end_time > 0"},
            501,
            "NOT_IMPLEMENTED",
            "end_time",
        ),
        (
            "POST",
            f"{api}/runs/search",
            {"filter": "metrics.a > 1 or metrics.b > 1"},
            501,
            "NOT_IMPLEMENTED",
            "AND",
        ),
        (
            "POST",
            f"{api}/runs/search",
            {"order_by": ["metrics.a", "params.b"]},
            501,
            "NOT_IMPLEMENTED",
            "one",
        ),
        (
            "POST",
            f"{api}/runs/search",
            {"page_token": "abc"},
            400,
            "INVALID_PARAMETER_VALUE",
            "page_token",
        ),
        (
            "POST",
            f"{api}/runs/search",
            {"max_results": 0},
            400,
            "INVALID_PARAMETER_VALUE",
            "max_results",
        ),
        (
            "GET",
            f"{api}/metrics/get-history?run_id={run_id}",
            None,
            400,
            "INVALID_PARAMETER_VALUE",
            "metric_key",
        ),
        (
            "POST",
            f"{api}/runs/log-inputs",
            {"run_id": run_id},
            501,
            "NOT_IMPLEMENTED",
            "dataset inputs",
        ),
        (
            "POST",
            f"{api}/runs/delete-tag",
            {"run_id": run_id, "key": "a"},
            501,
            "NOT_IMPLEMENTED",
            "tag",
        ),
        (
            "POST",
            f"{api}/registered-models/create",
            {"name": "m"},
            501,
            "NOT_IMPLEMENTED",
            "registered-models",
        ),
        ("PUT", f"{files}/sub/%2e%2e/escape.txt", b"x", 400, "INVALID_PARAMETER_VALUE", ".."),
        ("PUT", f"{files}/{'n' * 300}", b"x", 400, "INVALID_PARAMETER_VALUE", "250"),
        (
            "PUT",
            f"/api/2.0/mlflow-artifacts/artifacts/{exp}/{'f' * 16}/artifacts/a",
            b"x",
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "ffff",
        ),
        (
            "PUT",
            f"/api/2.0/mlflow-artifacts/artifacts/6161/{run_id}/artifacts/a",
            b"x",
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "not in experiment",
        ),
        ("GET", f"{files}/missing.txt", None, 404, "RESOURCE_DOES_NOT_EXIST", "missing.txt"),
        (
            "GET",
            "/api/2.0/mlflow-artifacts/artifacts?path=nowhere",
            None,
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "EXPERIMENT_ID/RUN_ID",
        ),
        ("DELETE", f"{files}/a", None, 501, "NOT_IMPLEMENTED", "deleting artifacts"),
    ]
    for method, path, body, status, code, word in cases:
        if isinstance(body, bytes):
            answer = client.request(method, path, content=body)
        else:
            answer = client.request(method, path, json=body)
        assert answer.status_code == status, (method, path, answer.text)
        error = answer.json()
        assert error["error_code"] == code, (path, error)
        assert word.lower() in error["message"].lower(), (path, error)
    assert run_query.find_runs(workspace)[0].params == {"lr": "0.1"}
    assert artifact_files.artifact_files(workspace, run_id) == []
    assert run_details.metric_histories(workspace, run_id) == {}
    # A unique prefix of a run id names the run (as everywhere in gyre): the writes land on it.
    for path, body in [
        ("runs/log-metric", {"key": "m", "value": 1.5, "step": 3, "timestamp": 1000}),
        ("runs/set-tag", {"key": "t", "value": "v"}),
        ("runs/log-parameter", {"key": "p", "value": "1"}),
    ]:
        answer = client.post(f"{api}/{path}", json={"run_id": run_id[:8], **body})
        assert answer.status_code == 200, answer.text
    assert run_details.metric_histories(workspace, run_id) == {"m": [(3, 1.5, 1.0)]}
    assert run_query.find_runs(workspace)[0].tags["t"] == "v"


MLFLOW_ROUTES = [
    ("POST", "/api/2.0/mlflow/experiments/create"),
    ("GET", "/api/2.0/mlflow/experiments/get"),
    ("GET", "/api/2.0/mlflow/experiments/get-by-name"),
    ("POST", "/api/2.0/mlflow/experiments/search"),
    ("POST", "/api/2.0/mlflow/runs/create"),
    ("GET", "/api/2.0/mlflow/runs/get"),
    ("POST", "/api/2.0/mlflow/runs/update"),
    ("POST", "/api/2.0/mlflow/runs/delete"),
    ("POST", "/api/2.0/mlflow/runs/search"),
    ("POST", "/api/2.0/mlflow/runs/log-metric"),
    ("POST", "/api/2.0/mlflow/runs/log-parameter"),
    ("POST", "/api/2.0/mlflow/runs/set-tag"),
    ("POST", "/api/2.0/mlflow/runs/log-batch"),
    ("GET", "/api/2.0/mlflow/metrics/get-history"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts"),
]


def test_random_input_on_every_mlflow_route_never_gets_a_5xx(
    server: TeamServer, workspace: Store, mlflow_http: Callable[[str | None], httpx.Client]
) -> None:
    """Hypothesis over the field values MLflow's messages use, as an admin (every role)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    client = mlflow_http(server.admin_token)
    made = client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"})
    run_id = made.json()["run"]["info"]["run_id"]
    texts = st.one_of(
        st.text(max_size=30),
        st.sampled_from(
            [
                run_id,
                run_id[:4],
                "0",
                "6161",
                "",
                "metrics.a > 1",
                "FINISHED",
                "name LIKE '%'",
                "0/" + run_id + "/artifacts",
                "`",
                "'",
            ]
        ),
    )
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**64), 2**64), st.floats(), texts)
    values = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
        max_leaves=8,
    )
    fields = st.sampled_from(
        [
            "run_id",
            "run_uuid",
            "experiment_id",
            "experiment_name",
            "name",
            "key",
            "value",
            "step",
            "timestamp",
            "status",
            "end_time",
            "start_time",
            "run_name",
            "metrics",
            "params",
            "tags",
            "filter",
            "order_by",
            "max_results",
            "page_token",
            "experiment_ids",
            "run_view_type",
            "metric_key",
            "path",
            "artifact_location",
        ]
    )

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(route=st.sampled_from(MLFLOW_ROUTES), body=st.dictionaries(fields, values))
    def check(route: tuple[str, str], body: dict[str, object]) -> None:
        method, path = route
        if method == "GET":
            query = {k: v for k, v in body.items() if isinstance(v, str | int | float)}
            answer = client.get(path, params=query)
        else:
            answer = client.request(
                method,
                path,
                content=json.dumps(body),  # NaN and Infinity as Python writes them
                headers={"content-type": "application/json"},
            )
        assert answer.status_code < 500 or answer.status_code == 501, (route, body, answer.text)
        assert "error_code" in answer.json() or answer.status_code == 200

    check()
