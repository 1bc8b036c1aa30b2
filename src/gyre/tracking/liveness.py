"""Whether a run said to be running still is: its process on this host, or its heartbeat.

A pipeline run's process updates its heartbeat every few seconds. A run whose process is gone
(SIGKILL, a lost machine) never gets to record how it ended; it is shown as ``killed`` once
its process no longer exists on this host, or once its heartbeat is older than
``STALE_AFTER_S`` wherever it ran.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

STALE_AFTER_S = 30.0


def effective_status(record: Any) -> str:
    """The run's status, with ``killed`` for a running run whose process is gone."""
    status = str(record.status)
    if status != "running" or record.kind != "pipeline":
        return status
    if record.host == socket.gethostname() and record.pid and not process_exists(record.pid):
        return "killed"
    if record.heartbeat_at and time.time() - record.heartbeat_at > STALE_AFTER_S:
        return "killed"
    return status


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True
