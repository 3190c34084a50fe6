"""Decision webhooks, as messages of the store's webhook outbox.

An item's webhook goes to its policy's URL (signed with the policy's secret: receiver
``review:policy:<name>``) or to the URL the caller named in ``metadata.review_webhook``
(signed with ``review.webhook_secret``: receiver ``review:caller``, and only when the URL
fits ``review.caller_webhook_urls``). The sweeper claims a decided item's webhook in the
store (one replica) and hands it to the outbox, whose delivery worker signs, sends and
retries it for a day (``webhooks:``); the message id is ``<review id>.<status>``, the
same on every retry, for receivers to de-duplicate on, and the item id is the subject,
so one item's events reach a receiver in order. An escalation also goes to the escalation
team's webhook (``escalation.webhook`` of the policy, else ``review.escalation_webhook``:
receivers ``review:escalation:<policy>`` and ``review:escalation``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from fnmatch import translate
from typing import Any

from sqlalchemy import Connection

from headway.config import ReviewConfig
from headway.errors import InvalidRequestError
from headway.observe import Delivery
from headway.review.items import ReviewItem
from headway.review.release import decision_payload, ticket
from headway.store import Outbox, WebhookMessage
from headway.types import JSON

EVENT_TYPE = "review.decided"
ESCALATED = "review.escalated"
METADATA_KEY = "review_webhook"


def caller_webhook(metadata: Mapping[str, Any], config: ReviewConfig) -> str | None:
    """The URL a caller asked to be told at, refused (400) unless the operator allows it."""
    url = metadata.get(METADATA_KEY)
    if url is None:
        return None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 2000:
        raise InvalidRequestError(f"'metadata.{METADATA_KEY}' must be an http(s) URL", param=f"metadata.{METADATA_KEY}")
    allowed = re.compile("|".join(translate(p) for p in config.caller_webhook_urls) or r"(?!)")
    if config.webhook_secret is None or not allowed.fullmatch(url):
        raise InvalidRequestError(
            f"'metadata.{METADATA_KEY}' is not an allowed webhook URL on this gateway (review.caller_webhook_urls)",
            param=f"metadata.{METADATA_KEY}",
            code="review_webhook_not_allowed",
        )
    return url


def _stamp(now: float | None) -> str:
    return datetime.fromtimestamp(time.time() if now is None else now, UTC).isoformat().replace("+00:00", "Z")


def event_body(item: ReviewItem, *, now: float | None = None) -> JSON:
    return {"type": EVENT_TYPE, "timestamp": _stamp(now), "data": decision_payload(item)}


def escalation_body(item: ReviewItem, *, now: float | None = None) -> JSON:
    """The item as its status URL shows it while it waits, now on the escalation team (who, why, by when)."""
    data = {**ticket(item), "team": item.team, "roles": list(item.roles), "level": item.level, "reason": item.reason, "model": item.model}
    return {"type": ESCALATED, "timestamp": _stamp(now), "data": data}


def receiver_of(item: ReviewItem) -> str:
    return "review:caller" if item.webhook_source == "caller" else f"review:policy:{item.policy}"


def _message(item: ReviewItem, state: str, event_type: str, payload: JSON) -> WebhookMessage:
    """The item is the subject: its escalation reaches a receiver before its decision."""
    assert item.webhook_url is not None
    return WebhookMessage(
        webhook_id=f"{item.review_id}.{state}",
        source="review",
        event_type=event_type,
        subject=item.review_id,
        receiver=receiver_of(item),
        url=item.webhook_url,
        payload=payload,
    )


def decision_message(item: ReviewItem) -> WebhookMessage:
    return _message(item, item.status, EVENT_TYPE, event_body(item))


def escalation_message(item: ReviewItem) -> WebhookMessage:
    return _message(item, "escalated", ESCALATED, escalation_body(item))


def team_message(item: ReviewItem, receiver: str, url: str) -> WebhookMessage:
    """The escalation team's notice: the same event and id as the caller's, to the team's own receiver."""
    return WebhookMessage(
        webhook_id=f"{item.review_id}.escalated",
        source="review",
        event_type=ESCALATED,
        subject=item.review_id,
        receiver=receiver,
        url=url,
        payload=escalation_body(item),
    )


class DecisionWebhooks:
    """Hands each item's webhooks (escalation, decision) to the outbox (signing and retries happen there)."""

    def __init__(self, config: ReviewConfig, outbox: Outbox) -> None:
        self.config = config
        self.outbox = outbox

    async def deliver(self, item: ReviewItem) -> Delivery | None:
        """Queue the item's webhook; ``ok`` once it is durably in the outbox (``None``: no URL)."""
        if item.webhook_url is None:
            return None
        message = decision_message(item)
        await asyncio.to_thread(self.outbox.enqueue, [message])
        return Delivery(message.webhook_id, True, 0)

    def escalation_messages(self, item: ReviewItem) -> list[WebhookMessage]:
        """The escalation notices: to the escalation team's webhook (the policy's
        ``escalation.webhook``, else ``review.escalation_webhook``) and to the item's own URL."""
        messages = []
        team = self.config.escalation_webhook_of(item.policy)
        if team is not None:
            receiver, hook = team
            messages.append(team_message(item, receiver, hook.url))
        if item.webhook_url is not None:
            messages.append(escalation_message(item))
        return messages

    def enqueue_escalation(self, connection: Connection, item: ReviewItem) -> None:
        """Queue them in the escalation's own transaction: the notice commits with the transition, or neither does."""
        messages = self.escalation_messages(item)
        if messages:
            self.outbox.enqueue(messages, connection=connection)

    async def close(self) -> None:
        return None
