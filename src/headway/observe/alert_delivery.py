"""Deliver alert notifications to webhooks signed the Standard Webhooks way.

Headers: ``webhook-id`` (unique per message, the receiver's idempotency key),
``webhook-timestamp`` (epoch seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">``. A secret written ``whsec_<base64>`` is base64-decoded;
any other secret is used as its UTF-8 bytes.

Written here because the shared signer (``headway.observe.webhooks``, owned by the
security part) did not exist yet; switch to it once it lands.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import aiohttp

log = logging.getLogger("headway.alerts")

# Delays before the 2nd and 3rd tries: a brief blip at the receiver should not lose an alert.
RETRY_DELAYS = (0.5, 2.0)


def secret_bytes(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_") :])
    return secret.encode()


def sign(secret: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: bytes, message_id: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


def verify(secret: bytes, headers: Mapping[str, str], body: bytes, *, tolerance_s: float = 300, now: float | None = None) -> bool:
    """A receiver's check: one listed ``v1`` signature matches and the timestamp is recent."""
    try:
        message_id = headers["webhook-id"]
        timestamp = int(headers["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, message_id, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in headers.get("webhook-signature", "").split())


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    url: str
    secret: bytes
    timeout_s: float = 5.0


class WebhookSender:
    def __init__(self, targets: Sequence[WebhookTarget]) -> None:
        self.targets = tuple(targets)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, message_id: str, body: bytes) -> int:
        """Deliver to every target, retrying each a few times; returns how many accepted it."""
        if not self.targets:
            return 0
        if self._session is None:
            self._session = aiohttp.ClientSession()
        results = await asyncio.gather(*(self._send_one(t, message_id, body) for t in self.targets))
        return sum(results)

    async def _send_one(self, target: WebhookTarget, message_id: str, body: bytes) -> bool:
        assert self._session is not None
        problem = ""
        for attempt in range(len(RETRY_DELAYS) + 1):
            if attempt:
                await asyncio.sleep(RETRY_DELAYS[attempt - 1])
            # Re-signed per try: the timestamp must be fresh for the receiver's tolerance window.
            headers = signed_headers(target.secret, message_id, body)
            try:
                async with self._session.post(
                    target.url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=target.timeout_s)
                ) as response:
                    if 200 <= response.status < 300:
                        return True
                    problem = f"HTTP {response.status}"
                    if 400 <= response.status < 500 and response.status not in (408, 429):
                        break  # the receiver refuses this message; trying again will not change that
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
        log.error("alert webhook delivery failed", extra={"url": target.url, "webhook_id": message_id, "problem": problem})
        return False

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
