"""The scoring contract with models trained the way people train them (scikit-learn on
DataFrames with their real column names) and with clients no one here wrote: Triton's
``tritonclient``, the Open Inference Protocol spelled out by hand, MLflow's ``/invocations``
formats. One real ``gyre serve`` process serves every model of this module."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from conftest import RESOURCES
from support.scoring_models import IRIS, MODELS, ODD_NAMES, houses, make_project, odd_frame
from support.scoring_server import ScoringServer


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScoringServer]:
    project = make_project(tmp_path_factory.mktemp("protocols"))
    server = ScoringServer(project, *MODELS)
    yield server
    server.stop()


def _infer(server: ScoringServer, model: str, body: object) -> tuple[int, dict]:
    response = server.raw(
        "POST",
        f"/v2/models/{model}/infer",
        json.dumps(body).encode(),
        **{"content-type": "application/json"},
    )
    return response.status_code, response.json()


def test_a_model_trained_on_iris_as_a_dataframe_serves_on_every_route(
    served: ScoringServer,
) -> None:
    rows = IRIS.data.iloc[[0, 60, 120]]
    expected = [0, 1, 2]
    records = rows.to_dict("records")
    one = served.post("/score/iris", records[0])
    assert one.status_code == 200, one.text
    assert one.json()["predictions"] == [0]
    many = served.post("/score/iris", records)
    assert many.json()["predictions"] == expected
    wrapped = served.post("/score/iris", {"records": records})
    assert wrapped.json()["predictions"] == expected
    per_column = {
        "id": "iris-1",
        "inputs": [
            {"name": name, "shape": [3], "datatype": "FP64", "data": rows[name].tolist()}
            for name in reversed(IRIS.data.columns)  # any order
        ],
    }
    status, body = _infer(served, "iris", per_column)
    assert status == 200, body
    assert body["id"] == "iris-1"
    assert body["outputs"][0] == {
        "name": "output",
        "datatype": "INT64",
        "shape": [3],
        "data": expected,
    }
    matrix = {
        "inputs": [
            {
                "name": "features",
                "shape": [3, 4],
                "datatype": "FP32",
                "data": rows.to_numpy().tolist(),
            }
        ]
    }
    status, body = _infer(served, "iris", matrix)
    assert status == 200, body
    assert body["outputs"][0]["data"] == expected


def test_column_names_of_any_spelling_work_on_every_route(served: ScoringServer) -> None:
    frame = odd_frame().iloc[:2]
    records = frame.to_dict("records")
    want = served.post("/score/odd", records)
    assert want.status_code == 200, want.text
    predictions = want.json()["predictions"]
    assert served.post("/score/odd", records[0]).json()["predictions"] == predictions[:1]
    status, body = _infer(
        served,
        "odd",
        {
            "inputs": [
                {"name": n, "shape": [2, 1], "datatype": "FP64", "data": frame[n].tolist()}
                for n in ODD_NAMES
            ]
        },
    )
    assert status == 200, body
    assert np.allclose(body["outputs"][0]["data"], predictions)
    meta = served.get("/v2/models/odd").json()
    assert [i["name"] for i in meta["inputs"]] == ODD_NAMES


def test_text_and_integer_columns_serve_as_records_and_as_one_tensor_per_column(
    served: ScoringServer,
) -> None:
    records = houses().head(2).to_dict("records")
    scored = served.post("/score/houses", records)
    assert scored.status_code == 200, scored.text
    status, body = _infer(
        served,
        "houses",
        {
            "inputs": [
                {"name": "city", "shape": [2], "datatype": "BYTES", "data": ["Taipei", "Tainan"]},
                {"name": "rooms", "shape": [2], "datatype": "INT32", "data": [1, 2]},
                {"name": "size m²", "shape": [2], "datatype": "FP64", "data": [30.0, 55.5]},
            ]
        },
    )
    assert status == 200, body
    assert np.allclose(body["outputs"][0]["data"], scored.json()["predictions"])
    whole = served.post("/score/houses", [{"city": "Taipei", "rooms": 2.0, "size m²": 1}])
    assert whole.status_code == 200, "a whole number sent as 2.0 is an integer"


def test_metadata_lists_one_input_per_column_and_the_output_every_answer_holds(
    served: ScoringServer,
) -> None:
    meta = served.get("/v2/models/iris").json()
    assert meta["inputs"] == [
        {"name": name, "datatype": "FP64", "shape": [-1]} for name in IRIS.data.columns
    ]
    assert meta["outputs"] == [{"name": "output", "datatype": "INT64", "shape": [-1]}]
    houses = served.get("/v2/models/houses").json()
    assert [i["datatype"] for i in houses["inputs"]] == ["BYTES", "INT64", "FP64"]
    tensor = served.get("/v2/models/tensor").json()
    assert tensor["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 4]}]
    assert served.get("/v2").json()["extensions"] == ["binary_tensor_data"]


def _column(
    name: str, datatype: str = "FP64", shape: list[int] | None = None, data: list | None = None
) -> dict:
    return {"name": name, "shape": shape or [1], "datatype": datatype, "data": data or [1.0]}


IRIS_COLUMNS = [_column(n) for n in IRIS.data.columns]


@pytest.mark.parametrize(
    ("model", "body", "named", "text"),
    [
        ("iris", {"inputs": [*IRIS_COLUMNS, _column("petals")]}, "petals", "no input 'petals'"),
        ("iris", {"inputs": IRIS_COLUMNS[:3]}, "petal width (cm)", "no input 'petal width (cm)'"),
        (
            "iris",
            {"inputs": [_column("x", shape=[1, 3], data=[1.0, 2.0, 3.0])]},
            "x",
            "shape [N, 4]",
        ),
        (
            "iris",
            {"inputs": [*IRIS_COLUMNS[:3], _column("petal width (cm)", "BYTES", data=["1"])]},
            "petal width (cm)",
            "is BYTES",
        ),
        (
            "iris",
            {
                "inputs": [
                    *IRIS_COLUMNS[:3],
                    _column("petal width (cm)", shape=[2], data=[1.0, 2.0]),
                ]
            },
            "petal width (cm)",
            "every column needs the same number of rows",
        ),
        (
            "tensor",
            {"inputs": [_column("input", shape=[1, 3], data=[1.0, 2.0, 3.0])]},
            "input",
            "the model takes [-1, 4]",
        ),
        (
            "tensor",
            {"inputs": [_column("pixels", shape=[1, 4], data=[1.0] * 4)]},
            "pixels",
            "no input 'pixels'",
        ),
        (
            "houses",
            {
                "inputs": [
                    _column("city", "BYTES", data=["a"]),
                    _column("rooms", "FP64"),
                    _column("size m²"),
                ]
            },
            "rooms",
            "is FP64",
        ),
        (
            "tensor",
            {"inputs": [_column("input", "INT8", [1, 4], [1, 2, 300, 4])]},
            "input",
            "outside the range of INT8",
        ),
        (
            "tensor",
            {"inputs": [_column("input", "UINT8", [1, 4], [1, 2, -3, 4])]},
            "input",
            "outside the range of UINT8",
        ),
        (
            "tensor",
            {"inputs": [_column("input", "FP16", [1, 4], [1, 2, 70000.0, 4])]},
            "input",
            "outside the range of FP16",
        ),
        (
            "tensor",
            {"inputs": [_column("input", "FP64", [1, 4], [1, 2, 3, "4"])]},
            "input",
            "not FP64",
        ),
        (
            "tensor",
            {"inputs": [_column("input", "BF16", [1, 4], [1.0] * 4)]},
            "input",
            "datatype 'BF16'",
        ),
        (
            "tensor",
            {"inputs": [_column("input", "FP64", [2, 2], [[1, 2], [3]])]},
            "input",
            "does not match its shape",
        ),
        (
            "tensor",
            {"inputs": [_column("input", "FP64", "2x4", [1.0] * 8)]},
            "input",
            "a shape is a list",
        ),
        (
            "tensor",
            {"inputs": [_column("input", "FP64", [1, 4], [1.0] * 4)], "id": 7},
            "id",
            "'id' must be a string",
        ),
        (
            "tensor",
            {
                "inputs": [_column("input", "FP64", [1, 4], [1.0] * 4)],
                "outputs": [{"name": "probabilities"}],
            },
            "probabilities",
            "no output 'probabilities'",
        ),
        ("tensor", {"inputs": "x"}, "inputs", "needs 'inputs'"),
        (
            "tensor",
            {"inputs": [{"name": ["a"], "shape": [1], "datatype": "FP64", "data": [1]}]},
            "inputs[0]",
            "no 'name'",
        ),
        (
            "tensor",
            {"inputs": [{"name": "input", "shape": [1, 4], "datatype": ["FP64"], "data": [1] * 4}]},
            "input",
            "no 'datatype'",
        ),
    ],
)
def test_oip_requests_the_model_cannot_take_are_400_naming_the_tensor(
    served: ScoringServer, model: str, body: dict, named: str, text: str
) -> None:
    status, answer = _infer(served, model, body)
    assert status == 400, answer
    assert set(answer) == {"error"}, "the protocol's own error shape"
    assert text in answer["error"] and named in answer["error"]


def test_infinity_reaches_no_model_on_either_route(served: ScoringServer) -> None:
    body = b'{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, Infinity, 4]}]}'
    oip = served.raw(
        "POST", "/v2/models/tensor/infer", body, **{"content-type": "application/json"}
    )
    assert oip.status_code == 400 and "Infinity" in oip.json()["error"]
    record = IRIS.data.iloc[0].to_dict() | {"sepal width (cm)": float("inf")}
    score = served.raw("POST", "/score/iris", json.dumps(record).encode())
    assert score.status_code == 400
    assert score.json()["error"]["field"] == "sepal width (cm)"


@pytest.mark.parametrize(
    ("datatype", "data"),
    [
        ("BOOL", [True, False, True, False]),
        ("UINT8", [1, 2, 3, 255]),
        ("UINT16", [1, 2, 3, 4]),
        ("UINT32", [1, 2, 3, 4]),
        ("UINT64", [1, 2, 3, 4]),
        ("INT8", [-1, 2, 3, 4]),
        ("INT16", [1, 2, 3, 4]),
        ("INT32", [1, 2, 3, 4]),
        ("INT64", [1, 2, 3, 4]),
        ("FP16", [1.5, 2, 3, 4]),
        ("FP32", [1.5, 2, 3, 4]),
        ("FP64", [1.5, 2, 3, 4]),
        ("BYTES", ["a", "b", "c", "d"]),
    ],
)
def test_every_datatype_of_the_protocol_is_accepted_or_refused_with_400(
    served: ScoringServer, datatype: str, data: list
) -> None:
    status, answer = _infer(
        served,
        "tensor",
        {"inputs": [{"name": "input", "shape": [1, 4], "datatype": datatype, "data": data}]},
    )
    if datatype in ("BOOL", "BYTES"):
        assert status == 400 and f"is {datatype}" in answer["error"]
    else:
        assert status == 200, answer
        assert answer["outputs"][0]["shape"] == [1]


def test_requested_outputs_are_honoured(served: ScoringServer) -> None:
    status, answer = _infer(
        served,
        "tensor",
        {
            "inputs": [_column("input", "FP64", [1, 4], [5.1, 3.5, 1.4, 0.2])],
            "outputs": [{"name": "output"}],
        },
    )
    assert status == 200 and answer["outputs"][0]["data"] == [0]


def test_routes_answered_by_the_framework_keep_each_protocol_s_error_shape(
    served: ScoringServer,
) -> None:
    unknown = served.get("/v2/models/iris/nothing")
    assert unknown.status_code == 404 and set(unknown.json()) == {"error"}
    wrong_method = served.raw("DELETE", "/v2/health/live")
    assert wrong_method.status_code == 405 and set(wrong_method.json()) == {"error"}
    get_infer = served.get("/v2/models/iris/infer")
    assert get_infer.status_code == 405 and get_infer.headers["allow"] == "POST"
    assert set(get_infer.json()) == {"error"}
    elsewhere = served.get("/nowhere")
    assert elsewhere.status_code == 404
    assert set(elsewhere.json()["error"]) == {"type", "message", "field", "request_id"}
    assert elsewhere.json()["error"]["request_id"] == elsewhere.headers["x-request-id"]


def test_mlflow_clients_score_with_every_invocations_format(
    tmp_path: Path, served: ScoringServer
) -> None:
    one = ScoringServer(Path(served.log).parent, "iris@1", "--no-collect")
    try:
        rows = IRIS.data.iloc[[0, 60, 120]]
        split = json.loads(rows.to_json(orient="split"))
        bodies = [
            {"dataframe_split": split},
            {"dataframe_split": {"columns": split["columns"], "data": split["data"]}},
            {"dataframe_records": rows.to_dict("records")},
            {"instances": rows.to_dict("records")},
            {"inputs": rows.to_dict("list"), "params": {}},
        ]
        for body in bodies:
            answer = one.post("/invocations", body)
            assert answer.status_code == 200, (body, answer.text)
            assert answer.json() == {"predictions": [0, 1, 2]}
        csv = one.raw(
            "POST",
            "/invocations",
            rows.to_csv(index=False).encode(),
            **{"content-type": "text/csv"},
        )
        assert csv.json() == {"predictions": [0, 1, 2]}, csv.text
        bad = one.post("/invocations", {"dataframe_records": [{"sepal length (cm)": 1.0}]})
        assert bad.status_code == 400
        assert (
            bad.json()["error_code"] == "BAD_REQUEST"
            and "sepal width (cm)" in bad.json()["message"]
        )
        both = one.post("/invocations", {"instances": [], "inputs": []})
        assert both.status_code == 400 and "exactly one of" in both.json()["message"]
        assert one.get("/ping").status_code == 200
    finally:
        one.stop()


def test_tritonclient_reads_metadata_and_infers_in_json_and_binary_modes(
    served: ScoringServer,
) -> None:
    import tritonclient.http as triton

    client = triton.InferenceServerClient(f"127.0.0.1:{served.port}")
    assert client.is_server_live() and client.is_model_ready("iris")
    metadata = client.get_model_metadata("iris")
    rows = IRIS.data.iloc[[0, 60, 120]]
    for binary in (False, True):
        inputs = []
        for spec in metadata["inputs"]:  # exactly what the metadata advertises
            tensor = triton.InferInput(spec["name"], [3], spec["datatype"])
            tensor.set_data_from_numpy(rows[spec["name"]].to_numpy(), binary_data=binary)
            inputs.append(tensor)
        outputs = [triton.InferRequestedOutput("output", binary_data=binary)]
        result = client.infer("iris", inputs, outputs=outputs, request_id="t-1")
        assert result.as_numpy("output").tolist() == [0, 1, 2]
        assert result.get_response()["id"] == "t-1"
    matrix = triton.InferInput("input", [3, 4], "FP32")
    matrix.set_data_from_numpy(rows.to_numpy(dtype=np.float32), binary_data=True)
    result = client.infer("tensor", [matrix])
    assert result.as_numpy("output").tolist() == [0, 1, 2]
    stray = triton.InferInput("petals", [1], "FP64")
    stray.set_data_from_numpy(np.ones(1))
    with pytest.raises(triton.InferenceServerException, match="no input 'petals'"):
        client.infer("iris", [stray])
    client.close()


def test_the_openapi_document_describes_every_scoring_route_and_metrics_as_text(
    served: ScoringServer,
) -> None:
    document = served.get("/openapi.json").json()
    paths = document["paths"]
    for path in ("/score/iris", "/v2/models/iris/infer", "/v2/models/iris/versions/1/infer"):
        assert "post" in paths[path], path
        assert {"200", "400", "404", "413", "500"} <= set(paths[path]["post"]["responses"])
    record = paths["/score/iris"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    items = record["anyOf"][0]["items"]
    assert items["required"] == list(IRIS.data.columns)
    metrics = paths["/metrics"]["get"]["responses"]["200"]["content"]
    assert "application/json" not in metrics and any(t.startswith("text/plain") for t in metrics)


KSERVE_PYTHON = Path(__file__).parents[2] / ".venv-kserve" / "bin" / "python"


def test_kserve_rest_client_infers_per_column_in_json_and_binary(served: ScoringServer) -> None:
    if not KSERVE_PYTHON.exists():
        message = "KServe's client is installed by `make test` (.venv-kserve)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    rows = IRIS.data.iloc[[0, 60, 120]]
    done = subprocess.run(
        [str(KSERVE_PYTHON), str(RESOURCES / "clients" / "kserve_client.py"), served.url, "iris"],
        input=json.dumps(rows.to_dict("list")),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.splitlines()[-1])
    assert results["ready"] is True
    for binary in ("False", "True"):
        assert results[f"binary={binary}"] == {"id": f"k-{binary}", "output": [0, 1, 2]}
    assert results["refused"]["status"] == 400
    assert "no input 'petals'" in results["refused"]["body"]["error"]
