"""Tables of the cache part, on the shared ``headway.store.tables.metadata``."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Double, Index, LargeBinary, String, Table

from headway.store import metadata

cache_entries = Table(
    "cache_entries",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("scope", String(300), nullable=False),
    Column("params", String(64), nullable=False),
    Column("model", String(200), nullable=False),
    Column("caller", String(200), nullable=False),
    Column("team", String(200)),
    Column("body", JSON, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("stale_until", Double, nullable=False),
    Column("vector", LargeBinary),
    # The only index besides the key: the table holds at most ``max_entries`` rows (trimmed after
    # each batch), so erasure by caller and the start's purge scan it, and every row written
    # updates two B-trees rather than five (cache_0003).
    Index("ix_cache_entries_created_at", "created_at"),  # trim to the newest; load newest first
)
