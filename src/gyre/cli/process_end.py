"""How a ``gyre`` process ends after a command that used Ray.

Once Python has run its exit hooks (gyre's, which end the Ray job and leave warm workers, then
Ray's own and every other library's), all that is left is the interpreter's teardown: freeing
every module and object, and the destructors of Ray's native library. Nothing is written then,
but after a Ray run it takes 0.14 to 0.3 s on a 2-core machine, between the run's last line
and the shell prompt (measured: ``import ray`` alone adds 0.14 s to a process's exit; a process
that connected and asked for warm workers 0.3 s). So after such a command the process runs the
exit hooks itself, flushes its standard streams and ends at once with the command's exit code.

It does so only when it can change nothing but the time: Ray is loaded, the exit code is an
integer, and no non-daemon thread is still running (the interpreter would wait for it).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading


def exit_code(value: object) -> int | None:
    """The status ``sys.exit(value)`` would end with, or None where it would print ``value``."""
    if value is None:
        return 0
    return value if isinstance(value, int) else None


def end_after_ray(code: int | None) -> None:
    """End now (exit hooks run, streams flushed) if this process used Ray; else return."""
    if code is None or "ray" not in sys.modules:
        return
    main = threading.main_thread()
    if any(t is not main and t.is_alive() and not t.daemon for t in threading.enumerate()):
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing can reach it
            stream.flush()
    os._exit(code)
