"""A replica of an endpoint's Ray Serve application (the ``ray`` target), run by Ray Serve.

Each replica is the serving side of the endpoint as the local target's serving process is
(:class:`gyre.endpoints.process.EndpointServer`): it opens the workspace, loads the versions
of the endpoint's row, serves the scoring app of ``gyre serve`` (same routes, validation and
collection), and polls the row so that a traffic change reaches it live. What it collects goes
to a journal of its own (its replica id names it) with a converter beside it, into the
endpoint's ``ENDPOINT-inference`` dataset. Ray Serve keeps the replicas running: it restarts
one that dies or fails its health check.

This module imports Ray Serve, and the serving layer only where a replica starts: the process
that deploys the application (:mod:`gyre.endpoints.ray_serve`) imports it for the class alone.
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Any

from ray import serve

from gyre.config import WorkspaceSettings
from gyre.errors import ServeFailed
from gyre.store import endpoints as rows
from gyre.store import open_store


class _Lifetime:
    """What :meth:`EndpointServer.watch` follows: the replica serves from its first request
    until the endpoint is deleted (Ray Serve then stops it)."""

    started = True
    should_exit = False


class _Unprefixed:
    """The app mounted under the application's route prefix (``/NAME``) sees the paths it
    serves everywhere else (``/score``, ``/v2/...``): the prefix is taken off the path."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        root = scope.get("root_path", "")
        path = scope.get("path", "")
        if root and scope["type"] in ("http", "websocket") and path.startswith(root):
            scope = {**scope, "path": path[len(root) :] or "/", "root_path": ""}
        await self.app(scope, receive, send)


@serve.deployment
@serve.ingress()
class EndpointReplica:
    """One replica: ``name``'s versions from the workspace that ``settings`` names."""

    # Ray Serve awaits an async constructor on the replica's event loop, where the watcher
    # must run: it switches the routing between requests, without a lock.
    async def __init__(self, name: str, settings: dict[str, Any]) -> None:  # type: ignore[misc]
        from gyre.endpoints.process import EndpointServer  # on the worker only (see ray_serve)

        store = open_store(
            WorkspaceSettings(
                settings["db_url"],
                settings["artifacts_url"],
                Path(settings["local_dir"]),
                settings["artifacts_options"],
            )
        )
        with store.read() as tx:
            row = rows.get(tx, name)
        replica = serve.get_replica_context().replica_id.unique_id
        self.lifetime = _Lifetime()
        self.endpoint = EndpointServer(
            store,
            row,
            source=f"replica-{replica}",
            machine=f"ray:{socket.gethostname()}",
            pid=os.getpid(),
        )
        self.watcher = asyncio.get_running_loop().create_task(self.endpoint.watch(self.lifetime))

    def __serve_build_asgi_app__(self) -> Any:
        return _Unprefixed(self.endpoint.app)

    def check_health(self) -> None:
        """Ray Serve restarts a replica whose health check raises: one whose watcher died."""
        if self.watcher.done() and not self.lifetime.should_exit:
            raise ServeFailed(
                f"Endpoint {self.endpoint.name!r}: this replica stopped following the "
                "workspace, so traffic changes would not reach it; Ray Serve replaces it."
            )
