"""Time a command in a fresh process and watch the memory of every process it starts.

The benchmark process makes itself a *child subreaper* (Linux ``prctl``), so a process that
the measured command orphans (a daemon, a background server) is re-parented to us instead of
to init: it stays in our process tree, its memory is counted, and it shows up as left over.

Memory comes from two sources: a sampling thread reads ``/proc`` every ``SAMPLE_S`` seconds
(resident set of each process and their sum), and ``wait4`` returns the kernel's exact peak
resident set of the largest process among the command and the children it waited for.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_S = 0.05
_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux only); returns whether it worked."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


@dataclass(frozen=True)
class Leftover:
    pid: int
    cmdline: str


@dataclass
class Result:
    """One measured command: wall seconds, peak memory (MB), exit status, left-over processes."""

    wall_s: float
    max_rss_mb: float
    tree_rss_mb: float
    returncode: int
    log: Path
    leftovers: list[Leftover] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, lines: int = 6) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])


def _parents() -> dict[int, int]:
    """pid -> parent pid for every live process (``/proc/PID/stat`` field 4)."""
    out: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if fields[0] != b"Z":  # zombies hold no memory and are not "running"
            out[int(entry.name)] = int(fields[1])
    return out


def descendants(root: int) -> list[int]:
    """Live processes below ``root`` (not ``root`` itself)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _rss_kb(pid: int) -> tuple[int, int]:
    """(current resident set, peak resident set) of ``pid`` in kB; zeros if it is gone."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return rss, hwm


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


class _Sampler(threading.Thread):
    """Samples the memory of our whole process tree until stopped."""

    def __init__(self) -> None:
        super().__init__(name="memory-sampler", daemon=True)
        self.largest_kb = 0
        self.tree_kb = 0
        self._halt = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._halt.is_set():
            self.sample(me)
            self._halt.wait(SAMPLE_S)

    def sample(self, me: int) -> None:
        total = 0
        for pid in descendants(me):
            rss, hwm = _rss_kb(pid)
            total += rss
            self.largest_kb = max(self.largest_kb, hwm, rss)
        self.tree_kb = max(self.tree_kb, total)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def leftovers(marker: str | None = None) -> list[Leftover]:
    """Processes still alive below us, plus any whose command line contains ``marker``."""
    me = os.getpid()
    pids = set(descendants(me))
    if marker:
        for pid in _parents():
            if pid != me and marker in cmdline(pid):
                pids.add(pid)
    return [Leftover(pid, cmdline(pid)) for pid in sorted(pids)]


def stop_leftovers(found: Sequence[Leftover]) -> None:
    """End the left-over processes this benchmark started (by pid) and reap the zombies."""
    for proc in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p.pid) for p in found):
        reap()
        time.sleep(0.1)
    for proc in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(proc.pid, signal.SIGKILL)
    reap()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid in _parents()


def reap() -> None:
    """Collect zombies re-parented to us (we are a subreaper)."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def run_measured(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
    timeout_s: float = 900,
    marker: str | None = None,
) -> Result:
    """Run ``argv`` in a fresh process; time it, sample its memory, look for left-overs.

    Left-over processes are recorded on the result, then stopped so that the next
    measurement starts clean.
    """
    sampler = _Sampler()
    sampler.start()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        status, usage = _wait(proc, timeout_s)
        wall = time.perf_counter() - start
    sampler.sample(os.getpid())
    sampler.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    time.sleep(0.2)  # let a process that is still shutting down finish before we call it left over
    found = leftovers(marker)
    if found:
        stop_leftovers(found)
    reap()
    largest_kb = max(sampler.largest_kb, usage.ru_maxrss)
    return Result(
        wall_s=wall,
        max_rss_mb=largest_kb / 1024,
        tree_rss_mb=max(sampler.tree_kb, largest_kb) / 1024,
        returncode=proc.returncode,
        log=log,
        leftovers=found,
    )


def _wait(proc: subprocess.Popen[bytes], timeout_s: float) -> tuple[int, resource.struct_rusage]:
    """Blocking ``wait4`` (exact end time and peak memory); past the deadline the command's
    session is killed."""

    def kill() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout_s, kill)
    timer.daemon = True
    timer.start()
    try:
        _pid, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    return status, usage


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
