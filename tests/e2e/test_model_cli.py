"""gyre model as a user types it: register, list, show, compare, tag, alias, history, delete."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import copy_resource
from conftest import run_gyre as gyre


def test_the_model_commands_from_register_to_delete(project: Path) -> None:
    gyre("init")
    first = copy_resource("good/echo_model", project)
    gyre("model", "register", "echo", str(first), "--metric", "accuracy=0.9", "--tag", "team=a")
    second = project / "echo_model_2"
    second.mkdir()
    (second / "score.py").write_text((first / "score.py").read_text() + "\n# v2\n")
    out = gyre("model", "register", "echo", str(second), "--metric", "accuracy=0.95").stdout
    assert "echo@2" in out

    listed = json.loads(gyre("model", "list", "--json").stdout)
    assert [(m["name"], m["latest"], m["versions"]) for m in listed] == [("echo", 2, 2)]
    both = json.loads(gyre("model", "show", "echo", "--json").stdout)
    assert [v["version"] for v in both] == [1, 2]
    one = json.loads(gyre("model", "show", "echo@1", "--json").stdout)
    assert one["metrics"] == {"accuracy": 0.9} and one["tags"]["team"] == "a"
    compared = json.loads(gyre("model", "compare", "echo@1", "echo@2", "--json").stdout)
    assert [c["metrics"]["accuracy"] for c in compared] == [0.9, 0.95]

    gyre("model", "tag", "echo@2", "--tag", "team=b")
    assert json.loads(gyre("model", "show", "echo@2", "--json").stdout)["tags"]["team"] == "b"
    gyre("model", "alias", "echo", "production", "1")
    moved = gyre("model", "alias", "echo", "production", "2").stdout
    assert "echo@production -> 2 (was 1)" in moved
    history = json.loads(gyre("model", "history", "echo", "--json").stdout)
    assert [(h["previous"], h["version"]) for h in history][-1] == (1, 2)

    refused = gyre("model", "delete", "echo@2", ok=False)
    assert refused.returncode != 0 and "production" in refused.stderr
    gyre("model", "delete", "echo@1")
    assert [v["version"] for v in json.loads(gyre("model", "show", "echo", "--json").stdout)] == [2]


def test_bad_metric_and_tag_values_name_the_option_and_the_fix(project: Path) -> None:
    gyre("init")
    model = copy_resource("good/echo_model", project)
    bad = gyre("model", "register", "echo", str(model), "--metric", "accuracy=high", ok=False)
    assert bad.returncode == 2 and "--metric accuracy=0.93" in bad.stderr
    bad = gyre("model", "register", "echo", str(model), "--tag", "team", ok=False)
    assert bad.returncode == 2 and "--tag build=1.42" in bad.stderr
