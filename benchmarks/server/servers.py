"""The two servers under test, each on a fresh database of the one PostgreSQL server
(127.0.0.1:5432): ``gyre server`` (gyre's ``.venv``) and ``mlflow server`` (its own environment,
its default workers), and the databases they use, dropped at the end.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg

PG_HOST = "postgresql://postgres@127.0.0.1:5432"
PG_ADMIN = f"{PG_HOST}/postgres"
READY_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Databases:
    """Fresh databases ``<prefix>_<random>`` on the PostgreSQL server, dropped by ``drop``."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.suffix = secrets.token_hex(4)

    def create(self, prefix: str) -> str:
        """The URL of a new database."""
        name = f"{prefix}_{self.suffix}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return f"{PG_HOST}/{name}"

    def drop(self) -> list[str]:
        """Drop every database made here; the problems met, as lines."""
        problems = []
        for name in self.names:
            try:
                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except psycopg.Error as exc:
                problems.append(f"could not drop database {name}: {exc}")
        self.names.clear()
        return problems


class Server:
    """A server process on a free 127.0.0.1 port, its output in ``log``."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path, port: int):
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._out = open(log, "w")  # noqa: SIM115 - open while the server runs
        self.process = subprocess.Popen(
            argv, env=env, stdout=self._out, stderr=subprocess.STDOUT, cwd=log.parent
        )

    def wait_ready(self, path: str) -> None:
        """Until ``path`` answers 200; the process is stopped when it does not."""
        try:
            self._wait(path)
        except BaseException:
            self.stop()
            raise

    def _wait(self, path: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited ({self.process.returncode}); see {self.log}"
                )
            try:
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.name} did not answer in {READY_TIMEOUT_S} s; see {self.log}"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM to the server's process (its workers follow), SIGKILL after 30 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()


def clean_env() -> dict[str, str]:
    """This environment without gyre's or MLflow's settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("GYRE_", "MLFLOW_"))}


class GyreServer(Server):
    """``gyre server`` (one process, its default) on ``db_url``; ``token`` is the first admin's
    token it printed."""

    def __init__(self, db_url: str, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        env = {**clean_env(), "GYRE_URI": db_url, "GYRE_ARTIFACTS": str(folder / "artifacts")}
        gyre = [sys.executable, "-m", "gyre.cli.main"]
        subprocess.run(  # the schema; the server refuses a database without it
            [*gyre, "init"], env=env, cwd=folder, check=True, capture_output=True, timeout=120
        )
        argv = [*gyre, "server", "--port", str(port)]
        super().__init__("gyre server", argv, env, folder / "gyre-server.log", port)
        self.wait_ready("/api/v1/health")
        self.token = self._admin_token()

    def _admin_token(self) -> str:
        for line in self.log.read_text().splitlines():
            if line.strip().startswith("gyre_t_"):
                return line.strip()
        raise RuntimeError(f"gyre server printed no admin token; see {self.log}")


class MlflowServer(Server):
    """``mlflow server`` with ``--backend-store-uri`` ``db_url``, its default workers."""

    def __init__(self, bin_dir: Path, db_url: str, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        argv = [
            str(bin_dir / "mlflow"),
            "server",
            "--backend-store-uri",
            db_url.replace("postgresql://", "postgresql+psycopg2://", 1),
            "--artifacts-destination",
            str(folder / "mlartifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        env = {**clean_env(), "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        super().__init__("mlflow server", argv, env, folder / "mlflow-server.log", port)
        self.wait_ready("/health")
