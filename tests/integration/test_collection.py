"""The data collector as users run it: a real `gyre serve`, its converter, the real CLI."""

from __future__ import annotations

import fcntl
import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pyarrow.csv as pa_csv
import pytest

from conftest import RESOURCES
from gyre.data import append_only
from gyre.registry import models as registry
from gyre.serving.collector import journal_folder
from gyre.store import Store
from support.scoring_server import ScoringServer


@pytest.fixture
def echo(workspace: Store, tmp_path: Path) -> Store:
    """A python-flavor model that takes any JSON and answers each item with its "reply"."""
    folder = shutil.copytree(RESOURCES / "good" / "echo_model", tmp_path / "echo")
    registry.register_model("echo", folder, store=workspace)
    return workspace


@pytest.fixture
def serve(project: Path) -> Iterator[Callable[..., ScoringServer]]:
    """Starts `gyre serve` in the project; whatever a failed test left running is killed."""
    started: list[ScoringServer] = []

    def start(*args: str) -> ScoringServer:
        started.append(ScoringServer(project, *args))
        return started[-1]

    yield start
    for server in started:
        if server.process.poll() is None:
            server.stop(signal.SIGKILL)


def gyre(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gyre.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=project,
        timeout=120,
    )


def metric(server: ScoringServer, name: str) -> float | None:
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[-1])
    return None


def nested(depth: int) -> object:
    value: object = "bottom"
    for level in range(depth):
        value = {"level": level, "below": value}
    return value


BODIES: list[object] = [
    {"x": [1, 2], "meta": {}},  # the body that jammed the collector (issue 12)
    {"x": [], "meta": {"a": {"b": [{"c": {}}]}}, "reply": {}},
    {"ключ": 1, "名前": "値", "emoji 🙂": [True, None]},
    {"v": 1},
    {"v": "one"},
    {"v": [1, "two", {"three": 3}]},
    {"v": {"k": [[]]}, "reply": []},
    {"deep": nested(200), "reply": {"nested": nested(40)}},
    [{"a": 1}, {"b": "two"}, 3, [4], None],
    {},
]
ROWS = sum(len(b) if isinstance(b, list) else 1 for b in BODIES)


def test_rows_of_any_json_shape_reach_the_inference_dataset(
    echo: Store, project: Path, serve: Callable[..., ScoringServer]
) -> None:
    server = serve("echo@1")
    ids = []
    for body in BODIES:
        answered = server.post("/score", body)
        assert answered.status_code == 200, answered.text
        ids.append(answered.json()["request_id"])
    assert server.stop() in (0, -signal.SIGTERM)
    table = append_only.window(echo, "echo-inference")
    assert table.num_rows == ROWS
    assert set(table["request_id"].to_pylist()) == set(ids)
    by_request = {(r["request_id"], r["row"]): r for r in table.to_pylist()}
    first = by_request[(ids[0], 0)]
    assert json.loads(first["in_meta"]) == {}, "an empty object is kept, as JSON text"
    deep = by_request[(ids[7], 0)]
    assert json.loads(deep["in_deep"]) == nested(200)
    unicode = by_request[(ids[2], 0)]
    assert unicode["in_ключ"] == 1 and unicode["in_名前"] == "値"
    assert gyre(project, "data", "quarantine", "echo-inference").stdout.strip() == (
        "echo-inference: no quarantined rows."
    )


def test_a_journal_record_that_cannot_be_read_is_quarantined_and_the_rows_after_it_converted(
    echo: Store, project: Path, serve: Callable[..., ScoringServer]
) -> None:
    server = serve("echo@1")
    for index in range(3):
        assert server.post("/score", {"before": index}).status_code == 200
    assert server.stop() in (0, -signal.SIGTERM)
    # What a crash of the machine can leave in a journal: a line cut short, then zeros.
    journal = journal_folder(echo, "echo")
    segment = sorted(journal.glob("segment-*.journal"))[-1]
    with open(segment, "ab") as damaged:
        damaged.write(
            b'{"request_id": "torn", "model": "echo", "inputs": [{"x"' + b"\0" * 32 + b"\n"
        )
    restarted = serve("echo@1")
    for index in range(2):
        assert restarted.post("/score", {"after": index}).status_code == 200
    deadline = time.monotonic() + 60  # the converter's passes run every few seconds
    while (quarantined := metric(restarted, "gyre_collector_quarantined_rows_total")) != 1:
        assert time.monotonic() < deadline, f"quarantined rows: {quarantined}"
        time.sleep(0.2)
    assert restarted.stop() in (0, -signal.SIGTERM)
    table = append_only.window(echo, "echo-inference")
    assert table.num_rows == 5, "every row but the damaged one is converted"
    listed = gyre(project, "data", "quarantine", "echo-inference", "--json")
    assert listed.returncode == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)
    assert entry["rows"] == 1 and entry["reason"].startswith("JSONDecodeError")
    assert entry["record"].startswith('{"request_id": "torn"')
    text = gyre(project, "data", "quarantine", "echo-inference").stdout
    assert "1 quarantined request(s), 1 row(s)" in text and "JSONDecodeError" in text
    shown = gyre(project, "data", "show", "echo-inference").stdout
    assert "1 scored row(s) could not be written and are quarantined" in shown
    assert "quarantined beside the journal" in restarted.log.read_text()


def test_quarantine_of_a_dataset_that_is_not_an_inference_dataset_says_what_is(
    echo: Store, project: Path
) -> None:
    wrong = gyre(project, "data", "quarantine", "echo")
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    assert "'echo' is not an inference dataset" in wrong.stderr
    assert "echo-inference" in wrong.stderr
    missing = gyre(project, "data", "quarantine", "nothing-inference")
    assert missing.returncode == 1 and "No server has collected rows" in missing.stderr


def test_sigterm_exits_only_once_every_answered_row_is_in_the_inference_dataset(
    echo: Store, project: Path, serve: Callable[..., ScoringServer]
) -> None:
    # Hold the converter's lock, as the converter of a server killed just before does while it
    # finishes its last pass: the new converter is still waiting for it when SIGTERM comes.
    journal = journal_folder(echo, "echo")
    with open(journal / "converter.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        server = serve("echo@1")
        for index in range(3):
            assert server.post("/score", {"n": index}).status_code == 200
        server.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        while "converting what is left" not in server.log.read_text():
            if time.monotonic() > deadline or server.process.poll() is not None:
                break
            time.sleep(0.1)
        fcntl.flock(lock, fcntl.LOCK_UN)
    assert server.process.wait(timeout=60) in (0, -signal.SIGTERM)
    table = append_only.window(echo, "echo-inference")
    assert sorted(table["in_n"].to_pylist()) == [0, 1, 2]


def test_an_inference_dataset_with_list_columns_can_be_fetched_as_csv(
    echo: Store, project: Path, serve: Callable[..., ScoringServer]
) -> None:
    server = serve("echo@1")
    for index in range(3):
        body = {"x": [index, index + 1], "tags": {"a": index}, "reply": [index]}
        assert server.post("/score", body).status_code == 200
    assert server.stop() in (0, -signal.SIGTERM)
    assert gyre(project, "data", "snapshot", "echo-inference").returncode == 0
    done = gyre(project, "data", "get", "echo-inference@1", "out.csv")
    assert done.returncode == 0, done.stderr
    rows = pa_csv.read_csv(project / "out.csv").to_pylist()
    assert sorted(json.loads(r["in_x"]) for r in rows) == [[0, 1], [1, 2], [2, 3]]
    assert sorted(json.loads(r["outputs"]) for r in rows) == [[0], [1], [2]]
