"""Tables of the observe part: user feedback and alert state, on the shared metadata.

Portable types only (SQLite and PostgreSQL); times are epoch-second doubles.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Double, Index, String, Table, Text

from headway.store import metadata

feedback = Table(
    "feedback",
    metadata,
    Column("feedback_id", String(64), primary_key=True),
    Column("request_id", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("caller", String(200), nullable=False),
    Column("score", Double),
    Column("label", String(200)),
    Column("comment", Text),
    Column("metadata", JSON, nullable=False),
    Index("ix_feedback_request", "request_id"),
    Index("ix_feedback_created_at", "created_at"),
)

# One row per rule: the state every replica agrees on, so a transition is delivered once.
alert_state = Table(
    "alert_state",
    metadata,
    Column("rule", String(100), primary_key=True),
    Column("state", String(16), nullable=False),  # ok | firing
    Column("incident_id", String(64)),
    Column("since", Double, nullable=False),
    Column("value", Double),
    Column("updated_at", Double, nullable=False),
)

alert_incidents = Table(
    "alert_incidents",
    metadata,
    Column("incident_id", String(64), primary_key=True),
    Column("rule", String(100), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("fired_at", Double, nullable=False),
    Column("resolved_at", Double),
    Column("value", Double),
    Column("threshold", Double, nullable=False),
    Column("summary", Text, nullable=False),
    Index("ix_alert_incidents_rule", "rule", "fired_at"),
)
