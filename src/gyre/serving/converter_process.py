"""The collector's converter in a process of its own: ``python -m gyre.serving.converter_process``.

Converting the journal into Parquet partitions is CPU work proportional to what is scored; in
a thread of the server it would compete with the requests for the interpreter lock. Here it
runs beside the server, at a lower CPU priority (``nice``), in a process group of its own (so
Ctrl-C and signals to the server's group do not reach it), and ends with the server.

Its standard input is a pipe from the server, which the server closes once its journal is
closed (and which the kernel closes when the server dies, even by SIGKILL). End of input is
the one signal to end: the child then makes a final pass over what is left and exits. Unlike
a signal, it cannot arrive too early to be handled (while the child still starts, or waits
for the journal's lock behind the converter of a server that was just killed): the child reads
it whenever it is ready, so the final pass always runs, after the last answered row was
journaled. Each pass that wrote rows logs one line (rows, wall and CPU seconds) to stderr,
which is the server's log.
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


def command(
    journal: Path, dataset: str, settings: Any, interval: float, source: str = ""
) -> list[str]:
    """The argv that starts a converter for ``journal`` writing ``dataset`` (``source``: the
    journal's name among several writing the dataset, see :class:`Converter`)."""
    spec = {
        "journal": str(journal),
        "dataset": dataset,
        "source": source,
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
    """The server's handle on its converter child: start, its counts so far, stop."""

    def __init__(self, argv: list[str], state_file: Path) -> None:
        self.argv = argv
        self.state_file = state_file
        self.process: Any = None

    def start(self) -> None:
        import subprocess

        self.process = subprocess.Popen(self.argv, stdin=subprocess.PIPE, process_group=0)

    def _count(self, name: str) -> int:
        """A count of this server's child (the state file may still hold the counts of the
        converter of an earlier server, which must not show as this one's)."""
        if self.process is None:
            return 0
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return 0
        if not isinstance(state, dict) or state.get("pid") != self.process.pid:
            return 0
        return int(state.get(name, 0))

    @property
    def rows_converted(self) -> int:
        return self._count("rows_converted")

    @property
    def rows_quarantined(self) -> int:
        return self._count("rows_quarantined")

    @property
    def failures(self) -> int:
        return self._count("failures")

    def stop(self) -> None:
        """Called once the journal is closed: closing the child's input asks it for its final
        pass; this returns when that pass has ended."""
        if self.process is None:
            return
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        log.info("collector: converting what is left of the journal")
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except Exception:  # the next start converts what it left: nothing is lost
            log.error(
                "collector: the converter's final pass took over %.0f s; stopped it. The next "
                "start of this endpoint converts what it left.",
                STOP_TIMEOUT_S,
            )
            self.process.kill()
            self.process.wait()


def _end_on_end_of_input(stop: threading.Event) -> None:
    """Set ``stop`` when the server closes our input (or dies)."""
    with contextlib.suppress(OSError):
        while os.read(0, 4096):
            pass
    stop.set()


def main(argv: list[str]) -> int:
    # Below the server from the first instruction: importing the collector's stack (pyarrow,
    # the store) takes a core for most of a second, and a shadow's converter starts while
    # the endpoint serves at full load.
    os.nice(NICENESS)
    stop = threading.Event()
    # The server says when to end by closing our input (see the module's docstring). A SIGTERM
    # sent to every process at once (a service manager) must not end us before the server has
    # answered its last request: the server ends, and so its input, and then we do.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(
        target=_end_on_end_of_input, args=(stop,), name="gyre-converter-input", daemon=True
    ).start()
    from gyre.config import WorkspaceSettings
    from gyre.serving.collector import Converter
    from gyre.serving.journal import JournalReader
    from gyre.store import open_store

    spec = json.loads(argv[0])
    parent = os.getppid()
    # Values nest as deep as the server accepts (orjson: 1024 levels) and turning one into
    # JSON text recurses once or twice per level.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
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
    converter = Converter(
        store, JournalReader(folder), spec["dataset"], source=spec.get("source", "")
    )
    import numpy  # noqa: F401 - loaded now, while the server starts, not in the first pass
    import pyarrow.json
    import pyarrow.parquet  # noqa: F401

    interval = float(spec["interval"])
    while not stop.wait(interval):
        if os.getppid() != parent:  # the server is gone, and a process it forked holds our input
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
        converter.count_failure()
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
