"""Cache: an index on ``created_at``, so the table can be trimmed to the newest entries cheaply.

The embedded cache keeps only the rows a start would load (its ``max_entries`` newest) and
cuts the rest after each batch; start-up's load reads them newest first by the same index.

Revision ID: cache_0002
Revises: cache_0001
"""

from alembic import op

revision = "cache_0002"
down_revision = "cache_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cache_entries_created_at", "cache_entries", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_cache_entries_created_at", table_name="cache_entries")
