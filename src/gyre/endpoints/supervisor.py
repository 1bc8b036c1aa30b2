"""Keeping local endpoints' serving processes alive (the agent runs this beside its jobs).

Each agent ticks about once a second: for every active local endpoint it holds, or can take,
the supervision lease of, it makes sure one serving process runs, and starts one when none
does (a restart when one had been running; a process that keeps dying is restarted with
backoff, and its last log lines go to the endpoint's ``last_error``). Serving processes run in
sessions of their own: an agent that stops or is killed leaves them serving, and the agent
that takes the lease next adopts them (it finds the recorded pid alive on this machine) rather
than starting a second one. Endpoints whose process runs on another machine are left to that
machine's agents.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gyre.endpoints.definitions import log_path, machine_name
from gyre.store import audit
from gyre.store import endpoints as rows
from gyre.store.endpoints import EndpointRow
from gyre.tracking.liveness import process_exists

if TYPE_CHECKING:
    from gyre.store import Store

LEASE_S = 15.0
TICK_S = 0.5
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 60.0
HEALTHY_AFTER_S = 30.0  # a process that lived this long resets the backoff
PROCESS_MODULE = "gyre.endpoints.process"


def is_serving_process(pid: int, endpoint: str) -> bool:
    """Whether ``pid`` is alive and is the serving process of ``endpoint`` (not a reused pid)."""
    if not process_exists(pid):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():
        return True  # no /proc here: trust the pid
    try:
        argv = cmdline.read_bytes().split(b"\0")
    except OSError:
        return False
    return PROCESS_MODULE.encode() in argv and endpoint.encode() in argv


class Supervisor:
    def __init__(self, store: Store, owner: str, say: Callable[[str], None] = print) -> None:
        self.store = store
        self.owner = owner
        self.say = say
        self.machine = machine_name()
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.started_at: dict[str, float] = {}
        self.failures: dict[str, int] = {}
        self.not_before: dict[str, float] = {}
        self.restarting: set[str] = set()  # names whose process died, until restarted

    def tick(self) -> None:
        """One pass over the endpoints."""
        with self.store.read() as tx:
            endpoints = rows.list_all(tx)
        for row in endpoints:
            if row.target != "local" or row.state != "active":
                self._reap(row.name)
                continue
            if row.machine is not None and row.machine != self.machine:
                continue
            with self.store.write() as tx:
                held = rows.lease(tx, row.name, self.owner, LEASE_S)
            if held:
                self._keep_alive(row)
        for name in set(self.children) - {r.name for r in endpoints}:
            self._reap(name)

    def _keep_alive(self, row: EndpointRow) -> None:
        child = self.children.get(row.name)
        if child is not None and child.poll() is None:
            self._note_health(row.name)
            return
        if child is None and row.pid is not None and is_serving_process(row.pid, row.name):
            return  # started by an earlier agent: adopted
        if child is not None or row.pid is not None:
            self.restarting.add(row.name)
        if child is not None:
            self._died(row, child)
        if time.monotonic() < self.not_before.get(row.name, 0.0):
            return
        self._start(row, restart=row.name in self.restarting)
        self.restarting.discard(row.name)

    def _start(self, row: EndpointRow, *, restart: bool) -> None:
        log = Path(log_path(self.store, row.name))
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            child = subprocess.Popen(
                [sys.executable, "-m", PROCESS_MODULE, row.name],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives this agent; signals to the agent skip it
            )
        self.children[row.name] = child
        self.started_at[row.name] = time.monotonic()
        with self.store.write() as tx:
            rows.record_start(tx, row.name, self.machine, child.pid, restart=restart)
            audit.append(
                tx,
                f"agent {self.owner}",
                "endpoint.restart" if restart else "endpoint.start",
                f"endpoint {row.name}",
                {"pid": child.pid, "port": row.port, "generation": row.generation},
            )
        self.say(f"endpoint {row.name}: {'restarted' if restart else 'started'} (pid {child.pid})")

    def _died(self, row: EndpointRow, child: subprocess.Popen[bytes]) -> None:
        failures = self.failures.get(row.name, 0) + 1
        self.failures[row.name] = failures
        delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (failures - 1))
        self.not_before[row.name] = time.monotonic() + delay
        code = child.returncode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        message = f"serving process {child.pid} {how}"
        tail = _log_tail(Path(log_path(self.store, row.name))) if code > 0 else ""
        with self.store.write() as tx:
            rows.report_stopped(tx, row.name, child.pid)
            rows.report_error(tx, row.name, f"{message}: {tail}" if tail else message)
        self.say(f"endpoint {row.name}: {message}; restarting in {delay:.0f} s")
        del self.children[row.name]

    def _note_health(self, name: str) -> None:
        if time.monotonic() - self.started_at.get(name, 0.0) > HEALTHY_AFTER_S:
            self.failures.pop(name, None)

    def _reap(self, name: str) -> None:
        child = self.children.get(name)
        if child is not None and child.poll() is not None:
            del self.children[name]

    def let_go(self) -> None:
        """Give up the leases (the processes serve on; the next agent adopts them)."""
        with self.store.write() as tx:
            for row in rows.list_all(tx):
                rows.let_go(tx, row.name, self.owner)


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_bytes()[-4000:].decode("utf-8", "replace")
    except OSError:
        return ""
    kept = [line for line in text.splitlines() if line.strip() and not line.startswith("{")]
    return " | ".join(kept[-lines:])  # not the access log's JSON lines


def run_in_background(
    store: Store, owner: str, say: Callable[[str], None], stop: threading.Event
) -> threading.Thread:
    """Tick until ``stop`` is set, in a daemon thread (an agent's jobs can run for hours)."""
    supervisor = Supervisor(store, owner, say)

    def loop() -> None:
        while not stop.is_set():
            try:
                supervisor.tick()
            except Exception as exc:  # the store away for a moment: try again next tick
                say(f"endpoint supervision: {type(exc).__name__}: {exc}")
            stop.wait(TICK_S)
        try:
            supervisor.let_go()
        except Exception as exc:  # best effort: the leases run out by themselves
            say(f"endpoint supervision: could not give up leases: {exc}")

    thread = threading.Thread(target=loop, name="endpoint-supervisor", daemon=True)
    thread.start()
    return thread
