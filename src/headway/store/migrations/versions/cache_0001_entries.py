"""Cache: response cache entries (exact key, semantic group, vector), persisted for restarts.

Revision ID: cache_0001
Revises: 0001_requests
"""

import sqlalchemy as sa
from alembic import op

revision = "cache_0001"
down_revision = "0001_requests"
branch_labels = ("cache",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cache_entries",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("scope", sa.String(300), nullable=False),
        sa.Column("params", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("caller", sa.String(200), nullable=False),
        sa.Column("team", sa.String(200)),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("stale_until", sa.Double, nullable=False),
        sa.Column("vector", sa.LargeBinary),
    )
    op.create_index("ix_cache_entries_stale_until", "cache_entries", ["stale_until"])
    op.create_index("ix_cache_entries_caller", "cache_entries", ["caller"])
    op.create_index("ix_cache_entries_team", "cache_entries", ["team"])


def downgrade() -> None:
    op.drop_table("cache_entries")
