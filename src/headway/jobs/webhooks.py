"""Job and batch webhooks: the finished job or batch as a message of the webhook outbox.

The payload is ``{"type": "job.completed" | "job.failed" | "job.cancelled", "timestamp",
"data": <the job object>}`` (``batch.completed`` | ``batch.failed`` | ``batch.expired`` |
``batch.cancelled`` with the batch object for a batch created with
``metadata.webhook_url``). The message id is ``<id>.<status>``: the same however often
it is written or sent, so receivers de-duplicate on it. The stores write the message in
the transaction that ends the job or batch; the delivery worker signs it (Standard
Webhooks, with ``jobs.webhook_secret``: receiver ``jobs``) and retries it.
"""

from __future__ import annotations

import datetime as dt

from headway.jobs.models import Batch, Job
from headway.store import WebhookMessage
from headway.types import JSON

RECEIVER = "jobs"


def payload(job: Job) -> JSON:
    stamp = dt.datetime.fromtimestamp(job.finished_at or 0.0, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"type": f"job.{job.status}", "timestamp": stamp, "data": job.to_wire()}


def webhook_id(job: Job) -> str:
    return f"{job.id}.{job.status}"


def job_webhook(job: Job) -> WebhookMessage:
    assert job.webhook_url is not None
    return WebhookMessage(
        webhook_id=webhook_id(job),
        source="job",
        event_type=f"job.{job.status}",
        subject=job.id,
        receiver=RECEIVER,
        url=job.webhook_url,
        payload=payload(job),
    )


BATCH_WEBHOOK_KEY = "webhook_url"  # in a batch's metadata (OpenAI's batch object has no webhook field)


def batch_webhook_url(batch: Batch) -> str | None:
    url = batch.metadata.get(BATCH_WEBHOOK_KEY) if isinstance(batch.metadata, dict) else None
    return url if isinstance(url, str) else None


def batch_webhook(batch: Batch) -> WebhookMessage | None:
    url = batch_webhook_url(batch)
    if url is None:
        return None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return WebhookMessage(
        webhook_id=f"{batch.id}.{batch.status}",
        source="batch",
        event_type=f"batch.{batch.status}",
        subject=batch.id,
        receiver=RECEIVER,
        url=url,
        payload={"type": f"batch.{batch.status}", "timestamp": stamp, "data": batch.to_wire()},
    )
