"""Fresh processes, timed from spawn to exit, with their peak memory; the page cache around them.

Every measurement is one child process. ``os.wait4`` returns the child's own resource usage,
so its ``ru_maxrss`` is the peak resident memory of that command alone (and of any children it
waited for), not of everything this benchmark ran before.
"""

from __future__ import annotations

import os
import resource
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

COMMAND_TIMEOUT_S = 900.0
DROP_CACHES = Path("/proc/sys/vm/drop_caches")


class CommandFailed(Exception):
    """A measured command exited with an error; the message holds its output's tail."""


@dataclass(frozen=True)
class Measured:
    seconds: float
    cpu_seconds: float  # user + system, of the process and the children it waited for
    peak_rss_mb: float
    stdout: str


def measure(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None, log: Path
) -> Measured:
    """Run ``argv`` in a fresh process; wall-clock and CPU seconds, peak RSS and stdout.

    Output goes to a file (``log``), not a pipe, so a chatty command never blocks on us.

    Raises:
        CommandFailed: the command exited non-zero or ran past ``COMMAND_TIMEOUT_S``.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        started = time.perf_counter()
        child = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env) if env is not None else None, stdout=out, stderr=out
        )
        _, status, usage = _wait4(child, started)
        elapsed = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace")
    if child.returncode != 0:
        tail = "\n".join(text.strip().splitlines()[-15:])
        raise CommandFailed(f"{' '.join(argv)} exited with {child.returncode}:\n{tail}")
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(elapsed, cpu, usage.ru_maxrss / 1024, text)  # ru_maxrss: KiB on Linux


def _wait4(
    child: subprocess.Popen[bytes], started: float
) -> tuple[int, int, resource.struct_rusage]:
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            return pid, status, usage
        if time.perf_counter() - started > COMMAND_TIMEOUT_S:
            child.kill()
            os.wait4(child.pid, 0)
            raise CommandFailed(f"{child.args} ran past {COMMAND_TIMEOUT_S:.0f} s")
        time.sleep(0.002)


def run_quietly(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None) -> str:
    """Set-up commands (not measured): stdout, or ``CommandFailed`` with the output's tail."""
    done = subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        check=False,
        timeout=COMMAND_TIMEOUT_S,
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise CommandFailed(f"{' '.join(argv)} exited with {done.returncode}:\n{tail}")
    return done.stdout


def settle(*, drop: bool) -> None:
    """Write back dirty pages (so no command pays for the previous one's writes), and with
    ``drop`` also empty the page cache."""
    os.sync()
    if drop:
        DROP_CACHES.write_text("3\n")


def can_drop_caches() -> bool:
    """Whether this process may empty the page cache (root, and /proc/sys writable)."""
    try:
        settle(drop=True)
    except OSError:
        return False
    return True
