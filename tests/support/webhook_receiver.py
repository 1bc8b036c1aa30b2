"""A real webhook receiver: an HTTP server on 127.0.0.1 (port 0) that records every request and
answers as a test tells it (a sequence of statuses, or a stall longer than the sender's timeout).

    with WebhookReceiver() as receiver:
        receiver.answer(500, 500, 200)
        deliver(receiver.url, {...}, event="drift.detected")
        assert len(receiver.requests) == 3
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names as the sender spelled them; look up with header()
    body: bytes

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


class WebhookReceiver:
    """Records each request; answers the statuses given to answer() in turn (the last one
    repeats; 200 when none was given), after stalling for stall() seconds when told to."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._statuses: list[int] = [200]
        self._body = b""
        self._stall_s = 0.0
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for the next poll, 0.5 s by default.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def answer(self, *statuses: int, body: str = "") -> None:
        """Answer the next requests with these statuses in order, then keep the last one."""
        with self._lock:
            self._statuses = list(statuses) or [200]
            self._body = body.encode()

    def stall(self, seconds: float) -> None:
        """Wait this long before answering each request (it is recorded before the wait)."""
        self._stall_s = seconds

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()  # stalled handlers end now
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _record(self, request: ReceivedRequest) -> tuple[int, bytes]:
        with self._lock:
            self._requests.append(request)
            status = self._statuses.pop(0) if len(self._statuses) > 1 else self._statuses[0]
            return status, self._body

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                request = ReceivedRequest(
                    method=self.command,
                    path=self.path,
                    headers=dict(self.headers.items()),
                    body=self.rfile.read(length),
                )
                status, body = receiver._record(request)
                if receiver._stall_s and receiver._stopping.wait(receiver._stall_s):
                    return  # the receiver is stopping: no answer
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up waiting (a timeout test): nobody reads this answer

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the tests assert on the recorded requests instead

        return Handler
