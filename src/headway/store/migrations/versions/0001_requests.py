"""Request log.

Revision ID: 0001_requests
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_requests"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "requests",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("caller", sa.String(200), nullable=False),
        sa.Column("team", sa.String(200)),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("latency_ms", sa.Double, nullable=False),
        sa.Column("ttft_ms", sa.Double),
        sa.Column("input_tokens", sa.Integer, nullable=False),
        sa.Column("output_tokens", sa.Integer, nullable=False),
        sa.Column("cache_read_tokens", sa.Integer, nullable=False),
        sa.Column("reasoning_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Double),
        sa.Column("error_type", sa.String(64)),
        sa.Column("error_message", sa.Text),
        sa.Column("served_by", sa.String(64)),
        sa.Column("deployment", sa.String(300)),
        sa.Column("attempts", sa.JSON, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("quality", sa.JSON, nullable=False),
    )
    op.create_index("ix_requests_created_at", "requests", ["created_at"])
    op.create_index("ix_requests_caller", "requests", ["caller", "created_at"])
    op.create_index("ix_requests_team", "requests", ["team", "created_at"])
    op.create_index("ix_requests_model", "requests", ["model", "created_at"])


def downgrade() -> None:
    op.drop_table("requests")
