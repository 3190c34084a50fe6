"""Alert state shared by all replicas: one row per rule, one row per incident.

A transition is a conditional update (``… WHERE state = 'ok'``): of several replicas
evaluating the same breach, exactly one sees a changed row and announces the incident.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from typing import Literal

from sqlalchemy import select, update

from headway.config import AlertRuleConfig
from headway.observe.tables import alert_incidents, alert_state
from headway.store import SqlRepository
from headway.types import JSON


@dataclass(frozen=True, slots=True)
class Incident:
    incident_id: str
    rule: str
    kind: str
    severity: str
    fired_at: float
    resolved_at: float | None
    value: float | None
    threshold: float
    summary: str

    def to_dict(self) -> JSON:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Transition:
    state: Literal["firing", "resolved"]
    incident: Incident
    value: float | None
    at: float


@dataclass(frozen=True, slots=True)
class RuleState:
    rule: str
    state: str
    incident_id: str | None
    since: float
    value: float | None


class AlertStateStore(SqlRepository):
    def apply(
        self, rule: AlertRuleConfig, *, breaching: bool, value: float | None, detail: str, now: float
    ) -> Transition | None:
        with self.transaction("update alert state") as connection:
            connection.execute(
                self.database.insert_ignoring_conflicts(alert_state),
                {"rule": rule.name, "state": "ok", "incident_id": None, "since": now, "value": value, "updated_at": now},
            )
            row = connection.execute(select(alert_state).where(alert_state.c.rule == rule.name)).one()
            if breaching and row.state == "ok":
                incident_id = f"inc_{secrets.token_hex(10)}"
                won = connection.execute(
                    update(alert_state)
                    .where(alert_state.c.rule == rule.name, alert_state.c.state == "ok")
                    .values(state="firing", incident_id=incident_id, since=now, value=value, updated_at=now)
                ).rowcount
                if won != 1:
                    return None
                incident = Incident(
                    incident_id, rule.name, rule.kind, rule.severity, now, None, value, rule.threshold,
                    f"{rule.name}: {detail} (threshold {rule.threshold:g})",
                )
                connection.execute(alert_incidents.insert().values(**incident.to_dict()))
                return Transition("firing", incident, value, now)
            if not breaching and row.state == "firing":
                won = connection.execute(
                    update(alert_state)
                    .where(
                        alert_state.c.rule == rule.name,
                        alert_state.c.state == "firing",
                        alert_state.c.incident_id == row.incident_id,
                    )
                    .values(state="ok", incident_id=None, since=now, value=value, updated_at=now)
                ).rowcount
                if won != 1:
                    return None
                connection.execute(
                    update(alert_incidents).where(alert_incidents.c.incident_id == row.incident_id).values(resolved_at=now)
                )
                stored = connection.execute(
                    select(alert_incidents).where(alert_incidents.c.incident_id == row.incident_id)
                ).first()
                incident = Incident(**dict(stored._mapping)) if stored is not None else Incident(
                    row.incident_id, rule.name, rule.kind, rule.severity, row.since, now, value, rule.threshold, detail
                )
                return Transition("resolved", incident, value, now)
            connection.execute(
                update(alert_state).where(alert_state.c.rule == rule.name).values(value=value, updated_at=now)
            )
            return None

    def states(self) -> list[RuleState]:
        with self.reading("read alert state") as connection:
            rows = connection.execute(select(alert_state).order_by(alert_state.c.rule)).all()
        return [RuleState(r.rule, r.state, r.incident_id, r.since, r.value) for r in rows]

    def incidents(self, *, limit: int = 100, rule: str | None = None) -> list[Incident]:
        statement = select(alert_incidents).order_by(alert_incidents.c.fired_at.desc()).limit(limit)
        if rule is not None:
            statement = statement.where(alert_incidents.c.rule == rule)
        with self.reading("read alert incidents") as connection:
            return [Incident(**dict(r._mapping)) for r in connection.execute(statement)]
