"""Shared fixtures: real SQLite workspaces in tmp, a real PostgreSQL database per session."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gyre.config import WorkspaceSettings, embedded_settings
from gyre.store import Store, init_workspace, open_store
from support.ports import free_port
from support.ray_cluster import LocalRayCluster

RESOURCES = Path(__file__).parent / "resources"
PG_ADMIN_URL = os.environ.get("GYRE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
# The tests' Ray clusters run without token authentication. Say so explicitly: a token left in
# ~/.ray/auth_token by another Ray on this machine otherwise makes every connection to them
# fail (Ray 2.60: "Authentication token is missing or incorrect").
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


@pytest.fixture(autouse=True)
def _isolated_imports(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Pipeline files and their helpers are imported by path; forget them after each test.

    Only modules from the tests' temporary folders and resources: gyre itself may live under
    /tmp too (CI clones there), and a second copy of its modules would split its state.
    """
    test_roots = (str(tmp_path_factory.getbasetemp()), str(RESOURCES))
    modules = set(sys.modules)
    path = list(sys.path)
    monkeypatch.delenv("GYRE_URI", raising=False)
    monkeypatch.delenv("GYRE_ARTIFACTS", raising=False)
    monkeypatch.delenv("GYRE_RUN_ID", raising=False)
    yield
    for name in set(sys.modules) - modules:
        module = sys.modules.get(name)
        if module is not None and str(getattr(module, "__file__", "")).startswith(test_roots):
            del sys.modules[name]
    sys.path[:] = path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder (with a pyproject marker) that is the current directory."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def workspace(project: Path) -> Iterator[Store]:
    store = init_workspace(project / ".gyre")
    yield store
    store.close()


def copy_resource(name: str, dest: Path) -> Path:
    source = RESOURCES / name
    target = dest / source.name
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy(source, target)
    return target


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of this test session's own, created and dropped here."""
    import psycopg

    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}; .ci/run starts it.")
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
    name = f"gyre_test_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_settings(url: str, artifacts: Path) -> WorkspaceSettings:
    from gyre.config import _settings_for_uri

    return _settings_for_uri(url, str(artifacts), "test")


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same tests against an embedded SQLite workspace and a PostgreSQL one."""
    if request.param == "sqlite":
        store = init_workspace(tmp_path / ".gyre")
    else:
        url = request.getfixturevalue("pg_database")
        settings = pg_settings(url, tmp_path / "blobs")
        settings = WorkspaceSettings(settings.db_url, settings.artifacts_url, tmp_path / "local")
        store = open_store(settings, create=True)
        _truncate(store)
    yield store
    store.close()


def _truncate(store: Store) -> None:
    with store.write() as conn:
        conn.execute(
            "TRUNCATE metrics, latest_metrics, params, tags, artifacts, runs, jobs, pipelines, run_datasets, dataset_partitions, dataset_aliases, dataset_versions, datasets, datastores, run_models, model_alias_history, model_aliases, model_tags, model_versions, models, compute_targets, damage, monitors, monitor_windows, monitor_features, monitor_actions, users, tokens, grants CASCADE"
        )


__all__ = ["RESOURCES", "copy_resource", "embedded_settings", "pg_settings"]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """An S3 API server on 127.0.0.1: moto's server mode, a stand-in for S3 (no network)."""
    import subprocess
    import time
    import urllib.request

    port = free_port()
    moto = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which(
        "moto_server"
    )
    if moto is None:
        pytest.fail("moto_server is not installed: it comes with the dev dependencies (make test).")
    process = subprocess.Popen(
        [moto, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail("moto's S3 server did not start within 30 s")
            time.sleep(0.2)
    yield endpoint
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[LocalRayCluster]:
    """A real local Ray cluster (a head and a worker node), started once for the session.

    A test that changes it (adds a node) puts it back as it found it.
    """
    cluster = LocalRayCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


S3_KEYS = {"key": "testing", "secret": "testing"}


@pytest.fixture
def s3_bucket(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh bucket; credentials only through the options the tests pass, not the environment."""
    import s3fs

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    name = f"bucket-{secrets.token_hex(4)}"
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server}, **S3_KEYS)
    fs.mkdir(name)
    s3fs.S3FileSystem.clear_instance_cache()
    yield name


def run_gyre(
    *args: str, ok: bool = True, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI as a user types it, in a real process (wide terminal so tables do not wrap)."""
    done = subprocess.run(
        [sys.executable, "-m", "gyre.cli.main", *args],
        capture_output=True,
        text=True,
        input=stdin,
        cwd=cwd,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    if ok:
        assert done.returncode == 0, f"gyre {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done
