"""Stored gate reports and fault drills: a ``SqlRepository`` over the store's ``Database``.

Async callers use ``asyncio.to_thread``. Writes are insert-or-ignore on the id, so a
report posted twice (a retried upload) is stored once; an outage arrives as
``StoreUnavailableError`` (the store's one translation), a bug as itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, select

from headway.gate.drill import DrillRecord
from headway.gate.results import FlatRecord, GateReport
from headway.gate.tables import gate_drills, gate_reports
from headway.store import SqlRepository


@dataclass(frozen=True, slots=True)
class ReportSummary(FlatRecord):
    """One row of the history: enough to list and chart without loading every report."""

    id: str
    created_at: float
    target: str | None
    profile: str
    verdict: str
    exit_code: int
    score: float | None
    failing: int


class GateRepository(SqlRepository):
    def _insert(self, table: Table, row: dict[str, Any], action: str) -> bool:
        """Insert-or-ignore on the id: False when it was already stored (uploads are idempotent)."""
        statement = self.database.insert_ignoring_conflicts(table).values(**row).returning(*table.primary_key.columns)
        with self.transaction(action) as connection:
            return connection.execute(statement).first() is not None

    # -- reports -------------------------------------------------------------------------------
    def save_report(self, report: GateReport) -> bool:
        return self._insert(
            gate_reports,
            {
                "report_id": report.id,
                "created_at": report.created_at,
                "target": report.target,
                "profile": report.profile,
                "verdict": report.verdict,
                "exit_code": report.exit_code,
                "score": report.score,
                "failing": len(report.failing()),
                "report": report.to_dict(),
            },
            "store a gate report",
        )

    def reports(self, *, limit: int = 50, before: float | None = None) -> list[ReportSummary]:
        c = gate_reports.c
        statement = select(c.report_id, c.created_at, c.target, c.profile, c.verdict, c.exit_code, c.score, c.failing)
        if before is not None:
            statement = statement.where(c.created_at < before)
        statement = statement.order_by(c.created_at.desc()).limit(limit)
        with self.reading("list gate reports") as connection:
            rows = list(connection.execute(statement))
        return [ReportSummary(*row) for row in rows]

    def report(self, report_id: str) -> GateReport | None:
        statement = select(gate_reports.c.report).where(gate_reports.c.report_id == report_id)
        with self.reading("read a gate report") as connection:
            row = connection.execute(statement).first()
        return GateReport.from_dict(row[0]) if row is not None else None

    def latest_report(self) -> GateReport | None:
        statement = select(gate_reports.c.report).order_by(gate_reports.c.created_at.desc()).limit(1)
        with self.reading("read the latest gate report") as connection:
            row = connection.execute(statement).first()
        return GateReport.from_dict(row[0]) if row is not None else None

    # -- drills ----------------------------------------------------------------------------------
    def save_drill(self, drill: DrillRecord) -> bool:
        return self._insert(
            gate_drills,
            {
                "drill_id": drill.id,
                "created_at": drill.created_at,
                "model": drill.model,
                "passed": drill.passed,
                "drill": drill.to_dict(),
            },
            "store a fault drill",
        )

    def drills(self, *, limit: int = 20) -> list[DrillRecord]:
        c = gate_drills.c
        statement = select(c.drill).order_by(c.created_at.desc()).limit(limit)
        with self.reading("list fault drills") as connection:
            rows = list(connection.execute(statement))
        return [DrillRecord.from_dict(row[0]) for row in rows]
