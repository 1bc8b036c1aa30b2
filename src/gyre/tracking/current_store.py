"""Which workspace an SDK call or a command uses: the one given, else the active run's, else
the configured one (``GYRE_URI``, ``gyre.yaml``, ``./.gyre``)."""

from __future__ import annotations

from pathlib import Path

from gyre.store import Store


def current_store(given: Store | str | Path | None = None) -> Store:
    """``given`` when it is a store; an embedded workspace when it is a path; else the store
    of the run active in this process, or the configured workspace."""
    from gyre import config
    from gyre.store import open_store

    if isinstance(given, Store):
        return given
    if given is not None:
        return open_store(config.embedded_settings(Path(given)))
    from gyre.tracking.active_run import active_store

    active = active_store()
    if active is not None:
        return active
    return open_store(config.resolve())
