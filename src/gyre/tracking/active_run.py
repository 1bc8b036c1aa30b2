"""The run that ``gyre.log_*`` calls write to, and ``start_run`` for scripts and notebooks.

Inside a pipeline step the executor activates the step's run. In a script started by a
``ScriptStep``, ``GYRE_RUN_ID`` names the run and the first ``log_*`` call attaches to it.
Elsewhere ``with gyre.start_run(experiment=...)`` creates one.
"""

from __future__ import annotations

import contextvars
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gyre import config
from gyre.errors import NoActiveRun
from gyre.store import Store, open_store
from gyre.store import metrics as metric_rows
from gyre.store import runs as run_rows
from gyre.tracking.run_writer import RunWriter

if TYPE_CHECKING:
    from gyre.tracking.remote_run import RemoteRun

RUN_ID_ENV = "GYRE_RUN_ID"


class ActiveRun(RunWriter):
    """A run being written to: its id, its store, and its metric buffer.

    Attributes:
        id: the run's id, as ``gyre runs show ID`` takes it (``run_id`` is the same).
        store: the workspace it writes to.

    Example:
        >>> with gyre.start_run(experiment="tuning") as run:  # doctest: +SKIP
        ...     print(run.id)
    """

    def __init__(self, store: Store, run_id: str) -> None:
        self.store = store
        super().__init__(run_id)

    def __repr__(self) -> str:
        return f"<ActiveRun id={self.run_id!r}>"

    def _write_points(self, points: Any) -> None:
        with self.store.write() as tx:
            metric_rows.insert_points(tx, points)

    def end(self, status: str, error: str | None) -> None:
        with self.store.write() as tx:
            run_rows.update_run(tx, self.run_id, status=status, ended_at=time.time(), error=error)

    def log_params(self, values: dict[str, Any]) -> None:
        with self.store.write() as tx:
            run_rows.set_params(tx, self.run_id, values)

    def set_tags(self, values: dict[str, str]) -> None:
        with self.store.write() as tx:
            run_rows.set_tags(tx, self.run_id, values)

    def log_artifact(self, source: Path, name: str) -> str:
        from gyre.tracking.recording import store_artifact

        return store_artifact(self.store, self.run_id, source, name, filename=source.name)


RunWriterT = TypeVar("RunWriterT", bound=RunWriter)

_ACTIVE: contextvars.ContextVar[ActiveRun | RemoteRun | None] = contextvars.ContextVar(
    "gyre_active_run", default=None
)
_ATTACHED: dict[str, ActiveRun] = {}


def activate(run: Any) -> contextvars.Token[ActiveRun | RemoteRun | None]:
    return _ACTIVE.set(run)


def deactivate(token: contextvars.Token[ActiveRun | RemoteRun | None]) -> None:
    _ACTIVE.reset(token)


def current() -> ActiveRun | RemoteRun:
    """The active run; attaches to ``GYRE_RUN_ID`` in a script step's process."""
    run: ActiveRun | RemoteRun | None = _ACTIVE.get()
    if run is not None:
        return run
    run_id = os.environ.get(RUN_ID_ENV)
    if run_id:
        if run_id not in _ATTACHED:
            import atexit

            attached = ActiveRun(open_store(config.resolve()), run_id)
            _ATTACHED[run_id] = attached
            atexit.register(attached.close)
        return _ATTACHED[run_id]
    raise NoActiveRun(
        "No active run to log to. Call gyre.log_* inside a pipeline step, or open a run "
        "first: with gyre.start_run(experiment='my-experiment'): ..."
    )


def active_run_id() -> str | None:
    """The id of the run that log calls would write to, or None outside any run."""
    run = _ACTIVE.get()
    if run is not None:
        return run.run_id
    return os.environ.get(RUN_ID_ENV) or None


def active_store() -> Store | None:
    run = _ACTIVE.get()
    return run.store if isinstance(run, ActiveRun) else None


@contextmanager
def start_run(
    experiment: str = "default",
    name: str | None = None,
    *,
    tags: dict[str, str] | None = None,
    store: Store | None = None,
) -> Iterator[ActiveRun | RemoteRun]:
    """Track a script or notebook cell as a run: ``with gyre.start_run(experiment="seer"):``.

    The run is ``finished`` when the block ends, ``failed`` (with the error) when it raises.
    With ``GYRE_URI`` naming a team server, the run is recorded through it (metrics batched
    and sent in the background, as the local writer batches its inserts).
    """
    from gyre.tracking.run_environment import run_facts

    url = config.server_url() if store is None else None
    if url is not None:
        from gyre.tracking.remote_run import start_remote_run

        with start_remote_run(url, experiment, name, tags or {}) as remote:
            yield remote
        return
    store = store or open_store(config.resolve())
    with store.write() as tx:
        run_id = run_rows.create(
            tx,
            kind="run",
            name=name or experiment,
            experiment=experiment,
            **run_facts(Path.cwd()),
        )
        run_rows.set_tags(tx, run_id, tags or {})
    with running(ActiveRun(store, run_id)) as run:
        yield run


@contextmanager
def running(run: RunWriterT) -> Iterator[RunWriterT]:
    """Make ``run`` the one log calls write to; then send what is buffered and end it:
    finished, or failed with the error (ended even when its last points cannot be written)."""
    token = activate(run)
    status, error = "finished", None
    try:
        yield run
    except BaseException as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        deactivate(token)
        try:
            run.close()
        finally:
            run.end(status, error)
