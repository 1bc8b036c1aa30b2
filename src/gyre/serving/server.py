"""Run the scoring app under uvicorn: ``gyre serve seer@production --port 8000``.

SIGTERM (and Ctrl-C) stop accepting connections, let in-flight requests finish, then convert
what is left of the journal and sync it.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field

from gyre.registry.models import load_model
from gyre.serving.app import ServerOptions, create_app
from gyre.serving.collector import CONVERT_INTERVAL_S, journal_folder
from gyre.serving.converter_process import ConverterProcess, command
from gyre.serving.journal import Journal
from gyre.serving.served_models import Models, ServedModel
from gyre.store import Store

GRACEFUL_SHUTDOWN_S = 30


@dataclass
class ServeConfig:
    """What ``gyre serve`` was asked for: the models, where to listen, and the app's options."""

    references: list[str]
    host: str = "127.0.0.1"
    port: int = 8000
    endpoint: str | None = None
    journal_limit_bytes: int = 1 << 30
    workers_log_level: str = "info"
    options: ServerOptions = field(default_factory=ServerOptions)


def build(store: Store, config: ServeConfig):  # type: ignore[no-untyped-def]
    """Load the models and make the app (without starting a server): tests use this too."""
    models = Models()
    for reference in config.references:
        models.add(ServedModel(load_model(reference, store)))
    first = next(iter(models.default))
    endpoint = config.endpoint or first
    journal = converter = None
    if config.options.collect:
        journal, converter = collection(store, endpoint, config.journal_limit_bytes)
    return create_app(models, config.options, journal=journal, converter=converter), models


def collection(
    store: Store, endpoint: str, limit_bytes: int = 1 << 30, *, source: str = ""
) -> tuple[Journal, ConverterProcess]:
    """The journal ``endpoint``'s answers go to, and the converter (not started yet) that
    turns it into the dataset ``ENDPOINT-inference``. ``source``: one of several servers
    collecting for ``endpoint`` at once (the replicas of a Ray Serve application), each with
    a journal of its own."""
    if source:
        folder = store.local_path("serving", endpoint, "sources", source, "journal")
    else:
        folder = journal_folder(store, endpoint)
    journal = Journal(folder, limit_bytes=limit_bytes)
    argv = command(folder, f"{endpoint}-inference", store.settings, CONVERT_INTERVAL_S, source)
    return journal, ConverterProcess(argv, folder / "converted.json")


def check_port(host: str, port: int) -> None:
    import socket

    from gyre.errors import ServeFailed

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ServeFailed(
                f"Cannot serve on {host}:{port}: {exc.strerror or exc}. Another process uses "
                "the port; pick another with --port."
            ) from None


def serve(store: Store, config: ServeConfig) -> None:
    import uvicorn

    from gyre.registry.models import get

    for reference in config.references:  # what the user typed, before the port is taken
        get(store, reference)
    check_port(config.host, config.port)
    app, models = build(store, config)
    import gc

    # Freeze what start-up made (models, libraries): otherwise full collections rescan ~300k
    # long-lived objects every fraction of a second under load (100-200 ms pauses at p99).
    gc.collect()
    gc.freeze()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    served = ", ".join(f"{n}@{v}" for n, v in models.by_version)
    print(f"serving {served} on http://{config.host}:{config.port}", file=sys.stderr, flush=True)
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level=config.workers_log_level,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
