"""Signed webhooks, Standard Webhooks style: every webhook Headway sends goes through here.

Each delivery carries three headers:

- ``webhook-id``: the message id, the same on every retry (receivers de-duplicate on it);
- ``webhook-timestamp``: integer Unix seconds of this attempt;
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, possibly
  several space-separated while a secret is being rotated.

Secrets are ``whsec_<base64>``; the HMAC key is the decoded part. ``verify`` is the
receiving side (also what the tests and docs/security.md use). ``WebhookSender`` retries
connection failures, timeouts, 408, 429 and 5xx with capped exponential backoff, and
gives up after ``max_attempts``; it never retries other 4xx (the receiver refused).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from headway.errors import HeadwayError

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 300
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class WebhookVerificationError(HeadwayError):
    """A received webhook's signature, timestamp or headers are wrong."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a secret: the base64 part of ``whsec_…``; any other string as UTF-8."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except ValueError:
            raise WebhookVerificationError("the webhook secret is not valid base64 after 'whsec_'") from None
    return secret.encode("utf-8")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    secrets_: str | Sequence[str], body: bytes, *, msg_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """Headers for one delivery; several secrets (rotation) give several signatures."""
    keys = [secrets_] if isinstance(secrets_, str) else list(secrets_)
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(k, msg_id, timestamp, body) for k in keys),
        "content-type": "application/json",
    }


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, tolerance_s: float = DEFAULT_TOLERANCE_S, now: float | None = None
) -> None:
    """Raise ``WebhookVerificationError`` unless ``body`` was signed with ``secret`` recently."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id, raw_ts, signatures = (lowered.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not msg_id or not raw_ts or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        timestamp = int(raw_ts)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_s:
        raise WebhookVerificationError("webhook-timestamp is too far from the current time (replay?)")
    expected = sign(secret, msg_id, timestamp, body).encode()
    for candidate in signatures.split():
        if hmac.compare_digest(candidate.encode(), expected):
            return
    raise WebhookVerificationError("no webhook-signature matches the body")


@dataclass(frozen=True, slots=True)
class Delivery:
    msg_id: str
    ok: bool
    attempts: int
    status: int | None = None
    error: str | None = None


class WebhookSender:
    def __init__(
        self,
        secret: str | Sequence[str],
        *,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        timeout_s: float = 10.0,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.secret = secret
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, url: str, payload: Any, *, msg_id: str | None = None) -> Delivery:
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        status: int | None = None
        error: str | None = None
        for attempt in range(1, self.max_attempts + 1):
            headers = signed_headers(self.secret, body, msg_id=msg_id)
            retry_after: float | None = None
            try:
                async with self._session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                    status, error = response.status, None
                    await response.read()
                    if 200 <= status < 300:
                        return Delivery(msg_id, True, attempt, status)
                    error = f"HTTP {status}"
                    if status not in _RETRY_STATUS:
                        return Delivery(msg_id, False, attempt, status, error)
                    retry_after = _retry_after(response.headers.get("retry-after"))
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, error = None, f"{exc.__class__.__name__}: {exc}"
            if attempt < self.max_attempts:
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
                await asyncio.sleep(min(self.max_backoff_s, retry_after) if retry_after is not None else delay)
        return Delivery(msg_id, False, self.max_attempts, status, error)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
