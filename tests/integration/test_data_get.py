"""`gyre data get`: any table dataset out as CSV, Parquet or JSON lines, whole or not at all."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from gyre.data import append_only
from gyre.store import Store

ROWS = [
    {"request_id": "a", "in_x": [1.0, 2.0], "in_tags": {"k": 1}, "outputs": ["cat", "dog"]},
    {"request_id": "b", "in_x": [], "in_tags": None, "outputs": []},
    {"request_id": "c", "in_x": None, "in_tags": {"k": 3}, "outputs": ["ü"]},
]


def gyre(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gyre.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=project,
        timeout=120,
    )


@pytest.fixture
def nested(workspace: Store) -> Store:
    """An inference-like append-only dataset with list and struct columns, version 1."""
    table = pa.Table.from_pylist(ROWS)
    append_only.append(workspace, "shop-inference", table, starts_at=1.0, ends_at=2.0)
    append_only.snapshot(workspace, "shop-inference")
    return workspace


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_data_get_writes_list_and_struct_columns_as_csv_parquet_and_json_lines(
    nested: Store, project: Path
) -> None:
    for name in ("out.csv", "out.parquet", "out.jsonl"):
        done = gyre(project, "data", "get", "shop-inference@1", name)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        assert done.stdout.strip() == f"Wrote shop-inference@1 to {name}"
    csv_rows = pa_csv.read_csv(project / "out.csv").to_pylist()
    assert [json.loads(r["in_x"]) if r["in_x"] else None for r in csv_rows] == [
        [1.0, 2.0],
        [],
        None,
    ]
    assert json.loads(csv_rows[0]["in_tags"]) == {"k": 1}
    assert pq.read_table(project / "out.parquet").to_pylist() == ROWS
    lines = (project / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == ROWS
    assert leftovers(project) == [".gyre"]


def test_data_get_takes_the_format_from_the_flag_and_names_the_choices_when_it_cannot(
    nested: Store, project: Path
) -> None:
    flagged = gyre(project, "data", "get", "shop-inference@1", "rows.txt", "--format", "jsonl")
    assert flagged.returncode == 0, flagged.stderr
    assert len((project / "rows.txt").read_text().splitlines()) == 3
    folder = gyre(project, "data", "get", "shop-inference@1", "exports", "--format", "csv")
    assert folder.returncode == 0 and (project / "exports" / "shop-inference.csv").exists()
    unknown = gyre(project, "data", "get", "shop-inference@1", "out.xlsx")
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
    assert "'.xlsx'" in unknown.stderr
    assert ".csv, .jsonl, .ndjson, .parquet, .pq" in unknown.stderr
    assert "--format (csv, parquet, jsonl)" in unknown.stderr
    assert not (project / "out.xlsx").exists()
    bad_flag = gyre(project, "data", "get", "shop-inference@1", "out.csv", "--format", "xml")
    assert bad_flag.returncode != 0 and "'csv', 'parquet', 'jsonl'" in bad_flag.stderr


def test_a_data_get_that_fails_leaves_no_file_behind(nested: Store, project: Path) -> None:
    (project / "taken.csv").mkdir()  # the target's name is a folder: the rename fails
    done = gyre(project, "data", "get", "shop-inference@1", "taken.csv")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "Could not write taken.csv" in done.stderr and "Nothing was written" in done.stderr
    assert list((project / "taken.csv").iterdir()) == []
    assert leftovers(project) == [".gyre"]
