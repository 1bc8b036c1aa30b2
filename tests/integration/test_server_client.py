"""The SDK through a team server (``GYRE_URI=http://...``, ``GYRE_TOKEN``): an unchanged
training script records its run, and a server restart in the middle loses no metric."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gyre.store import Store
from gyre.tracking import run_details
from support.team_server import team_server

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import pathlib, sys, time
    import gyre

    steps, pause = int(sys.argv[1]), float(sys.argv[2])
    folder = pathlib.Path("report")
    folder.mkdir(exist_ok=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub").mkdir(exist_ok=True)
    (folder / "sub" / "b.txt").write_text("b")
    pathlib.Path("notes.txt").write_text("notes")
    with gyre.start_run(experiment="remote", tags={"team": "seer"}) as run:
        print(run.id, flush=True)
        gyre.log_params({"lr": 0.01, "layers": [64, 32]})
        for step in range(steps):
            gyre.log_metric("loss", 1.0 / (step + 1))
            gyre.log_metrics({"acc": step / steps, "odd": float("nan")}, step=step)
            if pause:
                time.sleep(pause)
        gyre.set_tag("stage", "done")
        gyre.log_artifact("notes.txt")
        gyre.log_artifact(folder, name="report")
    """
)


def _run(project: Path, env: dict[str, str], steps: int, pause: float) -> subprocess.Popen[str]:
    (project / "train.py").write_text(SCRIPT)
    return subprocess.Popen(
        [sys.executable, "train.py", str(steps), str(pause)],
        cwd=project,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _token(url: str, admin_token: str, role: str) -> str:
    import httpx

    admin = httpx.Client(
        base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {admin_token}"}
    )
    admin.post("/users", json={"name": f"bot-{role}", "role": role, "kind": "service"})
    token: str = admin.post("/tokens", json={"user": f"bot-{role}"}).json()["token"]
    return token


def test_an_unchanged_script_records_its_run_through_the_server(
    workspace: Store, project: Path, tmp_path: Path
) -> None:
    with team_server({"GYRE_URI": str(project / ".gyre")}, project) as server:
        assert server.admin_token
        client = tmp_path / "client"
        client.mkdir()
        env = {
            "GYRE_URI": server.url,
            "GYRE_TOKEN": _token(server.url, server.admin_token, "contributor"),
        }
        script = _run(client, env, 500, 0)
        out, err = script.communicate(timeout=120)
        assert script.returncode == 0, err
        run_id = out.split()[0]

        reader_env = {**env, "GYRE_TOKEN": _token(server.url, server.admin_token, "reader")}
        refused = _run(client, reader_env, 1, 0)
        _, err = refused.communicate(timeout=60)
        assert refused.returncode != 0 and "needs the role contributor" in err

    detail = run_details.run_detail(workspace, run_id)
    assert detail["status"] == "finished" and detail["experiment"] == "remote"
    assert detail["params"] == {"lr": 0.01, "layers": [64, 32]}
    assert detail["tags"] == {"team": "seer", "stage": "done"}
    histories = run_details.metric_histories(workspace, run_id)
    assert [s for s, _, _ in histories["loss"]] == list(range(500))
    assert len(histories["acc"]) == 500 and all(v != v for _, v, _ in histories["odd"])
    names = {a["name"] for a in run_details.artifacts(workspace, run_id)}
    assert names == {"notes.txt", "report"}
    fetched = tmp_path / "fetched"
    run_details.fetch_artifact(workspace, run_id, "report", fetched)
    assert (fetched / "sub" / "b.txt").read_text() == "b"


def test_a_server_restart_in_the_middle_of_training_loses_no_metric(
    workspace: Store, project: Path, tmp_path: Path
) -> None:
    env = {"GYRE_URI": str(project / ".gyre")}
    with team_server(env, project) as server:
        assert server.admin_token
        token = _token(server.url, server.admin_token, "contributor")
        port = int(server.url.rsplit(":", 1)[1])
        client = tmp_path / "client"
        client.mkdir()
        script = _run(client, {"GYRE_URI": server.url, "GYRE_TOKEN": token}, 80, 0.05)
        time.sleep(1.5)  # the run exists and has sent a batch or two
    # The server is down now (its context ended); the script goes on logging meanwhile.
    time.sleep(1.5)
    with team_server(env, project, port=port, log_name="again.log"):
        out, err = script.communicate(timeout=120)
    assert script.returncode == 0, err
    run_id = out.split()[0]
    histories = run_details.metric_histories(workspace, run_id)
    assert [s for s, _, _ in histories["loss"]] == list(range(80))
    assert run_details.run_detail(workspace, run_id)["status"] == "finished"


def test_register_model_through_the_server_sends_only_missing_files_and_records_lineage(
    workspace: Store, project: Path, tmp_path: Path
) -> None:
    script = textwrap.dedent(
        """
        import numpy as np
        from sklearn.linear_model import LogisticRegression
        import gyre

        x = np.random.RandomState(0).rand(40, 2)
        model = LogisticRegression().fit(x, (x[:, 0] > 0.5).astype(int))
        with gyre.start_run(experiment="remote", tags={"build": "7"}) as run:
            first = gyre.register_model("clf", model, input_example=x[:2], metrics={"acc": 0.9})
            again = gyre.register_model("clf", model, input_example=x[:2])
        print(run.id, first.version, again.version, first.flavor)
        """
    )
    with team_server({"GYRE_URI": str(project / ".gyre")}, project) as server:
        assert server.admin_token
        client = tmp_path / "client"
        client.mkdir()
        (client / "register.py").write_text(script)
        env = {
            "GYRE_URI": server.url,
            "GYRE_TOKEN": _token(server.url, server.admin_token, "contributor"),
        }
        done = subprocess.run(
            [sys.executable, "register.py"],
            cwd=client,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    run_id, first, again, flavor = done.stdout.split()
    assert (first, again, flavor) == ("1", "1", "sklearn")  # the same content: one version
    from gyre.registry.models import load_model

    version = load_model("clf@1", workspace)
    assert version.record.run_id == run_id and version.record.tags["build"] == "7"
    assert version.record.metrics == {"acc": 0.9}
    assert version.predict([[0.9, 0.1]]).tolist() == [1]


@pytest.mark.postgres
def test_a_team_server_on_postgresql_and_s3_takes_runs_models_and_artifacts(
    pg_database: str, s3_server: str, s3_bucket: str, tmp_path: Path
) -> None:
    """docs/server.md's set-up for a team: the workspace on PostgreSQL, artifacts on S3 (moto's
    S3 server stands in), a client with nothing but the server's URL and a token."""
    import json

    import s3fs

    from conftest import S3_KEYS, _truncate
    from gyre import config
    from gyre.store import open_store

    options = {"client_kwargs": {"endpoint_url": s3_server}, **S3_KEYS}
    env = {
        "GYRE_URI": pg_database,
        "GYRE_ARTIFACTS": f"s3://{s3_bucket}/gyre",
        "GYRE_ARTIFACTS_OPTIONS": json.dumps(options),
        "GYRE_CACHE_DIR": str(tmp_path / "cache"),
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        store = open_store(config.resolve(), create=True)
        _truncate(store)
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    client = tmp_path / "client"
    client.mkdir()
    register = client / "register.py"
    register.write_text(
        textwrap.dedent(
            """
            import numpy as np
            from sklearn.linear_model import LogisticRegression
            import gyre

            x = np.random.RandomState(0).rand(40, 2)
            model = LogisticRegression().fit(x, (x[:, 0] > 0.5).astype(int))
            with gyre.start_run(experiment="team") as run:
                gyre.log_metric("acc", 0.9)
                open("notes.txt", "w").write("on s3")
                gyre.log_artifact("notes.txt")
                version = gyre.register_model("clf", model, input_example=x[:2])
            print(run.id, version.version)
            """
        )
    )
    with team_server(env, tmp_path) as server:
        assert server.admin_token
        token = _token(server.url, server.admin_token, "contributor")
        done = subprocess.run(
            [sys.executable, "register.py"],
            cwd=client,
            env={
                k: v
                for k, v in {**os.environ, "GYRE_URI": server.url, "GYRE_TOKEN": token}.items()
                if not k.startswith(("GYRE_ARTIFACTS", "AWS_"))  # the client has no S3 access
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        run_id, version = done.stdout.split()
        import httpx

        reader = httpx.Client(
            base_url=f"{server.url}/api/v1", headers={"Authorization": f"Bearer {token}"}
        )
        assert reader.get(f"/runs/{run_id}/artifacts/notes.txt").content == b"on s3"
        assert reader.get(f"/models/clf/versions/{version}").json()["run_id"] == run_id
    s3 = s3fs.S3FileSystem(**options)
    # the note, the model file, its manifest and the folder manifest went to S3
    assert len(s3.find(f"{s3_bucket}/gyre")) >= 4
    store.close()
