"""Deliver alert notifications to every configured webhook, signed by ``headway.observe.webhooks``.

The signing scheme (Standard Webhooks: ``webhook-id``, ``webhook-timestamp``,
``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``) and the
retrying sender belong to the shared webhook module; this module only fans one alert
out to several receivers and logs the ones that could not be reached.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from headway.errors import ConfigError
from headway.observe.webhooks import WebhookSender, WebhookVerificationError, secret_key

log = logging.getLogger("headway.alerts")

# A brief blip at a receiver should not lose an alert; a dead one should not hold the evaluator long.
MAX_ATTEMPTS = 3
BACKOFF_S = 0.5


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    url: str
    secret: str
    timeout_s: float = 5.0


class AlertWebhooks:
    def __init__(self, targets: Sequence[WebhookTarget]) -> None:
        for target in targets:
            try:
                secret_key(target.secret)
            except WebhookVerificationError as exc:
                raise ConfigError(str(exc), path="observe.alerts.webhooks") from None
        self._senders = [
            (t.url, WebhookSender(t.secret, max_attempts=MAX_ATTEMPTS, backoff_s=BACKOFF_S, timeout_s=t.timeout_s)) for t in targets
        ]

    async def send(self, message_id: str, body: bytes) -> int:
        """Deliver to every receiver (the same ``webhook-id`` on retries); returns how many accepted it."""
        if not self._senders:
            return 0
        deliveries = await asyncio.gather(*(sender.send(url, body, msg_id=message_id) for url, sender in self._senders))
        for (url, _), delivery in zip(self._senders, deliveries, strict=True):
            if not delivery.ok:
                log.error(
                    "alert webhook delivery failed",
                    extra={"url": url, "webhook_id": message_id, "attempts": delivery.attempts, "problem": delivery.error},
                )
        return sum(1 for d in deliveries if d.ok)

    async def close(self) -> None:
        for _, sender in self._senders:
            await sender.close()
