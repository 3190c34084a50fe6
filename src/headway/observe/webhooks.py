"""Signed webhooks, Standard Webhooks style: every webhook Headway sends goes through here.

Each delivery carries three headers:

- ``webhook-id``: the message id, the same on every retry (receivers de-duplicate on it);
- ``webhook-timestamp``: integer Unix seconds of this attempt;
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, possibly
  several space-separated while a secret is being rotated.

Secrets are ``whsec_<base64>``; the HMAC key is the decoded part. ``verify`` is the
receiving side (also what the tests and docs/security.md use).

Every webhook is first a row of the store's outbox (``headway.store.outbox``), written by
its sender with the state change it reports. ``WebhookDelivery`` is the outbox's worker,
one per process (gateway or ``headway worker``): it claims due deliveries under a lease,
signs each with its receiver's secret (looked up by name in the config, never stored)
and sends one attempt. Connection failures, timeouts, 408, 425, 429 and 5xx are retried
with exponential backoff and jitter (``Retry-After`` honoured) until the receiver's
retry window has passed, then the delivery is dead; any other 4xx means the receiver
refused it: dead at once. ``WebhookSender`` is the in-process retrying sender for
callers that cannot wait for the outbox (tests, tools).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import os
import random
import secrets
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from headway.config import HeadwayConfig, RetrySchedule, WebhooksConfig
from headway.errors import HeadwayError, StoreUnavailableError
from headway.observe.periodic import BackgroundTask
from headway.store import Outbox, OutboxEntry, backoff

log = logging.getLogger("headway.webhooks")

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
    """Headers for one delivery; several secrets (rotation) give several signatures, none an unsigned one."""
    keys = [secrets_] if isinstance(secrets_, str) else list(secrets_)
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "content-type": "application/json"}
    if keys:
        headers["webhook-signature"] = " ".join(sign(k, msg_id, timestamp, body) for k in keys)
    return headers


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
class Attempt:
    """One POST of a webhook: accepted, refused for good, or worth another try."""

    ok: bool
    retryable: bool
    status: int | None = None
    error: str | None = None
    retry_after_s: float | None = None


async def post_signed(
    session: aiohttp.ClientSession, url: str, body: bytes, *, msg_id: str, secrets_: Sequence[str], timeout_s: float
) -> Attempt:
    headers = signed_headers(list(secrets_), body, msg_id=msg_id)
    try:
        async with session.post(
            url, data=body, headers=headers, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as response:
            await response.read()
            if 200 <= response.status < 300:
                return Attempt(True, False, response.status)
            retryable = response.status in _RETRY_STATUS
            retry_after = _retry_after(response.headers.get("retry-after")) if retryable else None
            return Attempt(False, retryable, response.status, f"HTTP {response.status}", retry_after)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Attempt(False, True, None, f"{exc.__class__.__name__}: {exc}"[:500])


@dataclass(frozen=True, slots=True)
class Delivery:
    msg_id: str
    ok: bool
    attempts: int
    status: int | None = None
    error: str | None = None


class WebhookSender:
    """Send now, retrying in process; what the outbox's worker does durably (tests and tools use it)."""

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
        self.secrets = [secret] if isinstance(secret, str) else list(secret)
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def send(self, url: str, payload: Any, *, msg_id: str | None = None) -> Delivery:
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        if self._session is None:
            self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())  # receivers' cookies are not kept
        attempt = Attempt(False, True)
        for number in range(1, self.max_attempts + 1):
            attempt = await post_signed(self._session, url, body, msg_id=msg_id, secrets_=self.secrets, timeout_s=self.timeout_s)
            if attempt.ok or not attempt.retryable:
                return Delivery(msg_id, attempt.ok, number, attempt.status, attempt.error)
            if number < self.max_attempts:
                delay = backoff(number, base_s=self.backoff_s, cap_s=self.max_backoff_s)
                await asyncio.sleep(min(self.max_backoff_s, attempt.retry_after_s) if attempt.retry_after_s is not None else delay)
        return Delivery(msg_id, False, self.max_attempts, attempt.status, attempt.error)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# -- the outbox's delivery worker ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Receiver:
    """Who signs a delivery (its secrets; none: unsigned) and how it is retried."""

    secrets: tuple[str, ...]
    schedule: RetrySchedule


def receivers_from_config(config: HeadwayConfig) -> dict[str, Receiver]:
    """Every receiver a sender may name, keyed as the senders name them; secrets stay in the config."""
    hooks: WebhooksConfig = config.webhooks
    found: dict[str, tuple[tuple[str, ...], float | None]] = {}
    if config.jobs.webhook_secret is not None:
        found["jobs"] = ((config.jobs.webhook_secret.get_secret_value(),), config.jobs.webhook_timeout_s)
    for key, review_secret in config.review.webhook_secrets().items():  # callers', policies' and escalation teams'
        found[key] = ((review_secret,), config.review.webhook_timeout_s)
    for target in config.observe.alerts.webhooks:
        found[f"alerts:{target.url}"] = ((target.secret.get_secret_value(),), target.timeout_s)
    pipeline_alerts = config.pipelines.alerts
    if pipeline_alerts.webhook_url is not None:
        secret = pipeline_alerts.webhook_secret
        found["pipelines"] = ((secret.get_secret_value(),) if secret is not None else (), pipeline_alerts.timeout_s)
    receivers = {}
    for key, (keys, timeout_s) in found.items():
        schedule = hooks.schedule_for(key)
        override = hooks.receivers.get(key)
        if timeout_s is not None and (override is None or override.timeout_s is None):  # the part's own timeout
            schedule = schedule.model_copy(update={"timeout_s": timeout_s})
        receivers[key] = Receiver(keys, schedule)
    return receivers


_PURGE_EVERY_S = 3600.0


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:webhooks:{secrets.token_hex(3)}"


class WebhookDelivery:
    """Claims due deliveries from the outbox and sends them; any number run against one store."""

    def __init__(
        self,
        outbox: Outbox,
        receivers: Mapping[str, Receiver],
        config: WebhooksConfig,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.outbox = outbox
        self.receivers = dict(receivers)
        self.config = config
        self.clock = clock  # injectable: tests step a day of retries without waiting for it
        self.rng = rng or random.Random()
        self.owner = _worker_name()
        self.delivered = 0  # counters for /metrics (this process)
        self.failed_attempts = 0
        self.dead = 0
        self._session: aiohttp.ClientSession | None = None
        self._wake = asyncio.Event()
        self._task = BackgroundTask("headway-webhook-delivery")
        self._purged_at: float | None = None
        # A claim outlives the slowest receiver's attempt, so no renewal is needed while it is sent.
        slowest = max((r.schedule.timeout_s for r in self.receivers.values()), default=config.timeout_s)
        self.lease_s = max(config.lease_s, max(slowest, config.timeout_s) + 30.0)

    @classmethod
    def from_config(cls, config: HeadwayConfig, outbox: Outbox) -> WebhookDelivery:
        receivers = receivers_from_config(config)
        for receiver in receivers.values():
            for secret in receiver.secrets:
                secret_key(secret)  # a malformed whsec_ secret fails at start (the error names no secret)
        return cls(outbox, receivers, config.webhooks)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if not self._task.running:
            self._wake = asyncio.Event()
            self._task.start(self._loop)

    async def close(self) -> None:
        """Stop, and hand back what was being sent so another replica retries it at once."""
        await self._task.close()
        # Everything this worker holds, including a claim whose pass was cancelled before it saw it.
        with contextlib.suppress(StoreUnavailableError):  # else their leases lapse (lease_s)
            await asyncio.to_thread(self.outbox.release_all, self.owner)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def wake(self) -> None:
        """A sender in this process queued something: look now rather than at the next poll."""
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                await self.purge_delivered()
                sent = await self.run_once()
            except StoreUnavailableError as exc:
                log.warning("webhook delivery cannot reach the store: %s", exc)
                sent = 0
            except Exception:  # one bad pass must not end delivery for the process
                log.exception("webhook delivery pass failed")
                sent = 0
            if sent:
                continue
            # asyncio.timeout, not wait_for: on 3.11 a wake() in the same loop pass as close()'s cancel
            # lost the cancellation, and this loop (``while True``) would have kept close() waiting.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.poll_interval_s):
                    await self._wake.wait()
            self._wake.clear()

    # -- one pass -------------------------------------------------------------------------
    async def run_once(self) -> int:
        """Claim up to ``concurrency`` due deliveries, send each once, record the outcomes; how many were sent."""
        claimed = await asyncio.to_thread(
            self.outbox.claim_many, self.owner, self.lease_s, self.config.concurrency, now=self.clock()
        )
        if claimed:
            await asyncio.gather(*(self._send(entry) for entry in claimed))
        return len(claimed)

    async def purge_delivered(self) -> int:
        """Forget deliveries delivered longer than ``keep_delivered_s`` ago (at most hourly); dead ones stay."""
        now = self.clock()
        if self._purged_at is not None and now - self._purged_at < _PURGE_EVERY_S:
            return 0
        self._purged_at = now
        return await asyncio.to_thread(self.outbox.purge_delivered, now - self.config.keep_delivered_s)

    async def _send(self, entry: OutboxEntry) -> None:
        receiver = self.receivers.get(entry.receiver)
        if receiver is None:
            await self._record(entry, Attempt(False, False, None, f"no receiver {entry.receiver!r} is configured"), None)
            return
        if self._session is None:
            self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())  # receivers' cookies are not kept
        attempt = await post_signed(
            self._session,
            entry.url,
            entry.body.encode(),
            msg_id=entry.webhook_id,
            secrets_=receiver.secrets,
            timeout_s=receiver.schedule.timeout_s,
        )
        await self._record(entry, attempt, receiver.schedule)

    async def _record(self, entry: OutboxEntry, attempt: Attempt, schedule: RetrySchedule | None) -> None:
        now = self.clock()
        if attempt.ok:
            self.delivered += 1
            await asyncio.to_thread(self.outbox.delivered, entry.id, self.owner, status_code=attempt.status or 200, now=now)
            return
        self.failed_attempts += 1
        retry_until = entry.retry_until
        retry_at: float | None = None
        if attempt.retryable and schedule is not None:
            retry_until = retry_until if retry_until is not None else now + schedule.retry_window_s
            if now < retry_until:
                delay = backoff(
                    entry.attempts, base_s=schedule.backoff_base_s, cap_s=schedule.backoff_max_s, jitter=schedule.jitter, rng=self.rng
                )
                if attempt.retry_after_s is not None:
                    delay = max(delay, min(attempt.retry_after_s, schedule.backoff_max_s))
                retry_at = min(now + delay, retry_until)  # the last try falls on the window's end
        if retry_at is None:
            self.dead += 1
            log.error(
                "webhook delivery dead-lettered",
                extra={"delivery": entry.id, "webhook_id": entry.webhook_id, "url": entry.url, "attempts": entry.attempts, "problem": attempt.error},
            )
        await asyncio.to_thread(
            self.outbox.failed,
            entry.id,
            self.owner,
            status_code=attempt.status,
            error=attempt.error or "not accepted",
            retry_at=retry_at,
            retry_until=retry_until,
            now=now,
        )


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class OutboxMetrics(Collector):
    """``/metrics`` series of the outbox: the store's backlog (every replica) and this process's attempts."""

    def __init__(self, delivery: WebhookDelivery) -> None:
        self.delivery = delivery

    def collect(self) -> Iterable[Metric]:
        try:
            stats = self.delivery.outbox.stats()
        except StoreUnavailableError:  # no backlog series while the store is away; the counters still report
            stats = None
        if stats is not None:
            oldest = stats.oldest_pending_created_at
            age = max(0.0, self.delivery.clock() - oldest) if oldest is not None else 0.0
            yield GaugeMetricFamily(
                "headway_webhook_outbox_pending", "Webhook deliveries not yet delivered nor dead (all replicas).", value=stats.pending
            )
            yield GaugeMetricFamily(
                "headway_webhook_outbox_oldest_age_seconds", "Age of the oldest webhook delivery still pending.", value=age
            )
            yield GaugeMetricFamily(
                "headway_webhook_outbox_dead", "Dead-lettered webhook deliveries (resend with POST /admin/webhooks/resend).", value=stats.dead
            )
        attempts = CounterMetricFamily(
            "headway_webhook_deliveries", "Webhook delivery attempts by this process, by outcome.", labels=["outcome"]
        )
        attempts.add_metric(["delivered"], self.delivery.delivered)
        attempts.add_metric(["failed"], self.delivery.failed_attempts)
        attempts.add_metric(["dead"], self.delivery.dead)
        yield attempts

    def describe(self) -> Iterable[Metric]:
        return []
