"""Tables of the gate part: stored gate reports and fault drills, on the shared metadata.

Portable types only (SQLite and PostgreSQL); times are epoch-second doubles. The whole
report or drill is kept as JSON; the columns beside it are what lists filter and sort on.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Double, Index, Integer, String, Table, Text

from headway.store import metadata

gate_reports = Table(
    "gate_reports",
    metadata,
    Column("report_id", String(64), primary_key=True),
    Column("created_at", Double, nullable=False),
    Column("target", Text),
    Column("profile", String(200), nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("exit_code", Integer, nullable=False),
    Column("score", Double),
    Column("failing", Integer, nullable=False),
    Column("report", JSON, nullable=False),
    Index("ix_gate_reports_created_at", "created_at"),
)

gate_drills = Table(
    "gate_drills",
    metadata,
    Column("drill_id", String(64), primary_key=True),
    Column("created_at", Double, nullable=False),
    Column("model", String(200), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("drill", JSON, nullable=False),
    Index("ix_gate_drills_created_at", "created_at"),
)
