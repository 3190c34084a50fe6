"""Keep the store bounded: delete request records, feedback and resolved alerts past their periods.

Deletes go in batches of ``batch_size`` rows so a large backlog never holds a long lock
(SQLite has one writer; the request log must keep flushing meanwhile).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import Column, Table, delete, select

from headway.config import RetentionConfig
from headway.observe.tables import alert_incidents, feedback
from headway.store import Database, SqlRepository, requests

log = logging.getLogger("headway.retention")
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class PruneResult:
    requests: int
    feedback: int
    alert_incidents: int


class Retention(SqlRepository):
    def __init__(self, database: Database, config: RetentionConfig) -> None:
        super().__init__(database)
        self.config = config

    def prune(self, now: float | None = None) -> PruneResult:
        now = time.time() if now is None else now
        c = self.config
        result = PruneResult(
            requests=self._delete_before(requests, requests.c.request_id, requests.c.created_at, now - c.requests_days * DAY),
            feedback=self._delete_before(feedback, feedback.c.feedback_id, feedback.c.created_at, now - c.feedback_days * DAY),
            alert_incidents=self._delete_before(
                alert_incidents, alert_incidents.c.incident_id, alert_incidents.c.resolved_at, now - c.alerts_days * DAY
            ),
        )
        if result.requests or result.feedback or result.alert_incidents:
            log.info(
                "retention pruned old rows",
                extra={"requests": result.requests, "feedback": result.feedback, "alert_incidents": result.alert_incidents},
            )
        return result

    def _delete_before(self, table: Table, key: Column[str], stamp: Column[float], cutoff: float) -> int:
        total = 0
        while True:
            batch = select(key).where(stamp < cutoff).limit(self.config.batch_size).scalar_subquery()
            with self.transaction(f"prune {table.name}") as connection:
                deleted = int(connection.execute(delete(table).where(key.in_(batch))).rowcount or 0)
            total += deleted
            if deleted < self.config.batch_size:
                return total
