"""Client threads that keep posting to a scoring endpoint and keep every answer."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx

ROW = {"f 1": 0.9, "f 2": 0.1, "f 3": 0.4}


class Load:
    """Client threads posting to an endpoint until stopped; every answer is kept."""

    def __init__(self, url: str, clients: int = 4, row: dict[str, float] | None = None) -> None:
        self.url = url
        self.row = row or ROW
        self.statuses: Counter[int] = Counter()
        self.versions: list[int] = []  # which version answered, in the order answers came
        self.sent_at: list[float] = []  # when each of those requests was sent
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                sent = time.time()
                try:
                    answer = client.post(f"{self.url}/score", json=[self.row])
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.failures.append(repr(exc))
                    continue
                with self._lock:
                    self.statuses[answer.status_code] += 1
                    if answer.status_code == 200:
                        self.versions.append(int(answer.headers["gyre-model-version"]))
                        self.sent_at.append(sent)

    def versions_sent_after(self, moment: float) -> list[int]:
        """The versions that answered requests sent after ``moment`` (time.time())."""
        with self._lock:
            return [v for v, t in zip(self.versions, self.sent_at, strict=True) if t > moment]

    def answered(self) -> int:
        with self._lock:
            return self.statuses[200]
