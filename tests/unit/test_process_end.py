"""After a command that used Ray, `gyre` ends without the interpreter's teardown: every exit
hook still runs, output still arrives, the exit code is the command's; elsewhere nothing
changes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray")

# An object whose finalizer runs only in the interpreter's teardown, and an exit hook: the
# first shows whether the teardown happened, the second that hooks still run.
SCRIPT = """
import atexit, os, sys, threading, time
class Teardown:
    def __del__(self, write=os.write):
        write(1, b"teardown\\n")
marker = Teardown()
atexit.register(lambda: print("exit hook ran"))
if "ray" in sys.argv[1]:
    import ray
if "thread" in sys.argv[1]:
    threading.Thread(target=time.sleep, args=(0.3,)).start()
sys.argv = ["gyre", *sys.argv[2:]]
print("before the command")  # block-buffered on a pipe: lost if not flushed
from gyre.cli.main import main
main()
"""


def _gyre(tmp_path: Path, setup: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, setup, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_after_ray_the_teardown_is_skipped_and_nothing_else(tmp_path: Path) -> None:
    done = _gyre(tmp_path, "ray", "--version")
    assert done.returncode == 0, done.stderr
    assert "before the command" in done.stdout
    assert "gyre " in done.stdout
    assert "exit hook ran" in done.stdout
    assert "teardown" not in done.stdout


def test_the_exit_code_and_error_of_a_failed_command_are_kept(tmp_path: Path) -> None:
    done = _gyre(tmp_path, "ray", "run", "missing.py:nothing")
    assert done.returncode == 1
    assert "gyre init" in done.stderr
    assert "exit hook ran" in done.stdout
    assert "teardown" not in done.stdout
    usage = _gyre(tmp_path, "ray", "run", "--no-such-option")
    assert usage.returncode == 2
    assert "no-such-option" in usage.stderr


def test_without_ray_the_process_ends_as_python_ends_it(tmp_path: Path) -> None:
    done = _gyre(tmp_path, "plain", "--version")
    assert done.returncode == 0
    assert "exit hook ran" in done.stdout
    assert "teardown" in done.stdout


def test_a_running_thread_is_waited_for(tmp_path: Path) -> None:
    done = _gyre(tmp_path, "ray thread", "--version")
    assert done.returncode == 0
    assert "teardown" in done.stdout  # the normal exit, which waits for the thread


def test_called_from_python_main_returns(tmp_path: Path) -> None:
    script = (
        "import sys, ray\nfrom gyre.cli.main import main\nprint('returned', main(['--version']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert "returned 0" in done.stdout, done.stderr
