"""The CLI through a team server prints what it prints on the workspace itself: each command
below runs twice, once with GYRE_URI naming the workspace and once naming the server (with a
token), and the two answers must be the same. Writes through the server land in the workspace
with the caller in the audit log; a command not offered through the server says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import gyre
from conftest import copy_resource
from gyre import endpoints
from gyre.pipelines.submission import publish
from gyre.registry.models import alias_target
from gyre.store import Store
from gyre.workspace.audit_log import entries
from support.team_server import TeamServer, team_server

pytestmark = pytest.mark.slow

READS = [
    ["runs", "list"],
    ["runs", "list", "--filter", "metrics.loss < 0.6", "--order-by", "metrics.loss asc"],
    ["runs", "show", "{run}"],
    ["runs", "compare", "{run}", "{other}"],
    ["metrics", "{run}"],
    ["artifacts", "list", "{run}"],
    ["events", "list"],
    ["model", "list"],
    ["model", "show", "clf"],
    ["model", "show", "clf@production"],
    ["model", "compare", "clf@1", "clf@2"],
    ["model", "history", "clf"],
    ["pipeline", "list"],
    ["pipeline", "show", "chain"],
    ["endpoint", "list"],
    ["endpoint", "show", "clf"],
    ["release", "list"],
    ["user", "list"],
    ["data", "list"],
]


def gyre_cli(env: dict[str, str], *args: str, cwd: Path, ok: bool = True) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "gyre.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **env},
        timeout=120,
        check=False,
    )
    if ok:
        assert done.returncode == 0, f"gyre {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture
def served(workspace: Store, project: Path) -> Iterator[tuple[TeamServer, dict[str, str]]]:
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    publish(workspace, "chain.py:chain", name="chain")
    x = np.random.RandomState(0).rand(40, 2)
    for c in (1.0, 0.5):
        model = LogisticRegression(C=c).fit(x, (x[:, 0] > 0.5).astype(int))
        gyre.register_model("clf", model, input_example=x[:2], metrics={"c": c})
    gyre.registry.models.set_alias(workspace, "clf", "production", 1)
    endpoints.create(workspace, "clf", "clf@1")
    (project / "notes.txt").write_text("notes")
    (project / "table.csv").write_text("a,b\n1,2\n3,4\n")
    gyre.Dataset("table").add(project / "table.csv")
    for loss in (0.5, 0.7):
        with gyre.start_run(experiment="cli", tags={"loss": str(loss)}):
            gyre.log_param("lr", loss / 10)
            for step in range(3):
                gyre.log_metric("loss", loss + step / 100)
            gyre.log_artifact(project / "notes.txt")
    with team_server({"GYRE_URI": str(project / ".gyre")}, project) as server:
        assert server.admin_token
        yield server, {"GYRE_URI": server.url, "GYRE_TOKEN": server.admin_token}
    for row in endpoints.list_endpoints(workspace):
        endpoints.delete(workspace, row.name)


def test_every_read_command_prints_the_same_through_the_server(
    served: tuple[TeamServer, dict[str, str]], project: Path, tmp_path: Path
) -> None:
    _, remote = served
    local = {"GYRE_URI": str(project / ".gyre")}
    elsewhere = tmp_path / "elsewhere"  # no workspace here: the server is the only way in
    elsewhere.mkdir()
    runs = json.loads(gyre_cli(local, "runs", "list", "--json", cwd=project))
    ids = {"{run}": runs[0]["id"], "{other}": runs[1]["id"]}
    for command in READS:
        args = [ids.get(a, a) for a in command]
        direct = gyre_cli(local, *args, "--json", cwd=project)
        through = gyre_cli(remote, *args, "--json", cwd=elsewhere)
        assert json.loads(through) == json.loads(direct), " ".join(args)
        table = gyre_cli(remote, *args, cwd=elsewhere)  # the human form works too
        assert table.strip(), " ".join(args)
    assert gyre_cli(remote, "logs", ids["{run}"], cwd=elsewhere) == gyre_cli(
        local, "logs", ids["{run}"], cwd=project
    )
    fetched = tmp_path / "fetched"
    fetched.mkdir()
    gyre_cli(remote, "artifacts", "get", ids["{run}"], "notes.txt", str(fetched), cwd=elsewhere)
    assert (fetched / "notes.txt").read_text() == "notes"


def test_writes_through_the_server_land_in_the_workspace_with_the_caller_audited(
    served: tuple[TeamServer, dict[str, str]], workspace: Store, project: Path, tmp_path: Path
) -> None:
    server, admin = served
    here = tmp_path
    gyre_cli(admin, "user", "create", "ci", "--role", "contributor", "--service", cwd=here)
    token = gyre_cli(admin, "token", "create", "ci", "--description", "CI", cwd=here)
    secret = next(line for line in token.splitlines() if line.startswith("gyre_t_"))
    ci = {"GYRE_URI": server.url, "GYRE_TOKEN": secret}

    assert "clf@staging -> 2" in gyre_cli(ci, "model", "alias", "clf", "staging", "2", cwd=here)
    refused = gyre_cli(ci, "model", "alias", "clf", "production", "2", cwd=here, ok=False)
    assert "needs the role approver on model clf" in refused
    assert alias_target(workspace, "clf", "production") == 1
    gyre_cli(ci, "model", "tag", "clf@2", "--tag", "build=42", cwd=here)
    queued = json.loads(gyre_cli(ci, "pipeline", "submit", "chain", "--json", cwd=here))
    assert gyre_cli(ci, "runs", "cancel", queued["run_id"], cwd=here).strip()
    shown = gyre_cli(ci, "endpoint", "traffic", "clf", "1=50", "2=50", "--no-wait", cwd=here)
    assert "Endpoint clf set: 1: 50%, 2: 50%" in shown
    assert endpoints.get(workspace, "clf").traffic == {1: 50, 2: 50}

    audited = {e.action: e.actor for e in reversed(entries(workspace, limit=200))}
    for action in ("model.alias", "model.tags", "run.submit", "endpoint.traffic"):
        assert audited[action].startswith("ci via t_"), (action, audited[action])
    assert audited["access.denied"].startswith("ci via t_")

    rule = here / "rule"
    rule.mkdir()
    (rule / "score.py").write_text(
        "class Model:\n"
        "    @classmethod\n"
        "    def load(cls, path):\n"
        "        return cls()\n"
        "    def predict(self, batch):\n"
        "        return [1 for _ in batch]\n"
    )
    made = gyre_cli(
        ci, "model", "register", "rule", str(rule), "--entry", "score:Model", "--json", cwd=here
    )
    assert json.loads(made)["flavor"] == "python"
    from gyre.registry.models import load_model

    assert load_model("rule@1", workspace).predict([{"x": 1}]) == [1]

    listed = gyre_cli(admin, "token", "list", "--user", "ci", "--json", cwd=here)
    token_id = json.loads(listed)[0]["id"]
    gyre_cli(admin, "token", "revoke", token_id, cwd=here)
    assert "revoked" in gyre_cli(ci, "runs", "list", cwd=here, ok=False)


def test_login_saves_the_token_and_commands_not_offered_through_the_server_say_so(
    served: tuple[TeamServer, dict[str, str]], tmp_path: Path
) -> None:
    server, admin = served
    config = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    said = gyre_cli(
        {**config, "GYRE_TOKEN": admin["GYRE_TOKEN"]}, "login", server.url, cwd=tmp_path
    )
    assert "as admin (admin)" in said
    saved = tmp_path / "config" / "gyre" / "credentials.json"
    assert oct(saved.stat().st_mode & 0o777) == "0o600"
    env = {**config, "GYRE_URI": server.url, "GYRE_TOKEN": ""}
    assert json.loads(gyre_cli(env, "model", "list", "--json", cwd=tmp_path))[0]["name"] == "clf"
    wrong = gyre_cli(
        {**config, "GYRE_TOKEN": "gyre_t_0000000000_nope"},
        "login",
        server.url,
        cwd=tmp_path,
        ok=False,
    )
    assert "not valid" in wrong
    refused = gyre_cli(env, "data", "show", "table", cwd=tmp_path, ok=False)
    assert "names a gyre server" in refused and "Traceback" not in refused
