"""Alerts on failed runs, schema changes and tripped checks: a log line, a signed webhook, a counter.

Webhooks follow the Standard Webhooks scheme so receivers can verify them with its
libraries: headers ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``. A secret
written ``whsec_<base64>`` is decoded; any other secret is used as its UTF-8 bytes.
Each alert is a message of the store's webhook outbox (receiver ``pipelines``, the
pipeline as its subject): the outbox's delivery worker signs, sends and retries it, and
queuing it never fails the run that raised it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from headway.errors import StoreUnavailableError
from headway.store import Outbox, WebhookMessage

log = logging.getLogger("headway.pipelines.alerts")


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str  # run_failed | run_degraded | schema_changed | check_warn | check_failed
    pipeline: str
    run_id: str
    message: str
    detail: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {"type": f"pipeline.{self.kind}", **asdict(self)}


def signature(secret: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(
    secret: bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """What a receiver does: any listed v1 signature matches and the timestamp is recent."""
    try:
        msg_id, timestamp = headers["webhook-id"], int(headers["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = signature(secret, msg_id, timestamp, body)
    return any(
        hmac.compare_digest(expected, candidate) for candidate in headers.get("webhook-signature", "").split()
    )


@dataclass
class Alerter:
    webhook_url: str | None = None
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (pipeline, kind) -> alerts raised
    delivery_failures: int = 0  # alerts that could not be queued (store down)
    outbox: Outbox | None = None

    async def send(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            self.counts[(alert.pipeline, alert.kind)] += 1
            level = logging.WARNING if alert.kind in ("check_warn", "schema_changed") else logging.ERROR
            log.log(level, "pipeline alert: %s", alert.message, extra={"alert": alert.to_json()})
        if self.webhook_url and self.outbox is not None and alerts:
            await asyncio.gather(*(self._deliver(alert) for alert in alerts))

    async def _deliver(self, alert: Alert) -> None:
        assert self.webhook_url is not None and self.outbox is not None
        message = WebhookMessage(
            webhook_id=f"msg_{uuid.uuid4().hex}",
            source="pipeline",
            event_type=f"pipeline.{alert.kind}",
            subject=alert.pipeline,
            receiver="pipelines",
            url=self.webhook_url,
            payload=alert.to_json(),
        )
        try:
            await asyncio.to_thread(self.outbox.enqueue, [message])
        except StoreUnavailableError as exc:
            self.delivery_failures += 1
            log.error("alert webhook could not be queued: %s", exc, extra={"alert": alert.to_json()})
