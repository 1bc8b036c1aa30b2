"""No input makes the scoring server answer 5xx: schemathesis over its own OpenAPI document
with every check, and a hypothesis fuzz of the scoring routes with the malformed families
real clients send (deep nesting, wrong JSON types in every field, non-finite and out-of-range
numbers, invalid UTF-8, wrong content types, empty and oversized bodies). A real ``gyre
serve`` process; bounded numbers of requests, all to 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.scoring_models import IRIS, MODELS, make_project
from support.scoring_server import ScoringServer

MAX_BODY = 64 << 10
# JSON Schema cannot say that a tensor's data holds prod(shape) values, that an OIP request
# names the model's columns, or that MLflow's dataframe_split rows are as wide as its columns:
# there a request the schema allows may still be refused, with a 400 that says why.
SCHEMATHESIS_CONFIG = """
[generation]
max-examples = 40

[[operations]]
include-path-regex = "(/infer|/invocations)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "404"]
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScoringServer]:
    project = make_project(tmp_path_factory.mktemp("fuzz"))
    running = ScoringServer(project, *MODELS, "--max-body-bytes", str(MAX_BODY))
    yield running
    running.stop()
    defects = [line for line in running.log.read_text().splitlines() if line.endswith(" failed")]
    assert not defects, "the server logged defects of its own: " + "; ".join(defects[:5])


def test_schemathesis_with_every_check_finds_no_violation_of_the_openapi_document(
    server: ScoringServer, tmp_path: Path
) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    report = tmp_path / "junit.xml"
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "--config-file",
            str(config),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "all",
            "--report",
            "junit",
            "--report-junit-path",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,  # its example database stays out of the checkout
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "No issues found" in done.stdout or " passed" in done.stdout, done.stdout[-3000:]


# --- the hand-written fuzz --------------------------------------------------------------------

SCORE_PATHS = ["/score/iris", "/score/odd", "/score/houses", "/score/tensor", "/score"]
INFER_PATHS = [f"/v2/models/{m.split('@')[0]}/infer" for m in MODELS]
PATHS = [*SCORE_PATHS, *INFER_PATHS, "/v2/models/iris/versions/1/infer", "/invocations"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
numbers = st.sampled_from(
    [
        "Infinity",
        "-Infinity",
        "NaN",
        "1e400",
        "-1e400",
        str(2**70),
        str(-(2**64)),
        "1e-400",
        "300",
        "-1",
    ]
)
datatypes = st.sampled_from(
    [
        "BOOL",
        "UINT8",
        "UINT64",
        "INT8",
        "INT32",
        "INT64",
        "FP16",
        "FP32",
        "FP64",
        "BYTES",
        "BF16",
        "fp64",
        "",
    ]
)


def _valid_tensor() -> dict[str, Any]:
    return {"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}


@st.composite
def oip_with_a_wrong_field(draw: st.DrawFn) -> bytes:
    """A valid OIP request with one field replaced by any JSON value."""
    body: dict[str, Any] = {"id": "x", "inputs": [_valid_tensor()], "outputs": [{"name": "output"}]}
    where = draw(
        st.sampled_from(
            [
                "id",
                "parameters",
                "inputs",
                "outputs",
                "inputs.name",
                "inputs.shape",
                "inputs.datatype",
                "inputs.data",
                "inputs.parameters",
                "outputs.name",
                "outputs.parameters",
                "inputs.item",
                "outputs.item",
            ]
        )
    )
    value = draw(json_values)
    if where == "inputs.item":
        body["inputs"] = [value]
    elif where == "outputs.item":
        body["outputs"] = [value]
    elif where.startswith("inputs."):
        body["inputs"][0][where.split(".")[1]] = value
    elif where.startswith("outputs."):
        body["outputs"][0][where.split(".")[1]] = value
    else:
        body[where] = value
    return json.dumps(body).encode()


@st.composite
def odd_numbers(draw: st.DrawFn) -> bytes:
    """Non-finite and out-of-range numbers, spelled as clients spell them, in tensors and
    records."""
    number = draw(numbers)
    datatype = draw(datatypes)
    if draw(st.booleans()):
        return (
            '{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "'
            + datatype
            + '", "data": [1, 2, '
            + number
            + ", 4]}]}"
        ).encode()
    record = {name: 1.0 for name in IRIS.data.columns}
    text = json.dumps(record)
    return text.replace("1.0", number, 1).encode()


nested = st.integers(min_value=1, max_value=60_000).map(
    lambda depth: b"[" * depth + b"1" + b"]" * depth
) | st.integers(min_value=900, max_value=1100).map(
    lambda depth: (
        '{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": '
        + "[" * depth
        + "1"
        + "]" * depth
        + "}]}"
    ).encode()
)
garbage = st.binary(max_size=64) | st.just(b'\xff\xfe{"a": 1}') | st.just(b'{"x": "\xc3\x28"}')
empty_or_huge = st.sampled_from([b"", b" ", b"{}", b"[]", b"null", b"[" + b"1," * MAX_BODY + b"1]"])
bodies = oip_with_a_wrong_field() | odd_numbers() | nested | garbage | empty_or_huge
content_types = st.sampled_from(
    [
        "application/json",
        "text/plain",
        "text/csv",
        "application/octet-stream",
        "multipart/form-data",
        "",
    ]
)


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(path=st.sampled_from(PATHS), body=bodies, content_type=content_types)
def test_no_malformed_body_makes_a_server_error(
    server: ScoringServer, path: str, body: bytes, content_type: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = httpx.post(f"{server.url}{path}", content=body, headers=headers, timeout=30)
    assert response.status_code < 500, (path, body[:200], response.text[:500])
    error = response.json().get("error") if response.status_code >= 400 else None
    if path.startswith("/v2/") and response.status_code >= 400:
        assert isinstance(error, str), response.text
    elif path.startswith("/score") and response.status_code >= 400:
        assert set(error) == {"type", "message", "field", "request_id"}, response.text
