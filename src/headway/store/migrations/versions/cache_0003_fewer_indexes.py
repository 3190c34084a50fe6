"""Cache: drop the indexes on ``stale_until``, ``caller`` and ``team``.

Since cache_0002 the table is trimmed to the newest ``max_entries`` rows after every batch,
so the queries those indexes served — the start's purge of expired rows and a data
subject's erasure by caller (none reads ``team``) — scan a bounded table. Each row the
writer stores updated five B-trees; now two (the key and ``created_at``), which is most of
the cache's share of the writer's time under a miss-heavy load.

Revision ID: cache_0003
Revises: cache_0002
"""

from alembic import op

revision = "cache_0003"
down_revision = "cache_0002"
branch_labels = None
depends_on = None

_DROPPED = (("ix_cache_entries_stale_until", "stale_until"), ("ix_cache_entries_caller", "caller"), ("ix_cache_entries_team", "team"))


def upgrade() -> None:
    for name, _ in _DROPPED:
        op.drop_index(name, table_name="cache_entries")


def downgrade() -> None:
    for name, column in _DROPPED:
        op.create_index(name, "cache_entries", [column])
