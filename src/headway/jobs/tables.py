"""Jobs, batches, batch lines and files, on the shared store metadata (migration ``jobs_0001``).

A row claimed by a worker carries ``lease_owner``/``lease_until``; a lease that runs out
(its worker died) makes the row claimable again. Each batch line is its own row so its
result commits on its own: a reclaimed batch skips lines already answered.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Double, Index, Integer, LargeBinary, String, Table, Text

from headway.store import metadata

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),  # queued | in_progress | completed | failed | cancelled
    Column("endpoint", String(64), nullable=False),
    Column("model", String(200), nullable=False),
    Column("caller", String(200), nullable=False),
    Column("team", String(200)),
    Column("principal", JSON, nullable=False),  # who submitted: roles, allow-lists, headers (see principal.py)
    Column("body", JSON, nullable=False),
    Column("request_id", String(64)),  # the request id of the latest attempt
    Column("status_code", Integer),
    Column("result", JSON),
    Column("error", JSON),
    Column("cost_usd", Double),
    Column("metadata", JSON, nullable=False),
    Column("status_url", Text),
    Column("webhook_url", Text),
    Column("webhook_status", String(16)),  # pending | delivered | failed
    Column("webhook_attempts", Integer, nullable=False, default=0),
    Column("webhook_error", Text),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False),
    Column("run_after", Double, nullable=False),
    Column("lease_owner", String(100)),
    Column("lease_until", Double),
    Column("created_at", Double, nullable=False),
    Column("started_at", Double),
    Column("finished_at", Double),
    Index("ix_jobs_status_run_after", "status", "run_after"),
    Index("ix_jobs_caller", "caller", "created_at"),
)

batches = Table(
    "batches",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("endpoint", String(64), nullable=False),
    Column("input_file_id", String(64), nullable=False),
    Column("completion_window", String(16), nullable=False),
    Column("caller", String(200), nullable=False),
    Column("team", String(200)),
    Column("principal", JSON, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("errors", JSON),
    Column("output_file_id", String(64)),
    Column("error_file_id", String(64)),
    Column("total", Integer, nullable=False, default=0),
    Column("completed", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("input_tokens", Integer, nullable=False, default=0),
    Column("output_tokens", Integer, nullable=False, default=0),
    Column("cached_tokens", Integer, nullable=False, default=0),
    Column("reasoning_tokens", Integer, nullable=False, default=0),
    Column("cost_usd", Double, nullable=False, default=0.0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_owner", String(100)),
    Column("lease_until", Double),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("in_progress_at", Double),
    Column("finalizing_at", Double),
    Column("completed_at", Double),
    Column("failed_at", Double),
    Column("expired_at", Double),
    Column("cancelling_at", Double),
    Column("cancelled_at", Double),
    Index("ix_batches_status", "status"),
    Index("ix_batches_caller", "caller", "created_at"),
)

batch_items = Table(
    "batch_items",
    metadata,
    Column("batch_id", String(64), primary_key=True),
    Column("line", Integer, primary_key=True),  # 1-based line number in the input file
    Column("item_id", String(64), nullable=False),  # batch_req_…, the output line's id
    Column("custom_id", Text),
    Column("status", String(16), nullable=False),  # pending | completed | failed
    Column("body", JSON),
    Column("output", JSON),  # the output- or error-file line, once answered
    Column("cost_usd", Double),
    Column("finished_at", Double),
    Index("ix_batch_items_pending", "batch_id", "status", "line"),
)

files = Table(
    "files",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("purpose", String(32), nullable=False),
    Column("filename", Text, nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("caller", String(200), nullable=False),
    Column("team", String(200)),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double),
    Index("ix_files_caller", "caller", "created_at"),
)

# Contents apart from metadata so listing files never reads a blob.
file_blobs = Table(
    "file_blobs",
    metadata,
    Column("file_id", String(64), primary_key=True),
    Column("content", LargeBinary, nullable=False),
)
