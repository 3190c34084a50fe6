"""The webhook outbox: every webhook is a durable row until it is delivered or dead.

Revision ID: outbox_0001
Revises: 0001_requests
"""

import sqlalchemy as sa
from alembic import op

revision = "outbox_0001"
down_revision = "0001_requests"
branch_labels = ("outbox",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_outbox",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("webhook_id", sa.String(200), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("receiver", sa.String(200), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("run_after", sa.Double, nullable=False),
        sa.Column("retry_until", sa.Double),
        sa.Column("lease_owner", sa.String(100)),
        sa.Column("lease_until", sa.Double),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("last_attempt_at", sa.Double),
        sa.Column("delivered_at", sa.Double),
        sa.Column("dead_at", sa.Double),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_webhook_outbox_due", "webhook_outbox", ["status", "run_after"])
    op.create_index("ix_webhook_outbox_subject", "webhook_outbox", ["subject", "status", "seq"])


def downgrade() -> None:
    op.drop_table("webhook_outbox")
