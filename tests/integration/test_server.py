"""The team server as a team uses it: real ``gyre server`` processes, tokens, roles, the audit
log; two servers on one PostgreSQL workspace; the database going away under load."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from conftest import _truncate, pg_settings
from gyre.store import Store, open_store
from gyre.workspace.audit_log import entries
from support.team_server import TeamServer, team_server

pytestmark = pytest.mark.slow


@pytest.fixture
def server(workspace: Store, project: Path) -> Iterator[TeamServer]:
    with team_server({"GYRE_URI": str(project / ".gyre")}, project) as running:
        yield running


def _token(admin: httpx.Client, user: str, role: str, **extra: object) -> str:
    made = admin.post("/users", json={"name": user, "role": role, "kind": "person"})
    assert made.status_code in (201, 409), made.text
    answer = admin.post("/tokens", json={"user": user, **extra})
    assert answer.status_code == 201, answer.text
    token: str = answer.json()["token"]
    return token


def _runs(store: Store) -> int:
    with store.read() as tx:
        return int(tx.scalar("SELECT COUNT(*) FROM runs"))


def test_every_route_but_health_needs_a_valid_token_and_roles_decide_the_rest(
    server: TeamServer, workspace: Store, project: Path
) -> None:
    assert server.admin_token, server.log.read_text()  # printed once, at the first start
    anonymous = server.client()
    assert anonymous.get("/health").status_code == 200
    for method, path in [("GET", "/runs"), ("POST", "/runs"), ("GET", "/audit")]:
        answer = anonymous.request(method, path, json={})
        assert answer.status_code == 401, answer.text
        assert "token" in answer.json()["error"]["message"]
        assert answer.headers["www-authenticate"].startswith("Bearer")
    for wrong in ["nonsense", "gyre_t_0000000000_" + "x" * 43, server.admin_token[:-1] + "A"]:
        assert server.client(wrong).post("/runs", json={}).status_code == 401
    assert _runs(workspace) == 0  # nothing written by any refused request

    admin = server.client(server.admin_token)
    assert admin.get("/whoami").json()["role"] == "admin"
    rita = server.client(_token(admin, "rita", "reader"))
    ci = server.client(_token(admin, "ci", "contributor"))

    assert rita.get("/runs").status_code == 200
    refused = rita.post("/runs", json={"experiment": "x"})
    assert refused.status_code == 403, refused.text
    assert "needs the role contributor" in refused.json()["error"]["message"]
    assert _runs(workspace) == 0
    denied = entries(workspace, action="access.denied")
    assert [e.actor.split(" ")[0] for e in denied] == ["rita"]
    assert "from 127.0.0.1" in denied[0].actor and "via t_" in denied[0].actor

    run = ci.post("/runs", json={"experiment": "team", "tags": {"who": "ci"}})
    assert run.status_code == 201, run.text
    run_id = run.json()["id"]
    points = [{"key": "loss", "value": 1.0 / (i + 1)} for i in range(5)]
    assert ci.post(f"/runs/{run_id}/metrics", json={"points": points}).json() == {"written": 5}
    assert ci.post(f"/runs/{run_id}/params", json={"params": {"lr": 0.1}}).status_code == 200
    clash = ci.post(f"/runs/{run_id}/params", json={"params": {"lr": 0.2}})
    assert clash.status_code == 409 and "immutable" in clash.json()["error"]["message"]
    assert ci.post(f"/runs/{run_id}/end", json={}).json()["status"] == "finished"
    late = ci.post(f"/runs/{run_id}/metrics", json={"points": points})
    assert late.status_code == 409
    history = rita.get(f"/runs/{run_id}/metrics").json()["loss"]
    assert [p["step"] for p in history] == [0, 1, 2, 3, 4]
    shown = rita.get(f"/runs/{run_id}").json()
    assert shown["params"] == {"lr": 0.1} and shown["tags"] == {"who": "ci"}
    assert ci.post("/users", json={"name": "eve", "role": "admin"}).status_code == 403

    # Expiry, revocation and disabling take effect at once, on every route.
    short = server.client(_token(admin, "ci", "contributor", expires_in_s=1))
    assert short.get("/whoami").status_code == 200
    time.sleep(1.2)
    expired = short.get("/whoami")
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
    token_id = rita.get("/whoami").json()["token"]
    assert admin.delete(f"/tokens/{token_id}").json()["revoked"] is True
    assert "revoked" in rita.get("/runs").json()["error"]["message"]
    assert admin.post("/users/ci/disable").status_code == 200
    assert ci.get("/runs").status_code == 401

    actions = {e.action for e in entries(workspace, limit=1000)}
    assert {"user.create", "token.create", "token.revoke", "user.disable"} <= actions
    refusals = entries(workspace, action="access.denied")
    assert sorted(e.actor.split(" ")[0] for e in refusals) == ["ci", "rita"]


def test_a_second_start_prints_no_token_and_no_auth_is_for_loopback_only(
    workspace: Store, project: Path
) -> None:
    env = {"GYRE_URI": str(project / ".gyre")}
    with team_server(env, project) as first:
        assert first.admin_token
    with team_server(env, project, log_name="second.log") as second:
        assert second.admin_token is None
        assert second.client(first.admin_token).get("/whoami").status_code == 200
    refused = subprocess.run(
        [sys.executable, "-m", "gyre.cli.main", "server", "--no-auth", "--host", "0.0.0.0"],
        env={**os.environ, **env},
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0
    assert "only on a loopback address" in refused.stderr
    with team_server(env, project, "--no-auth", log_name="open.log") as open_server:
        assert open_server.client().get("/whoami").json()["role"] == "admin"


def test_a_body_over_the_limit_is_refused_before_a_route_reads_it(server: TeamServer) -> None:
    admin = server.client(server.admin_token)
    run_id = admin.post("/runs", json={}).json()["id"]
    huge = admin.put(f"/runs/{run_id}/artifacts/big.bin", content=b"x" * ((64 << 20) + 1))
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "too_large"
    small = admin.put(f"/runs/{run_id}/artifacts/notes/a.txt", content=b"hello")
    assert small.status_code == 201, small.text
    listed = admin.get(f"/runs/{run_id}/artifacts").json()
    assert [a["name"] for a in listed] == ["notes/a.txt"]
    assert admin.get(f"/runs/{run_id}/artifacts/notes/a.txt").content == b"hello"


@pytest.mark.postgres
def test_two_server_processes_serve_one_postgres_workspace_and_survive_the_database_going_away(
    pg_database: str, tmp_path: Path
) -> None:
    import psycopg

    env = {"GYRE_URI": pg_database, "GYRE_ARTIFACTS": str(tmp_path / "blobs")}
    store = open_store(pg_settings(pg_database, tmp_path / "blobs"), create=True)
    _truncate(store)
    from gyre.access.tokens import bootstrap_admin

    issued = bootstrap_admin(store)
    assert issued is not None
    with (
        team_server(env, tmp_path, log_name="a.log") as a,
        team_server(env, tmp_path, log_name="b.log") as b,
    ):
        clients = [a.client(issued.secret), b.client(issued.secret)]
        run_id = clients[0].post("/runs", json={"experiment": "shared"}).json()["id"]

        def send(i: int) -> int:
            point = {"key": "m", "value": float(i), "step": i}
            return (
                clients[i % 2].post(f"/runs/{run_id}/metrics", json={"points": [point]}).status_code
            )

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(send, range(400)))
        assert statuses == [200] * 400
        history = clients[1].get(f"/runs/{run_id}/metrics").json()["m"]
        assert sorted(p["step"] for p in history) == list(range(400))

        # The database drops every connection while both servers are under load: requests
        # fail with 503 (never 500), nothing is half written, and they succeed again after.
        seen: list[int] = []
        stop = threading.Event()

        def load(client: httpx.Client, offset: int) -> None:
            i = offset
            while not stop.is_set():
                point = {"key": "n", "value": 1.0, "step": i}
                seen.append(
                    client.post(f"/runs/{run_id}/metrics", json={"points": [point]}).status_code
                )
                i += 2

        threads = [threading.Thread(target=load, args=(c, k)) for k, c in enumerate(clients)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        name = pg_database.rsplit("/", 1)[1]
        admin_url = pg_database.rsplit("/", 1)[0] + "/test"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for _ in range(3):
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    [name],
                )
                time.sleep(0.2)
        time.sleep(1.0)
        stop.set()
        for thread in threads:
            thread.join()
        assert set(seen) <= {200, 503}, sorted(set(seen))
        assert seen[-10:] == [200] * 10  # recovered
        ok = seen.count(200)
        history = clients[0].get(f"/runs/{run_id}/metrics", params={"key": "n"}).json()["n"]
        assert len(history) == ok  # every 200 is in, no 503 left a point behind
    store.close()


def test_two_clients_moving_production_at_once_one_wins_both_are_audited(
    server: TeamServer, workspace: Store, project: Path
) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import gyre

    x = np.random.RandomState(0).rand(40, 2)
    for c in (1.0, 0.5):
        model = LogisticRegression(C=c).fit(x, (x[:, 0] > 0.5).astype(int))
        gyre.register_model("clf", model, input_example=x[:2])
    admin = server.client(server.admin_token)
    ci = server.client(_token(admin, "ci", "contributor"))
    refused = ci.put("/models/clf/aliases/production", json={"version": 1})
    assert refused.status_code == 403 and "approver on model clf" in refused.text
    assert ci.put("/models/clf/aliases/staging", json={"version": 1}).status_code == 200
    admin.post("/users/ci/grants", json={"role": "approver", "resource": "model clf"})
    alice = server.client(_token(admin, "alice", "approver"))

    with ThreadPoolExecutor(2) as pool:
        moves = list(
            pool.map(
                lambda pair: pair[0].put(
                    "/models/clf/aliases/production", json={"version": pair[1]}
                ),
                [(ci, 1), (alice, 2)],
            )
        )
    assert [m.status_code for m in moves] == [200, 200], [m.text for m in moves]
    final = admin.get("/models/clf/versions/production").json()["version"]
    audited = entries(workspace, action="model.alias", subject="model clf")
    movers = {e.actor.split(" ")[0] for e in audited}
    assert movers == {"ci", "alice"}
    assert audited[0].subject == f"model clf@{final}"  # the last move is the one that holds


def test_a_ci_token_submits_but_cannot_approve_an_approver_can_a_reader_only_reads(
    server: TeamServer, workspace: Store, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's own scenario: roles decide who does what to a pipeline and a release,
    through the server, and the audit log says who did each and from where."""
    import signal

    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import gyre
    from conftest import copy_resource
    from gyre import endpoints, releases
    from gyre.pipelines.submission import publish
    from support.agents import AgentProcess
    from support.waiting import wait_for

    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    publish(workspace, "chain.py:chain", name="chain")
    (project / "release.yaml").write_text(
        "name: clf-release\n"
        "trigger: {model: clf}\n"
        "stages:\n"
        "  - name: production\n"
        "    deploy: {endpoint: clf}\n"
        "    approval: {approvers: [role:approver], timeout: 10m}\n"
    )
    releases.apply(workspace, project / "release.yaml")
    admin = server.client(server.admin_token)
    ci = server.client(_token(admin, "ci", "contributor"))
    alice = server.client(_token(admin, "alice", "approver"))
    rita = server.client(_token(admin, "rita", "reader"))

    submitted = ci.post("/pipelines/chain/runs", json={"params": {}})
    assert submitted.status_code == 201, submitted.text
    assert rita.post("/pipelines/chain/runs", json={}).status_code == 403

    agent = AgentProcess(project)
    try:
        x = np.random.RandomState(0).rand(40, 2)
        model = LogisticRegression().fit(x, (x[:, 0] > 0.5).astype(int))
        gyre.register_model("clf", model, input_example=x[:2])

        def waiting() -> int | None:
            found = [r for r in rita.get("/releases").json() if r["status"] == "waiting"]
            return found[0]["id"] if found else None

        release_id = wait_for(waiting, 120, "the release to wait for its approval")
        refused = ci.post(f"/releases/{release_id}/approve", json={"comment": "ship it"})
        assert refused.status_code == 403, refused.text
        assert "ci may not approve" in refused.json()["error"]["message"]
        assert rita.post(f"/releases/{release_id}/approve", json={}).status_code == 403
        approved = alice.post(f"/releases/{release_id}/approve", json={"comment": "ok"})
        assert approved.status_code == 200, approved.text

        def settled() -> str | None:
            status: str = rita.get(f"/releases/{release_id}").json()["status"]
            return status if status in ("succeeded", "failed", "rolled_back") else None

        assert wait_for(settled, 120, "the release to end") == "succeeded"
        wait_for(
            lambda: rita.get(f"/runs/{submitted.json()['run_id']}").json()["status"] == "finished",
            120,
            "the submitted run to finish",
        )
    finally:
        agent.stop(signal.SIGINT)
        for row in endpoints.list_endpoints(workspace):
            endpoints.delete(workspace, row.name)

    def who(action: str, subject: str) -> list[str]:
        return [e.actor for e in entries(workspace, action=action, subject=subject)]

    assert who("run.submit", "run")[0].startswith("ci via t_")
    approvals = who("release.approved", f"release {release_id}")
    assert len(approvals) == 1 and approvals[0].startswith("alice")
    denied = [e.actor.split(" ")[0] for e in entries(workspace, action="access.denied")]
    assert sorted(denied) == ["ci", "rita", "rita"]
