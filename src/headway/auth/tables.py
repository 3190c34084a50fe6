"""Tables of the auth part: API keys (hashes only) and the hash-chained audit trail.

``audit_head`` is a single row holding the chain's last sequence number and hash. Every
append first *updates* that row, which takes the row lock (PostgreSQL) or the database
write lock (SQLite) before the head is read, so concurrent writers on any number of
replicas extend one chain strictly one after another.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Double, Index, Integer, String, Table, Text

from headway.store import metadata

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(16), primary_key=True),
    Column("salt", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("principal", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("team", String(200)),
    Column("roles", JSON, nullable=False),
    Column("scopes", JSON),
    Column("models", JSON),
    Column("routes", JSON),
    Column("collections", JSON),
    Column("data_class", String(64)),
    Column("regions", JSON),
    Column("description", Text),
    Column("created_at", Double, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("expires_at", Double),
    Column("revoked_at", Double),
    Column("rotated_to", String(16)),
    Column("updated_at", Double, nullable=False),
    Index("ix_api_keys_principal", "principal"),
    Index("ix_api_keys_updated_at", "updated_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("event_id", String(40), nullable=False, unique=True),
    Column("created_at", Double, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("target", String(300)),
    Column("outcome", String(32), nullable=False),
    Column("request_id", String(64)),
    Column("detail", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_action", "action", "seq"),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("updated_at", Double, nullable=False),
)

GENESIS_HASH = "0" * 64
