"""A run recorded through a team server (``GYRE_URI=https://...``): the same ``gyre.log_*``.

Metric points are buffered and sent in batches by a background thread, as the local writer
batches its inserts, so a training loop never waits for the network. A batch the server did
not take (it restarts, the network drops) stays in the buffer and is sent again; what is
still unsent when the run ends is sent before ``start_run`` returns, or the error is raised.
"""

from __future__ import annotations

import io
import math
import tarfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gyre.store.metrics import MetricPoint
from gyre.tracking.run_writer import RunWriter

SEND_BATCH = 20_000


def _value(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


class RemoteRun(RunWriter):
    """The run ``gyre.log_*`` write to through the server; see :class:`ActiveRun`."""

    def __init__(self, client: Any, run_id: str) -> None:
        self.client = client
        super().__init__(run_id)

    def __repr__(self) -> str:
        return f"<RemoteRun id={self.run_id!r} server={self.client.target.url!r}>"

    def _write_points(self, points: Sequence[MetricPoint]) -> None:
        for start in range(0, len(points), SEND_BATCH):
            chunk = points[start : start + SEND_BATCH]
            body = {
                "points": [
                    {"key": key, "value": _value(value), "step": step, "timestamp": at}
                    for _, key, step, value, at in chunk
                ]
            }
            self.client.request("POST", f"/runs/{self.run_id}/metrics", json=body)

    def log_params(self, values: dict[str, Any]) -> None:
        self.client.request("POST", f"/runs/{self.run_id}/params", json={"params": values})

    def set_tags(self, values: dict[str, str]) -> None:
        self.client.request("POST", f"/runs/{self.run_id}/tags", json={"tags": values})

    def log_artifact(self, source: Path, name: str) -> str:
        path = f"/runs/{self.run_id}/artifacts/{quote(name)}"
        if source.is_dir():
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as archive:
                for file in sorted(source.rglob("*")):
                    if file.is_file():
                        archive.add(file, arcname=file.relative_to(source).as_posix())
            answer = self.client.request(
                "PUT", path, content=buffer.getvalue(), params={"folder": "true"}
            )
        else:
            answer = self.client.request(
                "PUT", path, content=source.read_bytes(), params={"filename": source.name}
            )
        digest: str = answer["digest"]
        return digest

    def end(self, status: str, error: str | None) -> None:
        body = {"status": status, "error": error}
        self.client.request("POST", f"/runs/{self.run_id}/end", json=body)


@contextmanager
def start_remote_run(
    url: str, experiment: str, name: str | None, tags: dict[str, str]
) -> Iterator[RemoteRun]:
    from gyre.remote.client import ServerClient, ServerTarget
    from gyre.remote.credentials import token_for
    from gyre.tracking.active_run import running

    client = ServerClient(ServerTarget(url, token_for(url)))
    body = {"experiment": experiment, "name": name, "tags": tags, "started_at": time.time()}
    record = client.request("POST", "/runs", json=body)
    try:
        with running(RemoteRun(client, record["id"])) as run:
            yield run
    finally:
        client.close()
