"""Job webhooks: the finished job as a message of the webhook outbox (``headway.store.outbox``).

The payload is ``{"type": "job.completed" | "job.failed" | "job.cancelled", "timestamp",
"data": <the job object>}``. The message id is ``<job id>.<status>``: the same however
often it is written or sent, so receivers de-duplicate on it. The job store writes the
message in the transaction that ends the job; the delivery worker signs it (Standard
Webhooks, with ``jobs.webhook_secret``: receiver ``jobs``) and retries it.
"""

from __future__ import annotations

import datetime as dt

from headway.jobs.models import Job
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
