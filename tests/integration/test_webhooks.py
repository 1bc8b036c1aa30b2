"""Webhook delivery against a real HTTP server on 127.0.0.1: signatures, retries and failures.

The waits between attempts go through a recording ``sleep`` so the tests do not wait them out;
each test checks the back-off sequence it recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

import pytest

from gyre.errors import InvalidParameter
from gyre.monitoring.webhooks import Delivery, deliver, sign, verify
from support.ports import free_port
from support.waiting import wait_for
from support.webhook_receiver import WebhookReceiver

PAYLOAD = {
    "monitor": "credit-scoring",
    "features": {"petal length (cm)": {"psi": 0.31, "drifted": True}},
    "window": {"start": "2024-05-01T00:00Z", "end": "2024-05-02T00:00Z"},
}


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def test_a_delivery_carries_the_json_the_event_and_a_signature_the_receiver_can_verify(
    receiver: WebhookReceiver,
) -> None:
    waits: list[float] = []
    delivery = deliver(
        receiver.url, PAYLOAD, event="drift.detected", secret="s3cret", sleep=waits.append
    )

    assert delivery.delivered and delivery.attempts == 1 and delivery.status_code == 200
    assert delivery.error is None and waits == []
    (request,) = receiver.requests
    assert request.method == "POST" and request.path == "/hook"
    assert json.loads(request.body) == PAYLOAD
    assert request.body == json.dumps(PAYLOAD, sort_keys=True, separators=(",", ":")).encode()
    assert request.header("Content-Type") == "application/json"
    assert request.header("User-Agent") == "gyre-webhook"
    assert request.header("X-Gyre-Event") == "drift.detected"
    signature = request.header("X-Gyre-Signature-256")
    assert signature is not None
    assert verify(request.body, signature, "s3cret")
    by_hand = hmac.new(b"s3cret", request.body, hashlib.sha256).hexdigest()
    assert signature == f"sha256={by_hand}" == sign(request.body, "s3cret")


def test_a_receiver_rejects_a_changed_body_or_the_wrong_secret(
    receiver: WebhookReceiver,
) -> None:
    deliver(receiver.url, PAYLOAD, event="drift.detected", secret="s3cret")
    (request,) = receiver.requests
    signature = request.header("X-Gyre-Signature-256") or ""

    assert not verify(request.body + b" ", signature, "s3cret")
    assert not verify(request.body, signature, "another secret")
    assert not verify(request.body, "sha256=" + "0" * 64, "s3cret")
    assert not verify(request.body, "sha256=é", "s3cret")  # no error on non-ASCII input


def test_without_a_secret_no_signature_is_sent(receiver: WebhookReceiver) -> None:
    assert deliver(receiver.url, PAYLOAD, event="drift.detected").delivered
    (request,) = receiver.requests
    assert request.header("X-Gyre-Signature-256") is None


def test_server_errors_are_retried_with_the_same_delivery_id_until_one_succeeds(
    receiver: WebhookReceiver,
) -> None:
    receiver.answer(500, 500, 200)
    waits: list[float] = []
    delivery = deliver(
        receiver.url, PAYLOAD, event="drift.detected", backoff_s=0.5, sleep=waits.append
    )

    assert delivery.delivered and delivery.attempts == 3 and delivery.status_code == 200
    assert delivery.error is None
    assert waits == [0.5, 1.0]
    ids = {request.header("X-Gyre-Delivery") for request in receiver.requests}
    assert len(receiver.requests) == 3 and len(ids) == 1 and None not in ids


def test_two_deliveries_have_different_ids(receiver: WebhookReceiver) -> None:
    deliver(receiver.url, PAYLOAD, event="drift.detected")
    deliver(receiver.url, PAYLOAD, event="drift.detected")
    first, second = receiver.requests
    assert first.header("X-Gyre-Delivery") != second.header("X-Gyre-Delivery")


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_receiver_that_keeps_failing_gets_every_attempt_then_the_error_says_why(
    receiver: WebhookReceiver, status: int
) -> None:
    receiver.answer(status, body="database is down\n  try later")
    waits: list[float] = []
    delivery = deliver(
        receiver.url, PAYLOAD, event="drift.detected", attempts=4, backoff_s=0.5, sleep=waits.append
    )

    assert not delivery.delivered
    assert delivery.attempts == 4 and len(receiver.requests) == 4
    assert delivery.status_code == status
    assert delivery.error == f"HTTP {status}: database is down try later (4 attempts)"
    assert waits == [0.5, 1.0, 2.0]


def test_the_error_quotes_only_the_first_200_characters_of_the_answer(
    receiver: WebhookReceiver,
) -> None:
    receiver.answer(500, body="x" * 10_000)
    delivery = deliver(receiver.url, PAYLOAD, event="drift.detected", attempts=1)
    assert delivery.error == f"HTTP 500: {'x' * 200} (1 attempt)"


def test_a_receiver_that_does_not_answer_in_time_is_retried_then_reported_as_timed_out(
    receiver: WebhookReceiver,
) -> None:
    receiver.stall(5.0)
    waits: list[float] = []
    delivery = deliver(
        receiver.url,
        PAYLOAD,
        event="drift.detected",
        timeout_s=0.3,
        attempts=3,
        backoff_s=0.1,
        sleep=waits.append,
    )

    assert not delivery.delivered and delivery.status_code is None
    assert delivery.attempts == 3
    # Each request is recorded by the server's own thread: on a busy machine, perhaps just after.
    wait_for(lambda: len(receiver.requests) == 3, timeout_s=10, what="3 recorded requests")
    assert delivery.error == "timed out after 0.3 s (3 attempts)"
    assert waits == [0.1, 0.2]


@pytest.mark.parametrize("status", [400, 401, 404, 410, 301])
def test_a_refusal_is_final_and_not_retried(receiver: WebhookReceiver, status: int) -> None:
    receiver.answer(status, body="no such hook")
    waits: list[float] = []
    delivery = deliver(receiver.url, PAYLOAD, event="drift.detected", sleep=waits.append)

    assert not delivery.delivered and delivery.status_code == status
    assert delivery.attempts == 1 and len(receiver.requests) == 1 and waits == []
    assert delivery.error == f"HTTP {status}: no such hook (1 attempt)"


def test_a_port_nobody_listens_on_is_retried_then_reported_without_raising() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    waits: list[float] = []
    delivery = deliver(url, PAYLOAD, event="drift.detected", attempts=2, sleep=waits.append)

    assert not delivery.delivered and delivery.status_code is None and delivery.attempts == 2
    assert delivery.error is not None
    assert delivery.error.startswith("could not connect: ")
    assert "refused" in delivery.error.lower() and delivery.error.endswith("(2 attempts)")
    assert waits == [0.5]


@pytest.mark.parametrize(
    "url", ["ftp://hooks.example.com/drift", "file:///etc/passwd", "hooks.example.com", "http://"]
)
def test_a_url_that_is_not_http_is_refused_before_anything_is_sent(url: str) -> None:
    with pytest.raises(InvalidParameter, match=r"must start with http:// or https://") as caught:
        deliver(url, PAYLOAD, event="drift.detected")
    assert caught.value.field == "url"
    assert repr(url) in str(caught.value)


def test_a_payload_that_is_not_json_is_refused_with_the_reason() -> None:
    with pytest.raises(InvalidParameter, match="must be JSON") as caught:
        deliver("https://hooks.example.com/drift", {"psi": float("nan")}, event="drift.detected")
    assert caught.value.field == "payload"


@pytest.mark.parametrize(
    ("option", "value"), [("attempts", 0), ("timeout_s", 0.0), ("backoff_s", -1.0)]
)
def test_numbers_out_of_range_are_refused_naming_the_option(option: str, value: float) -> None:
    with pytest.raises(InvalidParameter, match=f"{option}={value!r}"):
        deliver(
            "https://hooks.example.com/drift", PAYLOAD, event="drift.detected", **{option: value}
        )


def test_a_delivery_reads_as_a_dict_for_the_monitor_s_log(receiver: WebhookReceiver) -> None:
    delivery = deliver(receiver.url, PAYLOAD, event="drift.detected")
    record = delivery.to_dict()
    assert record == {
        "url": receiver.url,
        "delivered": True,
        "attempts": 1,
        "status_code": 200,
        "error": None,
        "seconds": delivery.seconds,
    }
    assert delivery.seconds >= 0 and Delivery(**record) == delivery
