"""The idempotency part's table: one row per (caller scope, Idempotency-Key).

Portable types only; times are epoch-second doubles; the stored body is bytes exactly as
it was sent (JSON, or an SSE stream replayed whole).
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Double, Index, Integer, LargeBinary, String, Table

from headway.store import metadata

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(64), primary_key=True),  # sha256 of the caller's credential
    Column("key", String(255), primary_key=True),  # the client's Idempotency-Key
    Column("fingerprint", String(64), nullable=False),  # sha256 of method, path, query and body
    Column("request_id", String(64), nullable=False),  # the request that runs (or ran) it
    Column("state", String(16), nullable=False),  # running | done
    Column("owner", String(100), nullable=False),  # the replica's run that holds it while running
    Column("lease_until", Double, nullable=False),  # running rows: renewed while the owner lives
    Column("status", Integer),
    Column("headers", JSON),
    Column("body", LargeBinary),
    Column("review_id", String(64)),  # a held answer: replays answer from the item's current state
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
)
Index("ix_idempotency_keys_expires", idempotency_keys.c.expires_at)
