"""Dialects: stored Responses (``/v1/responses`` with ``store: true``) and their conversations.

Revision ID: responses_0001
Revises: 0001_requests
"""

import sqlalchemy as sa
from alembic import op

revision = "responses_0001"
down_revision = "0001_requests"
branch_labels = ("responses",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stored_responses",
        sa.Column("response_id", sa.String(64), primary_key=True),
        sa.Column("caller", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(200)),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("response", sa.JSON, nullable=False),
        sa.Column("input_items", sa.JSON, nullable=False),
        sa.Column("conversation", sa.JSON, nullable=False),
    )
    op.create_index("ix_stored_responses_caller", "stored_responses", ["caller"])
    op.create_index("ix_stored_responses_subject", "stored_responses", ["subject"])
    op.create_index("ix_stored_responses_created_at", "stored_responses", ["created_at"])


def downgrade() -> None:
    op.drop_table("stored_responses")
