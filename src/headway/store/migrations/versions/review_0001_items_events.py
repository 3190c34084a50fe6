"""Review: durable review items and their transitions.

Revision ID: review_0001
Revises: 0001_requests
"""

import sqlalchemy as sa
from alembic import op

revision = "review_0001"
down_revision = "0001_requests"
branch_labels = ("review",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_items",
        sa.Column("review_id", sa.String(64), primary_key=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("policy", sa.String(100), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("team", sa.String(200)),
        sa.Column("roles", sa.String(400), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("caller", sa.String(200), nullable=False),
        sa.Column("caller_team", sa.String(200)),
        sa.Column("subject", sa.String(200)),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("deadline_at", sa.Double, nullable=False),
        sa.Column("claimed_by", sa.String(200)),
        sa.Column("lease_until", sa.Double),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decided_at", sa.Double),
        sa.Column("comment", sa.Text),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("context", sa.JSON, nullable=False),
        sa.Column("findings", sa.JSON, nullable=False),
        sa.Column("original", sa.JSON),
        sa.Column("edited", sa.JSON),
        sa.Column("escalation", sa.JSON),
        sa.Column("default_action", sa.String(16), nullable=False),
        sa.Column("status_url", sa.Text, nullable=False),
        sa.Column("webhook_url", sa.Text),
        sa.Column("webhook_source", sa.String(16)),
        sa.Column("webhook_state", sa.String(16)),
        sa.Column("webhook_lease_until", sa.Double),
        sa.Column("webhook_attempts", sa.Integer, nullable=False),
        sa.Column("record_synced", sa.Boolean, nullable=False),
    )
    op.create_index("ix_review_items_status", "review_items", ["status", "deadline_at"])
    op.create_index("ix_review_items_request", "review_items", ["request_id"])
    op.create_index("ix_review_items_created_at", "review_items", ["created_at"])
    op.create_index("ix_review_items_webhook", "review_items", ["webhook_state"])
    op.create_table(
        "review_events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("review_id", sa.String(64), nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_review_events_review", "review_events", ["review_id", "at"])


def downgrade() -> None:
    op.drop_table("review_events")
    op.drop_table("review_items")
