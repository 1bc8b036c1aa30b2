"""The scoring server as users run it: a real uvicorn process on a free 127.0.0.1 port."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from conftest import RESOURCES
from gyre.data import append_only
from gyre.registry import models as registry
from gyre.store import Store
from support.scoring_server import ScoringServer

Server = ScoringServer  # a real `gyre serve` process (tests/support)


@pytest.fixture
def models(workspace: Store, tmp_path: Path) -> Store:
    from sklearn.linear_model import LinearRegression

    x = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0]])
    model = LinearRegression().fit(x, x[:, 0] * 2 + x[:, 1])
    registry.register_model(
        "pricer", model, input_example=[{"size": 1.0, "rooms": 0.0}], store=workspace
    )
    registry.set_alias(workspace, "pricer", "production", 1)
    folder = shutil.copytree(RESOURCES / "good" / "score_model", tmp_path / "sizer")
    signature = {"inputs": [{"name": "size", "type": "float64"}]}
    registry.register_model("sizer", folder, signature=signature, store=workspace)
    return workspace


@pytest.fixture
def server(models: Store, project: Path) -> Iterator[Server]:
    running = Server(project, "pricer@production", "sizer@1")
    yield running
    if running.process.poll() is None:
        running.stop()


def test_health_metadata_and_both_protocols_answer(server: Server) -> None:
    assert httpx.get(f"{server.url}/v2/health/live").json() == {"live": True}
    meta = httpx.get(f"{server.url}/v2/models/pricer").json()
    assert meta["versions"] == ["1"] and meta["platform"] == "sklearn"
    assert [i["name"] for i in meta["inputs"]] == ["size", "rooms"]
    scored = server.post(
        "/score/pricer", [{"size": 2.0, "rooms": 1.0}, {"size": 5.0, "rooms": 0.0}]
    )
    assert scored.status_code == 200
    body = scored.json()
    assert body["version"] == 1 and np.allclose(body["predictions"], [5.0, 10.0])
    assert scored.headers["x-request-id"] == body["request_id"]
    oip = server.post(
        "/v2/models/pricer/versions/1/infer",
        {
            "id": "r1",
            "inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [3.0, 1.0]}],
        },
    )
    assert oip.status_code == 200, oip.text
    assert oip.json()["id"] == "r1" and np.allclose(oip.json()["outputs"][0]["data"], [7.0])
    python = server.post("/score/sizer", {"size": 4})
    assert python.json()["predictions"] == [{"label": "big"}]


@pytest.mark.parametrize(
    ("path", "body", "status", "field", "text"),
    [
        ("/score/pricer", [{"size": 1.0}], 400, "rooms", "has no field 'rooms'"),
        ("/score/pricer", [{"size": "big", "rooms": 1.0}], 400, "size", "must be a number"),
        ("/score/pricer", [{"size": float("nan"), "rooms": 1.0}], 400, "size", "NaN"),
        ("/score/pricer", [{"size": 1.0, "rooms": 1.0, "color": 3}], 400, "color", "does not take"),
        ("/score/pricer", [{"size": True, "rooms": 1.0}], 400, "size", "must be a number"),
        (
            "/score/pricer",
            [{"size": 1.0, "rooms": 1.0}, {"size": 1.0, "rooms": None}],
            400,
            "rooms",
            "record 1 field 'rooms' must be a number",
        ),
        ("/score/pricer", {"records": []}, 400, "records", "a list of records"),
        ("/score/nothing", [{}], 404, None, "no model named 'nothing'"),
    ],
)
def test_bad_input_is_a_4xx_that_names_the_field(
    server: Server, path: str, body: object, status: int, field: str | None, text: str
) -> None:
    raw = json.dumps(body, allow_nan=True)
    response = httpx.post(
        f"{server.url}{path}", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"type", "message", "field", "request_id"}
    assert error["field"] == field and text in error["message"]
    assert error["request_id"] == response.headers["x-request-id"]


def test_oip_errors_use_the_protocol_shape(server: Server) -> None:
    bad_shape = server.post(
        "/v2/models/pricer/infer",
        {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1.0]}]},
    )
    assert bad_shape.status_code == 400 and "1 values for shape [1, 2]" in bad_shape.json()["error"]
    missing = server.post("/v2/models/pricer/infer", {"inputs": [{"name": "x", "shape": [1, 2]}]})
    assert missing.status_code == 400 and "has no 'datatype'" in missing.json()["error"]
    text = server.post(
        "/v2/models/pricer/infer",
        {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1.0, "a"]}]},
    )
    assert text.status_code == 400 and "holds 'a', not FP64" in text.json()["error"]
    unknown = server.post(
        "/v2/models/pricer/infer",
        {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP128", "data": [1.0, 2.0]}]},
    )
    assert unknown.status_code == 400 and "datatype 'FP128'" in unknown.json()["error"]
    nested = server.post(
        "/v2/models/pricer/infer",
        {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [[1, 0], [2, 1]]}]},
    )
    assert nested.status_code == 200 and np.allclose(nested.json()["outputs"][0]["data"], [2, 5])
    assert nested.json()["outputs"][0]["shape"] == [2]


def test_a_body_over_the_limit_and_invalid_json_are_refused(models: Store, project: Path) -> None:
    server = Server(project, "pricer@1", "--max-body-bytes", "200")
    try:
        big = server.post("/score", [{"size": 1.0, "rooms": 1.0}] * 50)
        assert big.status_code == 413 and "limit is 200" in big.json()["error"]["message"]
        broken = httpx.post(
            f"{server.url}/score",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        assert broken.status_code == 400 and broken.json()["error"]["type"] == "invalid_json"
    finally:
        server.stop()


def test_a_model_that_raises_is_a_500_with_the_request_id_and_the_server_keeps_serving(
    server: Server,
) -> None:
    failed = server.post(
        "/score/sizer", {"size": 1, "explode": True}, headers={"x-request-id": "req-42"}
    )
    assert failed.status_code == 500
    assert (
        "req-42" in failed.json()["error"]["message"]
        and failed.json()["error"]["request_id"] == "req-42"
    )
    assert server.post("/score/sizer", {"size": 1}).status_code == 200
    server.stop()
    log = server.log.read_text()
    assert "the model cannot handle this" in log, "the model's error is logged"
    access = [json.loads(line) for line in log.splitlines() if line.startswith('{"ts"')]
    assert any(a["request_id"] == "req-42" and a["status"] == 500 for a in access)


def test_prometheus_metrics_count_requests_errors_and_latency_per_version(server: Server) -> None:
    server.post("/score/pricer", [{"size": 1.0, "rooms": 1.0}])
    server.post("/score/pricer", [{"size": "x", "rooms": 1.0}])
    text = httpx.get(f"{server.url}/metrics").text
    assert 'gyre_requests_total{model="pricer",route="score",status="200",version="1"} 1.0' in text
    assert 'gyre_errors_total{kind="invalid_input",model="pricer",version="1"} 1.0' in text
    assert (
        'gyre_request_latency_seconds_bucket{le="0.1",model="pricer",route="score",version="1"}'
        in text
    )


def test_metrics_follow_prometheus_naming_conventions(server: Server) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    assert server.post("/score/pricer", [{"size": 1.0, "rooms": 1.0}]).status_code == 200
    text = httpx.get(f"{server.url}/metrics").text
    families = {
        f.name: f for f in text_string_to_metric_families(text) if f.name.startswith("gyre_")
    }
    for family in families.values():
        names = {sample.name for sample in family.samples}
        if family.type == "counter":
            # the parser takes "_total" off a counter's name; the exposition must have it
            assert f"# TYPE {family.name}_total counter" in text, family.name
            assert all(n.endswith(("_total", "_created")) for n in names), (family.name, names)
        else:
            assert not family.name.endswith("_total"), f"{family.name} is a {family.type}"
            assert not any(n.endswith("_total") for n in names), (family.name, names)
    counters = {name for name, family in families.items() if family.type == "counter"}
    assert {
        "gyre_requests",
        "gyre_errors",
        "gyre_batches",
        "gyre_collector_journaled_rows",
        "gyre_collector_dropped_rows",
        "gyre_collector_converted_rows",
        "gyre_collector_quarantined_rows",
        "gyre_collector_conversion_failures",
    } <= counters
    assert families["gyre_request_latency_seconds"].type == "histogram"
    journaled = families["gyre_collector_journaled_rows"].samples
    assert [(s.name, s.value) for s in journaled] == [("gyre_collector_journaled_rows_total", 1)]
    batches = families["gyre_batches"].samples
    assert [(s.labels, s.value) for s in batches if s.labels["model"] == "pricer"] == [
        ({"model": "pricer", "version": "1"}, 1)
    ]


def test_concurrent_requests_are_micro_batched(server: Server) -> None:
    results: list[int] = []

    def call() -> None:
        results.append(server.post("/score/pricer", [{"size": 1.0, "rooms": 0.0}]).status_code)

    threads = [threading.Thread(target=call) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 40
    text = httpx.get(f"{server.url}/metrics").text
    batches = float(
        next(
            line.split()[-1]
            for line in text.splitlines()
            if line.startswith("gyre_batches_total{") and 'model="pricer"' in line
        )
    )
    assert 1 <= batches < 40


def test_sigterm_lets_an_in_flight_request_finish(models: Store, project: Path) -> None:
    server = Server(project, "sizer@1")
    answer: dict[str, int] = {}

    def slow() -> None:
        answer["status"] = server.post("/score", {"size": 1, "sleep": 1.5}).status_code

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.5)
    # uvicorn finishes in-flight requests, then re-raises SIGTERM so the exit status says why.
    assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    thread.join()
    assert answer["status"] == 200


def test_every_answered_request_survives_sigkill_and_reaches_the_inference_dataset(
    models: Store, project: Path
) -> None:
    server = Server(project, "pricer@production")
    for i in range(25):
        assert server.post("/score", {"size": float(i), "rooms": 1.0}).status_code == 200
    server.stop(signal.SIGKILL)
    restarted = Server(project, "pricer@production")
    assert restarted.post("/score", {"size": 100.0, "rooms": 0.0}).status_code == 200
    assert restarted.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    table = append_only.window(models, "pricer-inference")
    assert table.num_rows == 26
    assert sorted(table["in_size"].to_pylist()) == sorted([float(i) for i in range(25)] + [100.0])
    assert set(table.column_names) == {
        "request_id",
        "row",
        "model",
        "version",
        "timestamp",
        "latency_ms",
        "in_size",
        "in_rooms",
        "outputs",
    }
    assert table["row"].to_pylist() == [0] * 26


def test_a_full_journal_keeps_answering_and_counts_what_it_did_not_record(
    models: Store, project: Path
) -> None:
    server = Server(project, "pricer@1", "--journal-limit-bytes", "600")
    try:
        statuses = [
            server.post("/score", {"size": 1.0, "rooms": 1.0}).status_code for _ in range(10)
        ]
        assert statuses == [200] * 10
        text = httpx.get(f"{server.url}/metrics").text
        dropped = float(
            next(
                line.split()[-1]
                for line in text.splitlines()
                if line.startswith("gyre_collector_dropped_rows_total ")
            )
        )
        journaled = float(
            next(
                line.split()[-1]
                for line in text.splitlines()
                if line.startswith("gyre_collector_journaled_rows_total ")
            )
        )
        assert dropped > 0 and dropped + journaled == 10
    finally:
        server.stop()
    assert "journal full or disk full" in server.log.read_text()


def test_collection_can_be_switched_off(models: Store, project: Path) -> None:
    from gyre.errors import NotFound

    server = Server(project, "pricer@1", "--no-collect")
    server.post("/score", {"size": 1.0, "rooms": 1.0})
    server.stop()
    with pytest.raises(NotFound):
        append_only.window(models, "pricer-inference")
    assert os.environ.get("GYRE_URI") is None


def test_a_port_already_in_use_is_named(models: Store, project: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "gyre.cli.main", "serve", "pricer@1", "--port", str(port)],
            capture_output=True,
            text=True,
            cwd=project,
            timeout=60,
        )
        typo = subprocess.run(
            [sys.executable, "-m", "gyre.cli.main", "serve", "pricr@1", "--port", str(port)],
            capture_output=True,
            text=True,
            cwd=project,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"Cannot serve on 127.0.0.1:{port}" in done.stderr and "--port" in done.stderr
    assert "Traceback" not in done.stderr
    assert typo.returncode == 1 and "Cannot serve" not in typo.stderr, "the typo is named first"
    assert "pricr" in typo.stderr


def test_unknown_models_versions_and_aliases_list_what_exists(models: Store, project: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gyre.cli.main", "serve", "pricer@staging"],
        capture_output=True,
        text=True,
        cwd=project,
        timeout=60,
    )
    assert done.returncode == 1 and "no version or alias 'staging'" in done.stderr
    assert "latest, production" in done.stderr


def test_data_show_lists_what_the_collector_gathered(models: Store, project: Path) -> None:
    server = Server(project, "pricer@production")
    for _ in range(3):
        server.post("/score", {"size": 2.0, "rooms": 1.0})
    server.stop()
    shown = subprocess.run(
        [sys.executable, "-m", "gyre.cli.main", "data", "show", "pricer-inference"],
        capture_output=True,
        text=True,
        cwd=project,
        check=True,
    ).stdout
    assert "pricer-inference (append-only): 1 sealed partitions, 3 rows" in shown
