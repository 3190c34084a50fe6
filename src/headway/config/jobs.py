"""The ``jobs:`` section: background requests, the Batch API, files and the worker.

Defaults suit one embedded gateway: the worker runs inside ``headway serve``. Scaled
out, replicas and ``headway worker`` processes share the store and any of them runs any
job; ``worker: false`` keeps a replica serving HTTP only. Semantics in ``docs/jobs.md``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr

from headway.config.section import Section


class BatchConfig(Section):
    max_file_bytes: Annotated[int, Field(ge=1024)] = Field(
        200 * 1024 * 1024, description="Largest accepted upload (POST /v1/files); larger ones get a 413."
    )
    max_lines: Annotated[int, Field(ge=1)] = Field(50_000, description="Most requests one batch input file may hold.")
    max_concurrency: Annotated[int, Field(ge=1, le=1024)] = Field(
        4, description="Batch lines one worker sends at once when no interactive traffic is in flight."
    )
    yield_at_interactive: Annotated[int, Field(ge=1)] = Field(
        32,
        description="Upstream calls of other traffic in flight (per process) at which batch lines stop "
        "starting; between zero and this, batch concurrency shrinks linearly.",
    )
    max_loop_lag_ms: Annotated[float, Field(gt=0)] | None = Field(
        10.0,
        description="Event-loop lag (ms, averaged) at which batch lines go one at a time in this process; "
        "between zero and this, batch concurrency shrinks linearly. null: ignore the loop.",
    )
    max_batches: Annotated[int, Field(ge=1, le=64)] = Field(4, description="Batches one worker runs at once.")
    max_completion_window_s: Annotated[float, Field(gt=0)] = Field(
        7 * 86400, description="Longest completion_window accepted (OpenAI's is 24h)."
    )


class JobsConfig(Section):
    worker: bool = Field(True, description="Run the job worker in this process (false: HTTP only).")
    lease_s: Annotated[float, Field(ge=0.5, le=3600)] = Field(
        30.0, description="A claimed job or batch is someone else's to take once its worker stops renewing it for this long."
    )
    poll_interval_s: Annotated[float, Field(gt=0, le=60)] = Field(
        1.0, description="How often an idle worker looks for work it was not woken for (wake-ups are hints)."
    )
    max_running: Annotated[int, Field(ge=1, le=4096)] = Field(64, description="Background requests one worker runs at once.")
    max_attempts: Annotated[int, Field(ge=1, le=20)] = Field(
        3, description="Tries per background request (a crashed worker or a 429/503 shed counts as one)."
    )
    max_wait_s: Annotated[float, Field(ge=0, le=600)] = Field(60.0, description="Upper bound of Prefer: wait=N.")
    retention_s: Annotated[float, Field(gt=0)] = Field(
        30 * 86400, description="Files expire this long after upload (expires_at); results stay readable until then."
    )
    webhook_secret: SecretStr | None = Field(
        None, description="Standard Webhooks signing secret for job webhooks, as ${VAR}; without it webhooks are refused."
    )
    webhook_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    webhook_timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    webhook_hosts: list[str] | None = Field(
        None, description="When set, webhook URLs must point at one of these host names (guards against SSRF)."
    )
    batch: BatchConfig = Field(default_factory=BatchConfig)
