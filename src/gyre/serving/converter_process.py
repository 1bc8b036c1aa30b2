"""The collector's converter in a process of its own: ``python -m gyre.serving.converter_process``.

Converting the journal into Parquet partitions is CPU work proportional to what is scored; in
a thread of the server it would compete with the requests for the interpreter lock. Here it
runs beside the server, at a lower CPU priority (``nice``), and dies with it. SIGTERM (sent by
the server once its journal is closed) makes it convert what is left and exit. Each pass that
wrote rows logs one line (rows, wall and CPU seconds) to stderr, which is the server's log.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("gyre.serving.collector")
NICENESS = 10
STOP_TIMEOUT_S = 60.0


def command(journal: Path, dataset: str, settings: Any, interval: float) -> list[str]:
    """The argv that starts a converter for ``journal`` writing ``dataset``."""
    spec = {
        "journal": str(journal),
        "dataset": dataset,
        "interval": interval,
        "settings": {
            "db_url": settings.db_url,
            "artifacts_url": settings.artifacts_url,
            "local_dir": str(settings.local_dir),
            "artifacts_options": settings.artifacts_options,
        },
    }
    return [sys.executable, "-m", "gyre.serving.converter_process", json.dumps(spec)]


class ConverterProcess:
    """The server's handle on its converter child: start, the rows converted so far, stop."""

    def __init__(self, argv: list[str], state_file: Path) -> None:
        self.argv = argv
        self.state_file = state_file
        self.process: Any = None

    def start(self) -> None:
        import subprocess

        self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL)

    @property
    def rows_converted(self) -> int:
        try:
            return int(json.loads(self.state_file.read_text()).get("rows_converted", 0))
        except (OSError, ValueError):
            return 0

    def stop(self) -> None:
        """Called once the journal is closed: the child converts what is left, then exits."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except Exception:  # the next start converts what it left: nothing is lost
            self.process.kill()
            self.process.wait()


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def main(argv: list[str]) -> int:
    from gyre.config import WorkspaceSettings
    from gyre.serving.collector import Converter
    from gyre.serving.journal import JournalReader
    from gyre.store import open_store

    spec = json.loads(argv[0])
    parent = os.getppid()
    _die_with_parent()
    os.nice(NICENESS)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    raw = spec["settings"]
    settings = WorkspaceSettings(
        raw["db_url"], raw["artifacts_url"], Path(raw["local_dir"]), raw["artifacts_options"]
    )
    folder = Path(spec["journal"])
    # One converter per journal at a time: the one of a server that was just killed may still
    # be on its last pass; two at once could convert overlapping byte ranges twice.
    lock = open(folder / "converter.lock", "a")  # noqa: SIM115 - held for the process's life
    fcntl.flock(lock, fcntl.LOCK_EX)
    store = open_store(settings)
    converter = Converter(store, JournalReader(folder), spec["dataset"])
    import numpy  # noqa: F401 - loaded now, while the server starts, not in the first pass
    import pyarrow.json
    import pyarrow.parquet  # noqa: F401

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which stops us
    interval = float(spec["interval"])
    while not stop.wait(interval):
        if os.getppid() != parent:
            break
        _pass(converter)
    _pass(converter)
    store.close()
    return 0


def _pass(converter: Any) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    try:
        rows = converter.convert()
    except Exception:  # logged and counted; the next pass retries the same lines
        converter.failures += 1
        log.exception("converting the inference journal failed; will retry")
        return
    if rows:
        log.info(
            json.dumps(
                {
                    "ts": round(time.time(), 3),
                    "collector": "converted",
                    "rows": rows,
                    "seconds": round(time.perf_counter() - started, 3),
                    "cpu_seconds": round(time.process_time() - cpu, 3),
                }
            )
        )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
