"""Pipelines: runs, accepted state, record hashes, quarantine, schedule slots, job queue.

Revision ID: pipelines_0001
Revises: 0001_requests
"""

import sqlalchemy as sa
from alembic import op

revision = "pipelines_0001"
down_revision = "0001_requests"
branch_labels = ("pipelines",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("pipeline", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("finished_at", sa.Double),
        sa.Column("duration_ms", sa.Double),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.Column("schema_diff", sa.JSON, nullable=False),
        sa.Column("checks", sa.JSON, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("index_version", sa.Integer),
    )
    op.create_index("ix_pipeline_runs_pipeline", "pipeline_runs", ["pipeline", "started_at"])
    op.create_table(
        "pipeline_state",
        sa.Column("pipeline", sa.String(200), primary_key=True),
        sa.Column("schema", sa.JSON, nullable=False),
        sa.Column("cursor", sa.JSON),
        sa.Column("last_good_run", sa.String(64)),
        sa.Column("last_good_at", sa.Double),
        sa.Column("lock_owner", sa.String(64)),
        sa.Column("lock_until", sa.Double),
    )
    op.create_table(
        "pipeline_records",
        sa.Column("pipeline", sa.String(200), primary_key=True),
        sa.Column("record_key", sa.String(512), primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "pipeline_quarantine",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pipeline", sa.String(200), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("record_key", sa.String(512)),
        sa.Column("row_number", sa.Integer),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("row", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_index("ix_pipeline_quarantine_run", "pipeline_quarantine", ["pipeline", "run_id"])
    op.create_table(
        "pipeline_slots",
        sa.Column("pipeline", sa.String(200), primary_key=True),
        sa.Column("slot", sa.Double, primary_key=True),
        sa.Column("claimed_by", sa.String(64), nullable=False),
        sa.Column("claimed_at", sa.Double, nullable=False),
    )
    op.create_table(
        "pipeline_jobs",
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("pipeline", sa.String(200), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("run_after", sa.Double, nullable=False),
        sa.Column("lease_until", sa.Double),
        sa.Column("worker", sa.String(64)),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("finished_at", sa.Double),
        sa.Column("last_run_id", sa.String(64)),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_pipeline_jobs_due", "pipeline_jobs", ["status", "run_after"])


def downgrade() -> None:
    for table in (
        "pipeline_jobs",
        "pipeline_slots",
        "pipeline_quarantine",
        "pipeline_records",
        "pipeline_state",
        "pipeline_runs",
    ):
        op.drop_table(table)
