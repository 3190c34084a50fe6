"""Tables of the dialects part: stored Responses (``store: true``) and their conversations.

Portable types only (SQLite and PostgreSQL); times are epoch-second doubles.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Double, Index, String, Table

from headway.store import metadata

# One row per stored response: the Response object, its own input items, and the whole
# conversation up to and including its output (what ``previous_response_id`` continues).
stored_responses = Table(
    "stored_responses",
    metadata,
    Column("response_id", String(64), primary_key=True),
    Column("caller", String(200), nullable=False),
    Column("subject", String(200)),  # the request's ``user``/``metadata.subject``: erasure matches it
    Column("created_at", Double, nullable=False),
    Column("status", String(32), nullable=False),
    Column("response", JSON, nullable=False),
    Column("input_items", JSON, nullable=False),
    Column("conversation", JSON, nullable=False),
    Index("ix_stored_responses_caller", "caller"),
    Index("ix_stored_responses_subject", "subject"),
    Index("ix_stored_responses_created_at", "created_at"),
)
