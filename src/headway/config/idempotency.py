"""The ``idempotency:`` section: how long an ``Idempotency-Key``'s outcome is kept, and its lease.

Semantics in ``docs/review.md`` ("Idempotency"): a key's outcome is replayed for ``ttl_s``;
a running request's owner renews its lease every ``lease_s / 3`` and another replica
takes the key over once ``lease_s`` passed without renewal; expired keys are deleted
every ``purge_interval_s`` by every gateway process (a delete is idempotent).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class IdempotencyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ttl_s: Annotated[float, Field(ge=60, le=30 * 86_400)] = Field(
        86_400.0, description="How long a key's outcome is kept and replayed (the SDKs retry within minutes)."
    )
    lease_s: Annotated[float, Field(ge=1, le=3600)] = Field(
        15.0,
        description="A running request whose replica stopped renewing for this long is taken over by a retry.",
    )
    purge_interval_s: Annotated[float, Field(gt=0, le=86_400)] = Field(
        600.0, description="How often each gateway process deletes expired keys."
    )
