"""The agent: claims jobs from the workspace's job table and runs them.

Several agents may serve one workspace, on any machines that reach it. A pipeline job runs
in a child process (so that published snapshots never share a module namespace); release
transitions and model.registered events, which import no user code, run on a thread of the
agent itself. The agent keeps each job's lease alive while it runs, and keeps local
endpoints' serving processes running meanwhile. An agent that dies lets the lease run out,
and another agent claims the job again: a pipeline job then resumes its run, reusing what
finished.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from gyre import jobs
from gyre.tracking.current_store import current_store

if TYPE_CHECKING:
    from gyre.store import Store

LEASE_S = 60.0
EXIT_RETRY = 3
RUN_JOB = "pipeline.run"
REGISTERED_EVENT = "model.registered"
RELEASE_STEP_JOB = "release.step"
MONITOR_WINDOW_JOB = "monitor.window"
DRIFT_EVENT = "drift.detected"
# What an agent claims: submitted runs, new model versions (they may start releases), release
# transitions, monitors' windows and the actions of drifted ones.
AGENT_KINDS = [RUN_JOB, REGISTERED_EVENT, RELEASE_STEP_JOB, MONITOR_WINDOW_JOB, DRIFT_EVENT]
# Run in the agent's own process (on a thread): they import no user code, and a fresh
# interpreter per release transition cost ~0.5 s of CPU, taken from the endpoints it changes;
# a monitor keeps its prepared baseline between windows.
IN_PROCESS_KINDS = (REGISTERED_EVENT, RELEASE_STEP_JOB, MONITOR_WINDOW_JOB, DRIFT_EVENT)
SCHEDULE_EVERY_S = 5.0
FOREGROUND_AFTER_S = 2.0


def agent_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_one(
    store: Store,
    job: jobs.Job,
    owner: str,
    *,
    env: dict[str, str] | None = None,
    output: TextIO | None = None,
) -> jobs.Job:
    """Execute a claimed job in a child process and record how it ended. ``output``: where
    the child's progress goes (default: this process's stdout)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gyre.agent", "execute", str(job.id)],
        env={**os.environ, **(env or {})},
        stdout=output,
    )
    last_beat = time.monotonic()
    while process.poll() is None:
        time.sleep(0.2)
        if time.monotonic() - last_beat > LEASE_S / 4:
            last_beat = time.monotonic()
            jobs.heartbeat(store, job.id, owner, lease_s=LEASE_S)
    return jobs.finish(store, job.id, owner, process.returncode)


def run_in_process(
    store: Store, job: jobs.Job, owner: str, say: Callable[[str], None] = print
) -> jobs.Job:
    """Execute a claimed job of the agent's own (a release transition, a new version's
    event) on a thread of this process, keeping its lease alive, and record how it ended: a
    failure is retried with backoff, its error in the job's record."""
    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["said"] = _EXECUTORS[job.kind](store, job)
        except Exception as exc:  # recorded on the job, which is retried with backoff
            outcome["error"] = f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=work, name=f"job-{job.id}", daemon=True)
    thread.start()
    last_beat = time.monotonic()
    while thread.is_alive():
        thread.join(timeout=0.2)
        if time.monotonic() - last_beat > LEASE_S / 4:
            last_beat = time.monotonic()
            jobs.heartbeat(store, job.id, owner, lease_s=LEASE_S)
    if "error" in outcome:
        return jobs.release(store, job.id, owner, str(outcome["error"]))
    say(str(outcome.get("said", "")))
    return jobs.finish(store, job.id, owner, 0)


def serve(
    store: Store,
    *,
    once: bool = False,
    poll_s: float = 1.0,
    kinds: list[str] | None = None,
    say: Callable[[str], None] = print,
    before_claim: Callable[[], object] | None = None,
    endpoints: bool = True,
) -> int:
    """Claim and run jobs until interrupted (or, with ``once``, until the queue is empty).
    ``before_claim`` runs before each claim (``--watch-repo`` submits new commits there).
    ``endpoints``: keep local endpoints' serving processes running meanwhile (not with
    ``once``)."""
    owner = agent_name()
    where = store.settings.local_dir if store.settings.embedded else "the workspace"
    say(f"agent {owner} serving {where}")
    if once or not endpoints:
        return _claim_and_run(store, owner, once, poll_s, kinds, say, before_claim)
    from gyre.endpoints.supervisor import run_in_background

    stop = threading.Event()
    supervision = run_in_background(store, owner, say, stop)
    try:
        return _claim_and_run(store, owner, once, poll_s, kinds, say, before_claim)
    finally:
        stop.set()
        supervision.join(timeout=10)


def _claim_and_run(
    store: Store,
    owner: str,
    once: bool,
    poll_s: float,
    kinds: list[str] | None,
    say: Callable[[str], None],
    before_claim: Callable[[], object] | None,
) -> int:
    handled = 0
    scheduled_at = 0.0
    while True:
        if before_claim is not None:
            before_claim()
        if time.monotonic() - scheduled_at >= SCHEDULE_EVERY_S:
            scheduled_at = time.monotonic()
            _schedule_monitors(store, say)
        job = jobs.claim(store, owner, kinds or AGENT_KINDS, lease_s=LEASE_S)
        if job is None:
            if once:
                return handled
            time.sleep(poll_s)
            continue
        say(f"job {job.id}: {job.kind} {_subject(job)} (attempt {job.attempts})")
        if job.kind in IN_PROCESS_KINDS:
            ended = run_in_process(store, job, owner, say)
        else:
            ended = run_one(store, job, owner)
        handled += 1
        say(
            f"job {job.id}: {ended.status}" + (f" ({ended.last_error})" if ended.last_error else "")
        )


def _schedule_monitors(store: Store, say: Callable[[str], None]) -> None:
    """Enqueue the monitors' windows that have ended; a failure is said, not fatal: the
    next pass enqueues what this one missed."""
    from gyre.errors import GyreError
    from gyre.monitoring.monitors import schedule_due

    try:
        schedule_due(store)
    except GyreError as exc:
        say(f"monitor schedules: {exc}")


def _subject(job: jobs.Job) -> str:
    payload = job.payload
    if "monitor" in payload:
        return f"monitor {payload['monitor']}"
    if "release" in payload:
        return f"release {payload['release']} transition {payload.get('seq')}"
    if "model" in payload:
        return f"{payload['model']}@{payload.get('version')}"
    return str(payload.get("pipeline", ""))


def follow(
    store: Store,
    job_id: int,
    run_id: str,
    say: Callable[[str], None] = print,
    *,
    output: TextIO | None = None,
) -> str:
    """Wait for a submitted run to end and return its status. When no agent has claimed the
    job after a moment, run it here (``gyre pipeline submit --wait`` with no agent)."""
    from gyre.errors import NotFound
    from gyre.tracking.run_details import get_run

    say(f"Queued run {run_id} (job {job_id}); waiting for an agent...")
    waited = time.monotonic()
    ran_here = False  # then the run's own progress has already said how it ended
    while True:
        owner = agent_name()
        if time.monotonic() - waited > FOREGROUND_AFTER_S:
            _job, claimed = jobs.claim_if_queued(store, job_id, owner, [RUN_JOB])
        else:
            claimed = None
        if claimed is not None and claimed.id == job_id:
            say("No agent picked it up: running it here.")
            run_one(store, claimed, owner, output=output)
            ran_here = True
        elif claimed is not None:
            jobs.release(store, claimed.id, owner, "released: claimed by a foreground submit")
        job = jobs.get(store, job_id)
        try:
            status = get_run(store, run_id).status
        except NotFound:
            status = job.status
        if job.status in ("done", "failed", "cancelled"):
            if not ran_here:
                say(f"run {run_id} {status}")
            return status
        time.sleep(0.3)


def _execute(job_id: int) -> int:
    store = current_store()
    job = jobs.get(store, job_id)
    try:
        said = _EXECUTORS[job.kind](store, job)
    except Exception as exc:  # the job is retried with backoff; the error goes to its record
        print(f"job {job_id} could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_RETRY
    print(said)
    return 0


def _run_pipeline(store: Store, job: jobs.Job) -> str:
    from gyre.pipelines.submission import execute_job
    from gyre.sdk import _PrintObserver

    run = execute_job(store, job, _PrintObserver())
    return f"run {run.id} {run.status}"


def _start_releases(store: Store, job: jobs.Job) -> str:
    from gyre.releases import on_registered

    started = on_registered(store, job.payload)
    model = f"{job.payload['model']}@{job.payload['version']}"
    if not started:
        return f"{model}: no release definition's trigger matches"
    return f"{model}: release {', '.join(str(r) for r in started)}"


def _release_step(store: Store, job: jobs.Job) -> str:
    from gyre.releases import run_transition

    return run_transition(
        store, int(job.payload["release"]), int(job.payload["seq"]), f"agent {job.lease_owner}"
    )


def _monitor_window(store: Store, job: jobs.Job) -> str:
    from gyre.monitoring.monitors import window_job

    return window_job(store, job.payload)


def _drift_actions(store: Store, job: jobs.Job) -> str:
    from gyre.monitoring.actions import take

    return take(store, job.payload)


_EXECUTORS: dict[str, Callable[[Store, jobs.Job], str]] = {
    RUN_JOB: _run_pipeline,
    REGISTERED_EVENT: _start_releases,
    RELEASE_STEP_JOB: _release_step,
    MONITOR_WINDOW_JOB: _monitor_window,
    DRIFT_EVENT: _drift_actions,
}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "execute":
        sys.exit(_execute(int(sys.argv[2])))
    print("usage: python -m gyre.agent execute JOB_ID (agents are started with 'gyre agent')")
    sys.exit(2)
