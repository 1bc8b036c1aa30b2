"""An endpoint's serving process: ``python -m gyre.endpoints.process NAME``.

It serves the endpoint's versions on its stable port with the scoring app of ``gyre serve``
(same routes, validation and collection, to the dataset ``NAME-inference``), routes requests
by the traffic split, and copies each answered request to the shadow version, whose answers go
to ``NAME-shadow-inference``. It polls its row in the store; when the desired state changes it
loads the new versions (off the event loop), then switches the routing in one step, and closes
a version it no longer routes to once that version's requests are answered: no request is
dropped and the port never closes. When the endpoint is deleted it stops by itself, finishing
what it has and converting what it collected.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from gyre.endpoints.definitions import machine_name
from gyre.errors import GyreError
from gyre.registry.models import load_model
from gyre.serving.app import ScoringApp, ServerOptions, create_app
from gyre.serving.served_models import Models, ServedModel
from gyre.serving.server import GRACEFUL_SHUTDOWN_S, check_port, collection
from gyre.serving.traffic import TrafficSplit
from gyre.store import endpoints as rows
from gyre.store.endpoints import EndpointRow
from gyre.tracking.current_store import current_store

if TYPE_CHECKING:
    from gyre.store import Store

log = logging.getLogger("gyre.endpoints")
POLL_S = 0.25
OPTION_FIELDS = ("max_batch", "max_wait_ms", "max_body_bytes", "collect")


def server_options(row: EndpointRow) -> ServerOptions:
    return ServerOptions(**{k: v for k, v in row.options.items() if k in OPTION_FIELDS})


class EndpointServer:
    """The serving side of one endpoint: what it holds now, and how it changes.

    ``source``: this server's name among several serving the endpoint at once (a replica of
    a Ray Serve application): it journals what it collects apart from the others. ``machine``
    and ``pid``: what it reports as serving the endpoint.
    """

    def __init__(
        self,
        store: Store,
        row: EndpointRow,
        *,
        source: str = "",
        machine: str | None = None,
        pid: int | None = None,
    ) -> None:
        self.store = store
        self.name = row.name
        self.model = row.model
        self.source = source
        self.machine = machine or machine_name()
        self.pid = os.getpid() if pid is None else pid
        self.generation = 0
        self.failed_generation = 0
        self.loaded: dict[int, ServedModel] = {}
        self.models = Models(aliases={row.name: row.model} if row.name != row.model else {})
        self._detaching: set[asyncio.Task[None]] = set()
        # The store is read and written on a thread of its own: the loop's default executor
        # may be busy with python-flavor predictions.
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="endpoint-store")
        self._apply_now(row, {v: self._load(v) for v in row.versions}, attach=False)
        options = server_options(row)
        journal = converter = None
        if options.collect:
            journal, converter = collection(store, row.name, source=source)
        self.app: ScoringApp = create_app(
            self.models, options, journal=journal, converter=converter
        )
        if row.shadow is not None:
            self._collect_shadow()

    def _load(self, version: int) -> ServedModel:
        return ServedModel(load_model(f"{self.model}@{version}", self.store))

    def _collect_shadow(self) -> None:
        if self.app.options.collect and self.app.shadow_scorer.journal is None:
            self.app.collect_shadow(
                *collection(self.store, f"{self.name}-shadow", source=self.source)
            )

    def _apply_now(
        self, row: EndpointRow, new: dict[int, ServedModel], *, attach: bool = True
    ) -> list[ServedModel]:
        """Switch to ``row``'s state in one step (no await in between); returns the versions
        no longer routed to. ``attach``: give each version its batcher, journaling to the
        dataset of its role (the app does it at creation)."""
        self.loaded.update(new)
        if attach:
            for served in self.loaded.values():
                self.app.attach(served, shadow=served.version == row.shadow)
        for version in row.traffic:
            self.models.add(self.loaded[version])
        self.models.route_by(self.model, TrafficSplit(row.traffic))
        if row.shadow is not None:
            self.models.shadows[self.model] = self.loaded[row.shadow]
        else:
            self.models.shadows.pop(self.model, None)
        retired = []
        for version in list(self.loaded):
            if version not in row.versions:
                self.models.remove(self.model, version)
                retired.append(self.loaded.pop(version))
            elif version not in row.traffic:
                self.models.remove(self.model, version)  # the shadow is not routed to
        self.generation = row.generation
        return retired

    async def apply(self, row: EndpointRow) -> None:
        """Load what ``row`` adds, switch, and retire what it drops."""
        loop = asyncio.get_running_loop()
        new: dict[int, ServedModel] = {}
        for version in row.versions:
            if version not in self.loaded:
                new[version] = await loop.run_in_executor(self._io, self._load, version)
        if row.shadow is not None:
            self._collect_shadow()
        retired = self._apply_now(row, new)
        for served in retired:
            task = loop.create_task(self.app.detach(served))
            self._detaching.add(task)
            task.add_done_callback(self._detaching.discard)
        log.info(
            "endpoint %s: generation %d applied (traffic %s, shadow %s)",
            self.name,
            row.generation,
            row.traffic,
            row.shadow,
        )

    async def watch(self, server: Any) -> None:
        """Follow the store until the endpoint is deleted (then stop the server): ``server``
        has ``started`` and ``should_exit``, as uvicorn's."""
        loop = asyncio.get_running_loop()
        while not server.started:
            await asyncio.sleep(0.05)
        await loop.run_in_executor(self._io, self._report_ready)
        while not server.should_exit:
            await asyncio.sleep(POLL_S)
            try:
                row = await loop.run_in_executor(self._io, self._read_row)
            except Exception:  # the store is unreachable for a moment: keep serving
                log.exception("endpoint %s: cannot read its state; serving on", self.name)
                continue
            if row is None or row.state != "active":
                log.info("endpoint %s: deleted; stopping", self.name)
                server.should_exit = True
                return
            if row.generation in (self.generation, self.failed_generation):
                continue
            try:
                await self.apply(row)
            except Exception as exc:  # a version that cannot load: the old state serves on
                self.failed_generation = row.generation
                message = f"change {row.generation} not applied: {type(exc).__name__}: {exc}"
                log.error("endpoint %s: %s", self.name, message)
                await loop.run_in_executor(self._io, self._report_error, message)
                continue
            await loop.run_in_executor(self._io, self._report_ready)

    def _read_row(self) -> EndpointRow | None:
        with self.store.read() as tx:
            return rows.find(tx, self.name)

    def _report_ready(self) -> None:
        with self.store.write() as tx:
            rows.report_ready(tx, self.name, self.machine, self.pid, self.generation)

    def _report_error(self, message: str) -> None:
        with self.store.write() as tx:
            rows.report_error(tx, self.name, message)


async def _serve(endpoint: EndpointServer, row: EndpointRow) -> None:
    import uvicorn

    config = uvicorn.Config(
        endpoint.app,
        host=row.host,
        port=row.port,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    server = uvicorn.Server(config)
    watcher = asyncio.get_running_loop().create_task(endpoint.watch(server))
    try:
        await server.serve()
    finally:
        watcher.cancel()


def run(name: str) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    store = current_store()
    with store.read() as tx:
        row = rows.get(tx, name)
    try:
        check_port(row.host, row.port)
        endpoint = EndpointServer(store, row)
    except GyreError as exc:
        with store.write() as tx:
            rows.report_error(tx, name, str(exc))
        print(f"endpoint {name}: {exc}", file=sys.stderr, flush=True)
        return 1
    gc.collect()
    gc.freeze()  # as gyre serve: long-lived start-up objects are not rescanned under load
    served = ", ".join(f"{v}={w}%" for v, w in row.traffic.items())
    print(
        f"endpoint {name}: serving {row.model} ({served}) on {row.url}", file=sys.stderr, flush=True
    )
    asyncio.run(_serve(endpoint, row))
    with store.write() as tx:
        rows.report_stopped(tx, name, os.getpid())
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m gyre.endpoints.process ENDPOINT (the agent starts it)")
        sys.exit(2)
    sys.exit(run(sys.argv[1]))
