"""The agent: claims jobs from the workspace's job table and runs them.

Several agents may serve one workspace, on any machines that reach it. Each job runs in a
child process (so that published snapshots never share a module namespace); the agent keeps
the job's lease alive while it runs. An agent that dies lets the lease run out, and another
agent claims the job again: a pipeline job then resumes its run, reusing what finished.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable

from gyre import config
from gyre.store import Store, jobs, open_store

LEASE_S = 60.0
EXIT_RETRY = 3


def agent_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_one(
    store: Store, job: jobs.Job, owner: str, *, env: dict[str, str] | None = None
) -> jobs.Job:
    """Execute a claimed job in a child process and record how it ended."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gyre.agent", "execute", str(job.id)],
        env={**os.environ, **(env or {})},
    )
    last_beat = time.monotonic()
    while process.poll() is None:
        time.sleep(0.2)
        if time.monotonic() - last_beat > LEASE_S / 4:
            last_beat = time.monotonic()
            with store.write() as conn:
                jobs.heartbeat(conn, job.id, owner, lease_s=LEASE_S)
    with store.write() as conn:
        if process.returncode == 0:
            jobs.complete(conn, job.id, owner, {"exit_code": 0})
        else:
            jobs.fail(conn, job.id, owner, f"job process exited with code {process.returncode}")
        return jobs.get(conn, job.id)


def serve(
    store: Store,
    *,
    once: bool = False,
    poll_s: float = 1.0,
    kinds: list[str] | None = None,
    say: Callable[[str], None] = print,
) -> int:
    """Claim and run jobs until interrupted (or, with ``once``, until the queue is empty)."""
    owner = agent_name()
    handled = 0
    where = store.settings.local_dir if store.settings.embedded else "the workspace"
    say(f"agent {owner} serving {where}")
    while True:
        with store.write() as conn:
            job = jobs.claim(conn, owner, kinds=kinds or ["pipeline.run"], lease_s=LEASE_S)
        if job is None:
            if once:
                return handled
            time.sleep(poll_s)
            continue
        say(f"job {job.id}: {job.kind} {job.payload.get('pipeline', '')} (attempt {job.attempts})")
        ended = run_one(store, job, owner)
        handled += 1
        say(
            f"job {job.id}: {ended.status}" + (f" ({ended.last_error})" if ended.last_error else "")
        )


def _execute(job_id: int) -> int:
    from gyre.pipelines.submission import execute_job
    from gyre.sdk import _PrintObserver

    store = open_store(config.resolve())
    with store.read() as conn:
        job = jobs.get(conn, job_id)
    try:
        run = execute_job(store, job, _PrintObserver())
    except Exception as exc:  # the job is retried with backoff; the error goes to its record
        print(f"job {job_id} could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_RETRY
    print(f"run {run.id} {run.status}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "execute":
        sys.exit(_execute(int(sys.argv[2])))
    print("usage: python -m gyre.agent execute JOB_ID (agents are started with 'gyre agent')")
    sys.exit(2)
