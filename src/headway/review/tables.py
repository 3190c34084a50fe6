"""Tables of the review part: review items and every transition they went through.

Portable types only (SQLite and PostgreSQL); times are epoch-second doubles. ``roles`` is
stored as ``",reviewer,operator,"`` so a visibility filter is a portable ``LIKE``.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Double, Index, Integer, String, Table, Text

from headway.store import metadata

review_items = Table(
    "review_items",
    metadata,
    Column("review_id", String(64), primary_key=True),
    Column("request_id", String(64), nullable=False),
    Column("policy", String(100), nullable=False),
    Column("action", String(16), nullable=False),  # hold | audit
    Column("status", String(16), nullable=False),  # see items.STATUSES
    Column("level", Integer, nullable=False, default=0),  # 0: first line, 1: escalated
    Column("team", String(200)),  # the team it is assigned to now; NULL: any team
    Column("roles", String(400), nullable=False),
    Column("reason", Text, nullable=False),
    Column("caller", String(200), nullable=False),
    Column("caller_team", String(200)),
    Column("subject", String(200)),  # metadata.subject or .user, for erasure
    Column("model", String(200), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("deadline_at", Double, nullable=False),
    Column("claimed_by", String(200)),
    Column("lease_until", Double),
    Column("decided_by", String(200)),
    Column("decided_at", Double),
    Column("comment", Text),
    Column("request", JSON, nullable=False),  # the conversation as the model saw it (redacted like records)
    Column("context", JSON, nullable=False),  # retrieved context: citations and the retrieval outcome
    Column("findings", JSON, nullable=False),  # guard findings and the output-contract outcome
    Column("original", JSON),  # the model's chat.completion, verbatim (NULL: the contract failed)
    Column("edited", JSON),  # the reviewer's chat.completion when edited
    Column("escalation", JSON),  # {team, roles, sla_s} or NULL
    Column("default_action", String(16), nullable=False),
    Column("status_url", Text, nullable=False),  # where the caller polls (also in webhooks)
    Column("webhook_url", Text),
    Column("webhook_source", String(16)),  # policy | caller
    Column("webhook_state", String(16)),  # NULL | pending | sending | sent | failed
    Column("webhook_lease_until", Double),
    Column("webhook_attempts", Integer, nullable=False, default=0),
    Column("record_synced", Boolean, nullable=False, default=False),
    Index("ix_review_items_status", "status", "deadline_at"),
    Index("ix_review_items_request", "request_id"),
    Index("ix_review_items_created_at", "created_at"),
    Index("ix_review_items_webhook", "webhook_state"),
)

review_events = Table(
    "review_events",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("review_id", String(64), nullable=False),
    Column("at", Double, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("from_status", String(16)),
    Column("to_status", String(16), nullable=False),
    Column("comment", Text),
    Column("detail", JSON, nullable=False),
    Index("ix_review_events_review", "review_id", "at"),
)
