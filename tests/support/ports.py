"""Free TCP ports on 127.0.0.1 (never a fixed port in a test: 8000 is somebody's)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now, picked by the OS."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
