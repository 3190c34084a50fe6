"""Observe: user feedback, alert state and alert incidents.

Revision ID: observe_0001
Revises: 0001_requests
"""

import sqlalchemy as sa
from alembic import op

revision = "observe_0001"
down_revision = "0001_requests"
branch_labels = ("observe",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("feedback_id", sa.String(64), primary_key=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("caller", sa.String(200), nullable=False),
        sa.Column("score", sa.Double),
        sa.Column("label", sa.String(200)),
        sa.Column("comment", sa.Text),
        sa.Column("metadata", sa.JSON, nullable=False),
    )
    op.create_index("ix_feedback_request", "feedback", ["request_id"])
    op.create_index("ix_feedback_created_at", "feedback", ["created_at"])
    op.create_table(
        "alert_state",
        sa.Column("rule", sa.String(100), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("incident_id", sa.String(64)),
        sa.Column("since", sa.Double, nullable=False),
        sa.Column("value", sa.Double),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "alert_incidents",
        sa.Column("incident_id", sa.String(64), primary_key=True),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("fired_at", sa.Double, nullable=False),
        sa.Column("resolved_at", sa.Double),
        sa.Column("value", sa.Double),
        sa.Column("threshold", sa.Double, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
    )
    op.create_index("ix_alert_incidents_rule", "alert_incidents", ["rule", "fired_at"])


def downgrade() -> None:
    for table in ("alert_incidents", "alert_state", "feedback"):
        op.drop_table(table)
