"""Alert notifications as messages of the store's webhook outbox, one per configured receiver.

The outbox's delivery worker (``headway.observe.webhooks``) signs each the Standard
Webhooks way with the receiver's secret (receiver ``alerts:<url>``), sends it and retries
it for a day; this module only fans one alert out to the receivers. The message id is
``<incident>.<state>`` (the same ``webhook-id`` for every receiver and retry) and the
incident is the subject, so a receiver gets an incident's firing before its resolution.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from headway.errors import ConfigError
from headway.observe.webhooks import WebhookVerificationError, secret_key
from headway.store import Outbox, WebhookMessage


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    url: str
    secret: str
    timeout_s: float = 5.0


class AlertWebhooks:
    def __init__(self, targets: Sequence[WebhookTarget], outbox: Outbox | None) -> None:
        for target in targets:
            try:
                secret_key(target.secret)
            except WebhookVerificationError as exc:
                raise ConfigError(str(exc), path="observe.alerts.webhooks") from None
        self.targets = list(targets)
        self.outbox = outbox

    async def send(self, message_id: str, body: bytes) -> int:
        """Queue the notification for every receiver; returns how many deliveries were queued."""
        if not self.targets or self.outbox is None:
            return 0
        incident, _, state = message_id.rpartition(".")
        messages = [
            WebhookMessage(
                webhook_id=message_id,
                source="alert",
                event_type=f"alert.{state}",
                subject=incident or message_id,
                receiver=f"alerts:{target.url}",
                url=target.url,
                payload=body,
                priority=1,  # an operator's page goes before routine notifications
            )
            for target in self.targets
        ]
        return await asyncio.to_thread(self.outbox.enqueue, messages)

    async def close(self) -> None:
        return None
