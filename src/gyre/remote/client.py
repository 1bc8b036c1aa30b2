"""Requests to a team server, with its errors raised as the SDK's own error classes.

A request that the server never answered (connection refused or reset, 503 while its
database restarts) is retried with backoff for up to ``retry_s``; anything the server
answered is final. A 401, 403, 404, 409 or 400 becomes Unauthenticated, Forbidden, NotFound,
Conflict or InvalidParameter with the server's message, so a script sees the same error
whether its workspace is embedded or behind a server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from gyre import errors

API = "/api/v1"
RETRY_S = 30.0


@dataclass(frozen=True)
class ServerTarget:
    """A team server: its base URL and the caller's token (None: none found)."""

    url: str
    token: str | None


_ERRORS: dict[int, type[errors.GyreError]] = {
    401: errors.Unauthenticated,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    413: errors.InvalidParameter,
}


class ServerClient:
    def __init__(self, target: ServerTarget, *, retry_s: float = RETRY_S) -> None:
        self.target = target
        self.retry_s = retry_s
        headers = {"user-agent": "gyre-client"}
        if target.token:
            headers["authorization"] = f"Bearer {target.token}"
        self._http = httpx.Client(
            base_url=target.url.rstrip("/") + API,
            headers=headers,
            timeout=httpx.Timeout(60.0, connect=5.0),
        )

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
    ) -> Any:
        """The decoded JSON answer of a 2xx; the server's error as a GyreError otherwise."""
        deadline = time.monotonic() + self.retry_s
        delay = 0.2
        while True:
            try:
                answer = self._http.request(
                    method, path, json=json, params=_clean(params), content=content
                )
            except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
                if time.monotonic() + delay > deadline:
                    raise errors.Unreachable(
                        f"The gyre server at {self.target.url} does not answer ({exc}). Check "
                        "that it runs and that GYRE_URI names it."
                    ) from None
            except httpx.TimeoutException:
                raise errors.Unreachable(
                    f"The gyre server at {self.target.url} did not answer {method} {path} in "
                    "time; it may still have done it: check before retrying."
                ) from None
            else:
                if answer.status_code != 503 or time.monotonic() + delay > deadline:
                    return _decoded(answer)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def download(self, path: str) -> bytes:
        answer = self._http.get(path)
        if answer.status_code >= 400:
            _decoded(answer)
        return answer.content


def _clean(params: dict[str, Any] | None) -> dict[str, Any] | None:
    return {k: v for k, v in params.items() if v is not None} if params else None


def _decoded(answer: httpx.Response) -> Any:
    if answer.status_code < 400:
        return answer.json() if answer.content else None
    try:
        error = answer.json().get("error", {})
        message = error.get("message") or answer.text
        field = error.get("field")
    except ValueError:
        message, field = answer.text[:500] or answer.reason_phrase, None
    if answer.status_code in (400, 422):
        raise errors.InvalidParameter(message, field=field)
    kind = _ERRORS.get(answer.status_code)
    if kind is not None:
        raise kind(message)
    if answer.status_code == 503:
        raise errors.Unreachable(message)
    raise errors.ServerFailed(f"The server failed ({answer.status_code}): {message}")
