"""The local executor: every step attempt in its own process, independent steps in parallel.

Processes are forked from the run's own process, which has already imported gyre and the
pipeline module, so a step starts in milliseconds instead of paying for a fresh interpreter;
the run's process keeps no threads and no open database connection across a fork. Each child
gets its own process group (so a timeout or cancel also stops what it started), its stdout and
stderr on a pipe that the parent streams to the step log and the terminal, its GPUs as
``CUDA_VISIBLE_DEVICES`` and its memory limit as ``RLIMIT_AS``.
"""

from __future__ import annotations

import contextlib
import os
import resource
import selectors
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gyre.errors import InvalidPipeline
from gyre.pipelines.step_process import StepTask, run_task
from gyre.store import Store

KILL_GRACE_S = 5.0


@dataclass
class Attempt:
    task: StepTask
    number: int
    log_path: Path
    slots: float
    gpus: list[str]
    pid: int = 0
    started: float = 0.0
    deadline: float | None = None
    out_fd: int = -1
    pid_fd: int = -1
    killed_for: str | None = None
    exit_code: int | None = None
    log_file: object = field(default=None, repr=False)


def detect_gpus() -> list[str]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    return sorted(p.name.removeprefix("nvidia") for p in Path("/dev").glob("nvidia[0-9]*"))


def _address_space() -> int:
    """Virtual memory this process has mapped now (bytes); 0 where /proc is missing."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * resource.getpagesize()
    except OSError:
        return 0


def _native_threads() -> int:
    """Threads of this process, native ones included (an OpenMP team that a library started
    is invisible to ``threading``)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def _single_threaded_torch() -> None:
    """In a child forked from a process whose OpenMP team was running (a notebook or test
    that used torch before ``gyre.run``), torch's first parallel region waits forever for
    threads that the fork did not copy. One thread needs no team: the step runs, on one core,
    and says why."""
    torch = sys.modules.get("torch")
    if torch is None:
        return
    torch.set_num_threads(1)
    print(
        "gyre: torch was in use in the run's process before this step was forked; the step's "
        "torch runs on one thread (start the run from a fresh process, e.g. 'gyre run', for "
        "all cores)",
        file=sys.stderr,
    )


def _die_with_parent() -> None:
    """Linux: SIGKILL this step process when the run's process dies (no orphaned steps)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        return


class LocalExecutor:
    """Runs attempts as forked processes; ``wait`` returns the ones that ended."""

    def __init__(
        self,
        store: Store,
        *,
        slots: float | None = None,
        on_output: Callable[[str, bytes], None] | None = None,
    ) -> None:
        self.store = store
        self.capacity = float(slots or os.cpu_count() or 1)
        self.free_slots = self.capacity
        self.free_gpus = detect_gpus()
        self.total_gpus = len(self.free_gpus)
        self.on_output = on_output or (lambda _step, _data: None)
        self.running: dict[int, Attempt] = {}
        self._selector = selectors.DefaultSelector()

    def fits(self, task: StepTask) -> bool:
        resources = task.node.options.resources
        need = min(resources.cpus, self.capacity)
        return need <= self.free_slots + 1e-9 and resources.gpus <= len(self.free_gpus)

    def check_satisfiable(self, task: StepTask) -> None:
        gpus = task.node.options.resources.gpus
        if gpus > self.total_gpus:
            raise InvalidPipeline(
                f"Step {task.node.name!r} ({task.node.defined_at}) asks for {gpus} GPU(s) and "
                f"this machine has {self.total_gpus}. Lower resources['gpus'] or run it on a "
                "compute target with GPUs."
            )

    def start(self, task: StepTask, number: int, log_path: Path) -> Attempt:
        resources = task.node.options.resources
        slots = min(resources.cpus, self.capacity)
        gpus = [self.free_gpus.pop(0) for _ in range(resources.gpus)]
        self.free_slots -= slots
        attempt = Attempt(task, number, log_path, slots, gpus)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        attempt.log_file = open(log_path, "ab")  # noqa: SIM115 - closed in _reap
        if number > 1:
            attempt.log_file.write(f"--- attempt {number} ---\n".encode())
        read_fd, write_fd = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        threaded = _native_threads() > 1
        pid = os.fork()
        if pid == 0:  # child
            os.close(read_fd)
            self._child(task, write_fd, gpus, threaded)
        os.close(write_fd)
        attempt.pid = pid
        attempt.started = time.monotonic()
        timeout = task.node.options.timeout
        attempt.deadline = attempt.started + timeout if timeout else None
        attempt.out_fd = read_fd
        os.set_blocking(read_fd, False)
        self._selector.register(read_fd, selectors.EVENT_READ, ("out", pid))
        try:
            attempt.pid_fd = os.pidfd_open(pid)
            self._selector.register(attempt.pid_fd, selectors.EVENT_READ, ("exit", pid))
        except (AttributeError, OSError):
            attempt.pid_fd = -1
        self.running[pid] = attempt
        return attempt

    def _child(self, task: StepTask, write_fd: int, gpus: list[str], threaded: bool) -> None:
        code = 1
        try:
            os.setpgid(0, 0)
            _die_with_parent()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.dup2(write_fd, 1)
            os.dup2(write_fd, 2)
            os.close(write_fd)
            sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
            sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(gpus) if gpus else ""
            if not gpus:
                os.environ["CUDA_VISIBLE_DEVICES"] = ""
            os.environ.update(task.env)
            memory = task.node.options.resources.memory
            if memory:
                # The child inherits the run process's address space: the step gets `memory`
                # bytes on top of what it starts with, not an absolute cap it may start above.
                limit = _address_space() + memory
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            self.store.after_fork()
            if threaded:
                _single_threaded_torch()
            code = run_task(task, self.store)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def wait(self, timeout: float = 1.0) -> list[Attempt]:
        """Stream output until at least one attempt ends or ``timeout`` passes."""
        ended: list[Attempt] = []
        deadline = time.monotonic() + timeout
        while not ended:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            poll = (
                min(remaining, 0.05)
                if any(a.pid_fd < 0 for a in self.running.values())
                else remaining
            )
            for a in self.running.values():
                if a.deadline is not None:
                    poll = max(0.0, min(poll, a.deadline - time.monotonic()))
            for key, _ in self._selector.select(poll):
                what, pid = key.data
                attempt = self.running.get(pid)
                if attempt is None:
                    continue
                if what == "out":
                    self._drain(attempt)
            self._enforce_deadlines()
            for pid in list(self.running):
                done_pid, status = os.waitpid(pid, os.WNOHANG)
                if done_pid:
                    ended.append(self._reap(self.running.pop(pid), status))
        return ended

    def _drain(self, attempt: Attempt) -> None:
        while True:
            try:
                data = os.read(attempt.out_fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._selector.unregister(attempt.out_fd)
                os.close(attempt.out_fd)
                attempt.out_fd = -1
                return
            attempt.log_file.write(data)  # type: ignore[attr-defined]
            attempt.log_file.flush()  # type: ignore[attr-defined]
            self.on_output(attempt.task.node.name, data)

    def _reap(self, attempt: Attempt, status: int) -> Attempt:
        if attempt.out_fd >= 0:
            os.set_blocking(attempt.out_fd, True)
            self._drain_rest(attempt)
        if attempt.pid_fd >= 0:
            self._selector.unregister(attempt.pid_fd)
            os.close(attempt.pid_fd)
        attempt.log_file.close()  # type: ignore[attr-defined]
        attempt.exit_code = os.waitstatus_to_exitcode(status)
        self.free_slots += attempt.slots
        self.free_gpus.extend(attempt.gpus)
        return attempt

    def _drain_rest(self, attempt: Attempt) -> None:
        # Grandchildren may still hold the pipe: read what is there without waiting for EOF.
        os.set_blocking(attempt.out_fd, False)
        self._drain(attempt)
        if attempt.out_fd >= 0:
            self._selector.unregister(attempt.out_fd)
            os.close(attempt.out_fd)
            attempt.out_fd = -1

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for attempt in self.running.values():
            if attempt.deadline is not None and now >= attempt.deadline:
                if attempt.killed_for is None:
                    attempt.killed_for = f"timed out after {attempt.task.node.options.timeout:g} s"
                    self._signal(attempt, signal.SIGTERM)
                    attempt.deadline = now + KILL_GRACE_S
                else:
                    self._signal(attempt, signal.SIGKILL)
                    attempt.deadline = None

    def _signal(self, attempt: Attempt, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(attempt.pid, sig)

    def cancel_all(self, reason: str) -> list[Attempt]:
        """Stop every running attempt (SIGTERM, then SIGKILL) and return them once ended."""
        for attempt in self.running.values():
            attempt.killed_for = reason
            self._signal(attempt, signal.SIGTERM)
        ended: list[Attempt] = []
        deadline = time.monotonic() + KILL_GRACE_S
        while self.running:
            ended.extend(self.wait(0.2))
            if time.monotonic() > deadline:
                for attempt in self.running.values():
                    self._signal(attempt, signal.SIGKILL)
        return ended

    def close(self) -> None:
        self._selector.close()
