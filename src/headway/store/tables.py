"""Table definitions shared by the SQL store implementation and its migrations' autogenerate.

Columns use portable types so the same tables serve SQLite (embedded) and PostgreSQL
(scaled out). Times are epoch seconds as doubles: cheap to write, easy to range-scan,
identical on both backends.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Double, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

requests = Table(
    "requests",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("created_at", Double, nullable=False),
    Column("endpoint", String(64), nullable=False),
    Column("model", String(200), nullable=False),
    Column("caller", String(200), nullable=False),
    Column("team", String(200)),
    Column("stream", Boolean, nullable=False, default=False),
    Column("status_code", Integer, nullable=False),
    Column("latency_ms", Double, nullable=False),
    Column("ttft_ms", Double),
    Column("input_tokens", Integer, nullable=False, default=0),
    Column("output_tokens", Integer, nullable=False, default=0),
    Column("cache_read_tokens", Integer, nullable=False, default=0),
    Column("reasoning_tokens", Integer, nullable=False, default=0),
    Column("cost_usd", Double),
    Column("error_type", String(64)),
    Column("error_message", Text),
    Column("served_by", String(64)),
    Column("deployment", String(300)),
    Column("attempts", JSON, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("quality", JSON, nullable=False),
    Index("ix_requests_created_at", "created_at"),
    Index("ix_requests_caller", "caller", "created_at"),
    Index("ix_requests_team", "team", "created_at"),
    Index("ix_requests_model", "model", "created_at"),
)

# Tombstones of erased data subjects (``store/tombstones.py``): the sha256 of an identifier, never
# the identifier, and when it was erased; the request log refuses its older records from then on.
erased_subjects = Table(
    "erased_subjects",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("erased_at", Double, nullable=False),
)
