"""Tables of the pipelines part, on the shared ``headway.store.tables.metadata``.

Times are epoch-second doubles; nested data is JSON. The migration is
``store/migrations/versions/pipelines_0001_runs.py``.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Double, Index, Integer, String, Table, Text

from headway.store import metadata

# One row per run: what it read, what changed, what it found, how it ended.
pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("pipeline", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # running | ok | warn | degraded | failed
    Column("trigger", String(16), nullable=False),  # manual | schedule | retry | api
    Column("attempt", Integer, nullable=False),
    Column("started_at", Double, nullable=False),
    Column("finished_at", Double),
    Column("duration_ms", Double),
    Column("counts", JSON, nullable=False),
    Column("schema_diff", JSON, nullable=False),
    Column("checks", JSON, nullable=False),
    Column("error", Text),
    Column("index_version", Integer),
    Index("ix_pipeline_runs_pipeline", "pipeline", "started_at"),
)

# The last accepted state of each pipeline: schema, cursor, run lock.
pipeline_state = Table(
    "pipeline_state",
    metadata,
    Column("pipeline", String(200), primary_key=True),
    Column("schema", JSON, nullable=False),
    Column("cursor", JSON),
    Column("last_good_run", String(64)),
    Column("last_good_at", Double),
    Column("lock_owner", String(64)),
    Column("lock_until", Double),
)

# Every record the pipeline has accepted: key -> content hash, for incremental runs.
pipeline_records = Table(
    "pipeline_records",
    metadata,
    Column("pipeline", String(200), primary_key=True),
    Column("record_key", String(512), primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("updated_at", Double, nullable=False),
)

# Rows set aside by the contract or a schema-change policy, inspectable later.
pipeline_quarantine = Table(
    "pipeline_quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline", String(200), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("record_key", String(512)),
    Column("row_number", Integer),
    Column("reasons", JSON, nullable=False),
    Column("row", JSON, nullable=False),
    Column("created_at", Double, nullable=False),
    Index("ix_pipeline_quarantine_run", "pipeline", "run_id"),
)

# One row per (pipeline, cadence slot): the primary key makes exactly one replica win the slot.
pipeline_slots = Table(
    "pipeline_slots",
    metadata,
    Column("pipeline", String(200), primary_key=True),
    Column("slot", Double, primary_key=True),
    Column("claimed_by", String(64), nullable=False),
    Column("claimed_at", Double, nullable=False),
)

# The job queue: any worker claims a queued job (or one whose lease ran out) and runs it.
pipeline_jobs = Table(
    "pipeline_jobs",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("pipeline", String(200), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # queued | running | done | failed
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("run_after", Double, nullable=False),
    Column("lease_until", Double),
    Column("worker", String(64)),
    Column("created_at", Double, nullable=False),
    Column("finished_at", Double),
    Column("last_run_id", String(64)),
    Column("error", Text),
    Index("ix_pipeline_jobs_due", "status", "run_after"),
)
