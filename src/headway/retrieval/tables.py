"""Tables of the retrieval part, on the shared ``headway.store.tables.metadata``.

Chunks are versioned so a run can build a new index version beside the serving one and
publish it in one update: a chunk is visible at version V when
``added_version <= V < coalesce(removed_version, ∞)``. The lexical index (SQLite FTS5
table or PostgreSQL ``tsvector`` column) is created by the migration, per dialect,
because neither has a portable SQLAlchemy type.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Double, Index, Integer, LargeBinary, String, Table, Text

from headway.store import metadata

retrieval_collections = Table(
    "retrieval_collections",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("embedding_model", String(200)),
    Column("dimensions", Integer),
    Column("active_version", Integer, nullable=False),  # what readers see
    Column("next_version", Integer, nullable=False),  # the highest version ever started
    Column("updated_at", Double, nullable=False),
)

retrieval_chunks = Table(
    "retrieval_chunks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("collection", String(200), nullable=False),
    Column("doc_key", String(512), nullable=False),
    Column("ordinal", Integer, nullable=False),
    Column("title", Text),
    Column("source", Text),
    Column("text", Text, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("embedding", LargeBinary),  # little-endian float32, L2-normalised
    Column("added_version", Integer, nullable=False),
    Column("removed_version", Integer),
    Index("ix_retrieval_chunks_doc", "collection", "doc_key"),
    Index("ix_retrieval_chunks_hash", "collection", "content_hash"),
    Index("ix_retrieval_chunks_version", "collection", "added_version", "removed_version"),
)
