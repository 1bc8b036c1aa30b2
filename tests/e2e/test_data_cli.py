"""gyre data, datastore, secret and lineage as a user types them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import copy_resource
from conftest import run_gyre as gyre
from support.data_files import make_images, write


@pytest.fixture
def ws(project: Path) -> Path:
    gyre("init")
    return project


def test_show_makes_a_biased_image_dataset_visible_at_a_glance(ws: Path) -> None:
    make_images(ws / "products", {"dress": 30, "shirt": 1, "shoe": 20})
    out = gyre("data", "add", "products", "products", "-m", "v1, biased").stdout
    assert "Registered products@1 (labeled-images, 51 files" in out
    shown = gyre("data", "show", "products@1").stdout
    assert "classes" in shown and "shirt" in shown
    shirt = next(line for line in shown.splitlines() if line.strip().startswith("shirt"))
    assert " 1 " in shirt and "2.0%" in shirt
    again = gyre("data", "add", "products", "products").stdout
    assert "Unchanged: products@1" in again


def test_list_show_diff_get_tag_delete_and_profile(ws: Path, tmp_path: Path) -> None:
    write(ws / "t.csv", "price,region\n1,a\n2,b\n")
    gyre("data", "add", "sales", "t.csv")
    write(ws / "t.csv", "price,region,extra\n1,a,x\n2,b,y\n3,c,z\n")
    gyre("data", "add", "sales", "t.csv", "--alias", "current")
    listed = json.loads(gyre("data", "list", "--json").stdout)
    assert listed[0]["name"] == "sales" and listed[0]["latest"] == 2
    diff = gyre("data", "diff", "sales@1", "sales@current").stdout
    assert "rows: 2 -> 3" in diff and "+ column extra" in diff
    profile = gyre("data", "profile", "sales@2").stdout
    assert "price" in profile and "int64" in profile
    gyre("data", "get", "sales@1", str(tmp_path / "out.csv"))
    assert (tmp_path / "out.csv").read_text().splitlines()[0] == '"price","region"'
    gyre("data", "alias", "sales@1", "baseline")
    old_spelling = gyre("data", "tag", "sales@2", "newest")
    assert "'gyre data tag' is now 'gyre data alias'" in old_spelling.stderr
    shown = json.loads(gyre("data", "show", "sales", "--json").stdout)
    assert [sorted(v["aliases"]) for v in shown["versions"]] == [
        ["baseline"],
        ["current", "newest"],
    ]
    refused = gyre("data", "delete", "sales@1", ok=False)
    assert (
        refused.returncode == 1 and "alias" in refused.stderr and "Traceback" not in refused.stderr
    )
    gyre("data", "delete", "sales@1", "--force")
    missing = gyre("data", "show", "sales@1", ok=False)
    assert "has no version 1; it has 2" in missing.stderr


def test_bad_input_gets_one_line_without_traceback(ws: Path) -> None:
    write(ws / "bad.csv", "a,b\n1,2\n3\n")
    for args, expected in (
        (("data", "add", "x", "nowhere"), "does not exist"),
        (("data", "add", "x", "bad.csv"), "line 3, column 2"),
        (("data", "add", "bad name", "bad.csv"), "is not allowed"),
        (("data", "add", "x", "nosuch://b/k"), "unknown scheme"),
        (("data", "show", "nothing"), "No dataset named 'nothing'"),
    ):
        done = gyre(*args, ok=False)
        assert done.returncode == 1 and expected in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_datastores_secrets_and_reference_checks(
    ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GYRE_SECRETS_FILE", str(tmp_path / "secrets.json"))
    gyre("secret", "set", "lake", stdin='{"key": "k", "secret": "s"}')
    assert gyre("secret", "list").stdout.split() == ["lake"]
    external = tmp_path / "external"
    write(external / "a.txt", "1")
    gyre("datastore", "add", "ext", str(external), "--by-reference", "--secret", "lake")
    assert json.loads(gyre("datastore", "list", "--json").stdout)[0]["secret"] == "lake"
    gyre("data", "add", "ext-data", "", "--datastore", "ext")
    assert "unchanged" in gyre("data", "check", "ext-data@1").stdout
    write(external / "a.txt", "22")
    changed = gyre("data", "check", "ext-data@1", ok=False)
    assert changed.returncode == 1 and "changed: a.txt" in changed.stdout
    refused = gyre("datastore", "remove", "ext", ok=False)
    assert "delete those versions first" in refused.stderr


def test_lineage_from_both_ends(ws: Path) -> None:
    copy_resource("good/data_pipeline.py", ws)
    make_images(ws / "imgs", {"a": 2, "b": 1})
    gyre("data", "add", "products", "imgs")
    gyre("run", "data_pipeline.py:images_pipeline")
    run_id = json.loads(gyre("runs", "list", "--json").stdout)[0]["id"]
    of_run = gyre("lineage", run_id).stdout
    assert "read: products@1" in of_run and "wrote: class-counts@1" in of_run
    of_data = gyre("lineage", "products@1").stdout
    assert "used by: step run" in of_data and f"in pipeline run {run_id}" in of_data
