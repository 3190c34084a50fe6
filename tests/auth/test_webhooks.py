"""Signed webhooks (Standard Webhooks): signatures, verification, and a sender with bounded retries."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from headway.observe.webhooks import (
    WebhookSender,
    WebhookVerificationError,
    new_secret,
    sign,
    signed_headers,
    verify,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_signature_matches_the_published_example() -> None:
    # The worked example of the Standard Webhooks / Svix documentation.
    assert sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}') == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_verify_accepts_the_real_thing_and_names_each_failure() -> None:
    body = b'{"type":"review.decided","id":"rev_1"}'
    headers = signed_headers(SECRET, body)
    verify(SECRET, headers, body)
    verify(SECRET, {k.title(): v for k, v in headers.items()}, body)  # header names are case-insensitive
    failures = [
        (SECRET, headers, body + b" ", "no webhook-signature matches"),
        (new_secret(), headers, body, "no webhook-signature matches"),
        (SECRET, {**headers, "webhook-id": "msg_other"}, body, "no webhook-signature matches"),
        (SECRET, signed_headers(SECRET, body, timestamp=int(time.time()) - 3600), body, "too far"),
        (SECRET, {k: v for k, v in headers.items() if k != "webhook-signature"}, body, "missing"),
        (SECRET, {**headers, "webhook-timestamp": "soon"}, body, "not an integer"),
    ]
    for secret, bad_headers, bad_body, reason in failures:
        with pytest.raises(WebhookVerificationError, match=reason):
            verify(secret, bad_headers, bad_body)


def test_rotation_signs_with_both_secrets() -> None:
    old, new = new_secret(), new_secret()
    body = b"{}"
    headers = signed_headers([new, old], body)
    assert len(headers["webhook-signature"].split()) == 2
    verify(old, headers, body)
    verify(new, headers, body)


class Receiver:
    """Answers with the queued statuses (then 200) and keeps what it received."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver([])
    yield made
    made.stop()


async def test_sender_retries_transient_failures_with_the_same_message_id(receiver: Receiver) -> None:
    receiver.statuses = [503, 500]
    sender = WebhookSender(SECRET, max_attempts=4, backoff_s=0.01)
    try:
        delivery = await sender.send(receiver.url, {"event": "review.decided"})
    finally:
        await sender.close()
    assert (delivery.ok, delivery.attempts, delivery.status) == (True, 3, 200)
    assert len({h["webhook-id"] for h, _ in receiver.received}) == 1
    for headers, body in receiver.received:
        verify(SECRET, headers, body)  # every attempt is signed afresh


async def test_sender_gives_up_after_its_attempts_and_never_retries_a_refusal(receiver: Receiver) -> None:
    sender = WebhookSender(SECRET, max_attempts=3, backoff_s=0.01)
    try:
        receiver.statuses = [500] * 10
        failed = await sender.send(receiver.url, {"n": 1})
        assert (failed.ok, failed.attempts, failed.error) == (False, 3, "HTTP 500")
        receiver.received.clear()
        receiver.statuses = [400]
        refused = await sender.send(receiver.url, {"n": 2})
        assert (refused.ok, refused.attempts, refused.status) == (False, 1, 400)
        assert len(receiver.received) == 1
    finally:
        await sender.close()


async def test_sender_survives_an_unreachable_receiver() -> None:
    sender = WebhookSender(SECRET, max_attempts=2, backoff_s=0.01, timeout_s=1)
    try:
        delivery = await sender.send("http://127.0.0.1:9/hook", {"n": 1})
    finally:
        await sender.close()
    assert not delivery.ok and delivery.attempts == 2 and delivery.status is None and delivery.error
