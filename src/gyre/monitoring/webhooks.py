"""Webhook delivery for drift monitors' actions: a signed JSON POST, retried while a retry can help.

A delivery is retried, with exponential back-off, after a timeout, a connection error, HTTP 429 or
a 5xx; any other answer is final (a receiver that refused the request once will refuse it again).
Network problems never raise: they are reported in the returned :class:`Delivery`.

Receivers check the ``X-Gyre-Signature-256`` header with :func:`verify`; it follows GitHub's
``X-Hub-Signature-256`` convention (``sha256=`` and the hex HMAC-SHA256 of the raw body). The
``X-Gyre-Delivery`` id is the same on every retry, so a receiver can drop a repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from gyre.errors import InvalidParameter

EVENT_HEADER = "X-Gyre-Event"
DELIVERY_HEADER = "X-Gyre-Delivery"
SIGNATURE_HEADER = "X-Gyre-Signature-256"
USER_AGENT = "gyre-webhook"
_EXCERPT_CHARS = 200
_EXCERPT_BYTES = 4096  # what is read of an error answer's body: enough for the excerpt


@dataclass(frozen=True)
class Delivery:
    """What became of one webhook delivery (all its attempts together).

    ``status_code`` is the last answer's status (None when the last attempt got none), and
    ``error`` says what went wrong when ``delivered`` is False.
    """

    url: str
    delivered: bool
    attempts: int
    status_code: int | None
    error: str | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sign(body: bytes, secret: str) -> str:
    """Return ``"sha256=" + hex HMAC-SHA256(secret, body)``, the ``X-Gyre-Signature-256`` value."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, signature: str, secret: str) -> bool:
    """Whether ``signature`` is :func:`sign` of ``body`` with ``secret`` (constant-time compare).

    Example, in a receiver::

        if not verify(request.body, request.headers["X-Gyre-Signature-256"], SECRET):
            return 401
    """
    return hmac.compare_digest(sign(body, secret).encode(), signature.encode())


def deliver(
    url: str,
    payload: dict[str, Any],
    *,
    event: str,
    secret: str | None = None,
    timeout_s: float = 5.0,
    attempts: int = 4,
    backoff_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST ``payload`` as JSON to ``url``, retrying while a retry can help.

    Args:
        url: the receiver, an http(s) URL.
        payload: the JSON body (sent with sorted keys, compact).
        event: the ``X-Gyre-Event`` header, e.g. ``"drift.detected"``.
        secret: when given, the body is signed in ``X-Gyre-Signature-256`` (see :func:`verify`).
        timeout_s: the limit of each attempt's connect, send and wait for an answer.
        attempts: how many tries at most, the first one included.
        backoff_s: the wait before the second attempt; it doubles before each further one.
        sleep: how to wait between attempts (tests pass one that only records).

    Returns:
        A :class:`Delivery`; ``delivered`` is True after any 2xx answer.

    Raises:
        InvalidParameter: the URL is not http(s), the payload is not JSON, or a number is out of
            range. Network problems never raise.
    """
    _check_arguments(url, timeout_s, attempts, backoff_s)
    body = _json_body(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: event,
        DELIVERY_HEADER: str(uuid.uuid4()),
    }
    if secret is not None:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    started = time.monotonic()
    # Redirects are not followed (as GitHub does not): a receiver that moved answers 3xx, final.
    with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
        attempt = 1
        while True:
            status, problem, retry = _attempt(client, url, body, headers, timeout_s)
            if problem is None:
                return Delivery(url, True, attempt, status, None, time.monotonic() - started)
            if not retry or attempt == attempts:
                error = f"{problem} ({attempt} attempt{'s' if attempt > 1 else ''})"
                return Delivery(url, False, attempt, status, error, time.monotonic() - started)
            sleep(backoff_s * 2 ** (attempt - 1))
            attempt += 1


def _attempt(
    client: httpx.Client, url: str, body: bytes, headers: dict[str, str], timeout_s: float
) -> tuple[int | None, str | None, bool]:
    """One POST: (status code, what went wrong or None, whether a retry can help)."""
    try:
        with client.stream("POST", url, content=body, headers=headers) as response:
            status = response.status_code
            if 200 <= status < 300:
                return status, None, False  # the body is not read: nothing in it matters
            excerpt = _excerpt(response)
    except httpx.TimeoutException:
        return None, f"timed out after {float(timeout_s)} s", True
    except httpx.ConnectError as exc:
        return None, f"could not connect: {str(exc) or type(exc).__name__}", True
    except httpx.HTTPError as exc:  # the connection broke, or the answer was not HTTP
        return None, f"connection failed: {str(exc) or type(exc).__name__}", True
    problem = f"HTTP {status}: {excerpt}" if excerpt else f"HTTP {status}"
    return status, problem, status == 429 or status >= 500


def _excerpt(response: httpx.Response) -> str:
    """The first characters of an error answer's body, on one line ('' when it cannot be read)."""
    data = b""
    try:
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= _EXCERPT_BYTES:
                break
    except httpx.HTTPError:
        pass  # the status already says what happened; the body only adds to it
    text = data.decode(response.encoding or "utf-8", errors="replace")
    return " ".join(text.split())[:_EXCERPT_CHARS]


def _json_body(payload: dict[str, Any]) -> bytes:
    try:
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter(
            f"Cannot send the webhook payload: {exc}. A payload must be JSON: dicts with string "
            "keys, lists, strings, finite numbers, booleans and None (NaN becomes None first).",
            field="payload",
        ) from exc
    return text.encode()


def _check_arguments(url: str, timeout_s: float, attempts: int, backoff_s: float) -> None:
    try:
        parsed: httpx.URL | None = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidParameter(
            f"Cannot send a webhook to {url!r}: webhooks are sent over HTTP, so the URL must "
            "start with http:// or https:// and name a host (e.g. https://hooks.example.com/drift).",
            field="url",
        )
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise InvalidParameter(
            f"Cannot send a webhook with timeout_s={timeout_s!r}: it must be a positive number "
            "of seconds.",
            field="timeout_s",
        )
    if attempts < 1:
        raise InvalidParameter(
            f"Cannot send a webhook with attempts={attempts!r}: at least 1 attempt is needed.",
            field="attempts",
        )
    if not (math.isfinite(backoff_s) and backoff_s >= 0):
        raise InvalidParameter(
            f"Cannot send a webhook with backoff_s={backoff_s!r}: it must be 0 or more seconds.",
            field="backoff_s",
        )
