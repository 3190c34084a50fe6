"""Signed decision webhooks, through the observe part's Standard Webhooks sender.

An item's webhook goes to its policy's URL (signed with the policy's secret) or to the
URL the caller named in ``metadata.review_webhook`` (signed with ``review.webhook_secret``,
and only when the URL fits ``review.caller_webhook_urls``). Delivery is claimed in the
store, so one replica sends it; the message id is ``<review id>.<status>``, the same on
every retry, for receivers to de-duplicate on.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from fnmatch import translate
from typing import Any

from headway.config.review import ReviewConfig
from headway.errors import InvalidRequestError
from headway.observe.webhooks import Delivery, WebhookSender
from headway.review.items import ReviewItem
from headway.review.release import decision_payload
from headway.types import JSON

EVENT_TYPE = "review.decided"
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


def event_body(item: ReviewItem, *, now: float | None = None) -> JSON:
    stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC).isoformat().replace("+00:00", "Z")
    return {"type": EVENT_TYPE, "timestamp": stamp, "data": decision_payload(item)}


class DecisionWebhooks:
    """One sender per secret: a policy's own, and the gateway's for caller-named URLs."""

    def __init__(self, config: ReviewConfig) -> None:
        def sender(secret: str) -> WebhookSender:
            return WebhookSender(secret, max_attempts=config.webhook_max_attempts, timeout_s=config.webhook_timeout_s)

        self._policies = {
            name: sender(policy.webhook.secret.get_secret_value())
            for name, policy in config.policies.items()
            if policy.webhook is not None
        }
        secret = config.webhook_secret
        self._callers = sender(secret.get_secret_value()) if secret is not None else None

    def sender(self, item: ReviewItem) -> WebhookSender | None:
        if item.webhook_source == "caller":
            return self._callers
        return self._policies.get(item.policy)

    async def deliver(self, item: ReviewItem) -> Delivery | None:
        sender = self.sender(item)
        if sender is None or item.webhook_url is None:
            return None
        return await sender.send(item.webhook_url, event_body(item), msg_id=f"{item.review_id}.{item.status}")

    async def close(self) -> None:
        for sender in (*self._policies.values(), self._callers):
            if sender is not None:
                await sender.close()
