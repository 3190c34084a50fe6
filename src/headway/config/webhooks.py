"""The ``webhooks:`` section: how the webhook outbox retries deliveries.

Every webhook (review decisions and escalations, alerts, pipeline events, background
jobs) is a row of the store's outbox; a delivery worker in every gateway process and in
``headway worker`` sends it and retries failures with exponential backoff and jitter
until ``retry_window_s`` has passed since the first failure, then dead-letters it.
Defaults retry for a day (5 s, 10 s, 20 s … capped at an hour apart). ``receivers``
overrides the schedule per receiver (``jobs``, ``review:caller``, ``review:policy:<name>``,
``alerts:<url>``, ``pipelines``). Semantics in ``docs/review.md`` ("Webhook retries").
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator

from headway.config.section import Section


class SignedWebhookConfig(Section):
    """A receiver: where to send, and the secret the Standard Webhooks signature uses."""

    url: str
    secret: SecretStr = Field(description="Standard Webhooks signing secret, as ${VAR} (whsec_… or any string).")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


class RetryOverride(Section):
    backoff_base_s: Annotated[float, Field(gt=0)] | None = None
    backoff_max_s: Annotated[float, Field(gt=0)] | None = None
    jitter: Annotated[float, Field(ge=0, le=1)] | None = None
    retry_window_s: Annotated[float, Field(gt=0)] | None = None
    timeout_s: Annotated[float, Field(gt=0, le=120)] | None = None


class RetrySchedule(Section):
    backoff_base_s: Annotated[float, Field(gt=0)] = Field(5.0, description="Delay before the first retry.")
    backoff_max_s: Annotated[float, Field(gt=0)] = Field(3600.0, description="Longest delay between two attempts.")
    jitter: Annotated[float, Field(ge=0, le=1)] = Field(0.2, description="Each delay varies by ± this fraction.")
    retry_window_s: Annotated[float, Field(gt=0)] = Field(
        86_400.0, description="How long after its first failure a delivery is retried before it is dead-lettered."
    )
    timeout_s: Annotated[float, Field(gt=0, le=120)] = Field(10.0, description="One attempt's time limit.")


class WebhooksConfig(RetrySchedule):
    poll_interval_s: Annotated[float, Field(gt=0, le=60)] = Field(
        1.0, description="How often an idle delivery worker looks for due deliveries."
    )
    lease_s: Annotated[float, Field(ge=1)] = Field(60.0, description="A claimed delivery's lease (renewed while sending).")
    concurrency: Annotated[int, Field(ge=1, le=256)] = Field(8, description="Deliveries one process sends at once.")
    keep_delivered_s: Annotated[float, Field(ge=0)] = Field(
        7 * 86_400.0, description="How long delivered deliveries stay listed before they are purged (dead ones stay)."
    )
    receivers: dict[str, RetryOverride] = Field(default_factory=dict, description="Per-receiver overrides.")

    def schedule_for(self, receiver: str) -> RetrySchedule:
        """The global schedule with ``receivers[receiver]``'s overrides applied."""
        base = RetrySchedule(
            backoff_base_s=self.backoff_base_s,
            backoff_max_s=self.backoff_max_s,
            jitter=self.jitter,
            retry_window_s=self.retry_window_s,
            timeout_s=self.timeout_s,
        )
        override = self.receivers.get(receiver)
        if override is None:
            return base
        return base.model_copy(update=override.model_dump(exclude_none=True))
