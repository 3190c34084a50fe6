"""Retention: old records, feedback and resolved alert incidents are pruned; recent ones stay."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from headway.config.observe import RetentionConfig
from headway.observe.feedback import FeedbackStore, parse_feedback
from headway.observe.retention import DAY, Retention
from headway.observe.tables import alert_incidents
from headway.store.base import RequestQuery
from headway.store.sql import SqlStore
from headway.types import RequestRecord


def test_prune_deletes_only_what_is_past_its_period(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = SqlStore(f"sqlite:///{tmp_path}/r.db")
    store.migrate()
    now = time.time()
    ages = {"fresh": 1, "month": 29, "old": 31, "ancient": 400}
    store.write_requests(
        [RequestRecord(request_id=name, endpoint="chat.completions", model="m", created_at=now - days * DAY) for name, days in ages.items()]
    )
    feedback = FeedbackStore(store.database)
    for name, days in ages.items():
        assert feedback.add(parse_feedback({"request_id": name, "score": 1}, caller="c", now=now - days * DAY))
    with store.database.transaction() as connection:
        for incident, resolved in (("inc_open", None), ("inc_new", now - DAY), ("inc_old", now - 100 * DAY)):
            connection.execute(
                alert_incidents.insert().values(
                    incident_id=incident, rule="r", kind="error_rate", severity="warning", fired_at=now - 200 * DAY,
                    resolved_at=resolved, value=1.0, threshold=0.5, summary="s",
                )
            )
    # Batches smaller than the backlog: the loop must keep deleting until done.
    retention = Retention(store.database, RetentionConfig(requests_days=30, feedback_days=365, alerts_days=90))
    retention.config = retention.config.model_copy(update={"batch_size": 1})  # below the config minimum on purpose
    result = retention.prune(now=now)
    assert (result.requests, result.feedback, result.alert_incidents) == (2, 1, 1)
    remaining = {r.request_id for r in store.list_requests(RequestQuery(limit=10))}
    assert remaining == {"fresh", "month"}
    # Feedback outlives its records: a year by default, so only the 400-day one went.
    assert sorted(f.request_id for f in feedback.query(limit=10)) == ["fresh", "month", "old"]
    with store.database.connect() as connection:
        left = set(connection.execute(select(alert_incidents.c.incident_id)).scalars())
        assert left == {"inc_open", "inc_new"}
        assert connection.execute(select(func.count()).select_from(alert_incidents)).scalar_one() == 2
    assert retention.prune(now=now) == type(result)(0, 0, 0)
    store.close()
