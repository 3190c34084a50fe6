"""Job webhooks: the finished job, signed the Standard Webhooks way (``headway.observe.webhooks``).

The payload is ``{"type": "job.completed" | "job.failed" | "job.cancelled", "timestamp",
"data": <the job object>}``. The message id is ``<job id>.<status>``: the same on every
retry and on a redelivery by another worker, so receivers de-duplicate on it.
"""

from __future__ import annotations

import datetime as dt

from headway.config.jobs import JobsConfig
from headway.jobs.models import Job
from headway.observe.webhooks import Delivery, WebhookSender
from headway.types import JSON


def payload(job: Job) -> JSON:
    stamp = dt.datetime.fromtimestamp(job.finished_at or 0.0, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"type": f"job.{job.status}", "timestamp": stamp, "data": job.to_wire()}


class JobWebhooks:
    def __init__(self, config: JobsConfig) -> None:
        secret = config.webhook_secret.get_secret_value() if config.webhook_secret is not None else None
        self.sender = (
            WebhookSender(secret, max_attempts=config.webhook_attempts, timeout_s=config.webhook_timeout_s)
            if secret
            else None
        )

    @property
    def enabled(self) -> bool:
        return self.sender is not None

    async def deliver(self, job: Job) -> Delivery | None:
        if self.sender is None or job.webhook_url is None:
            return None
        return await self.sender.send(job.webhook_url, payload(job), msg_id=f"{job.id}.{job.status}")

    async def close(self) -> None:
        if self.sender is not None:
            await self.sender.close()
