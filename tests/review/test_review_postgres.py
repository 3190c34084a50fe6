"""On PostgreSQL, replicas racing for one transition: exactly one applies it, the others see a conflict."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from headway.config import ReviewConfig
from headway.errors import ConflictError
from headway.review.items import Escalation, ReviewItem
from headway.review.notify import DecisionWebhooks
from headway.review.repository import ReviewRepository
from headway.store import Outbox, OutboxQuery
from headway.store.sql import SqlStore

pytestmark = pytest.mark.postgres
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REPLICAS = 6


@pytest.fixture
def replicas() -> Iterator[list[ReviewRepository]]:
    name = f"headway_review_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server: the suite runs without PostgreSQL too
        pytest.skip(f"PostgreSQL not available: {exc.__class__.__name__}")
    stores = [SqlStore(f"postgresql://postgres@127.0.0.1:5432/{name}") for _ in range(REPLICAS)]
    try:
        stores[0].migrate()
        yield [ReviewRepository(store.database) for store in stores]
    finally:
        for store in stores:
            store.close()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def new_item(deadline_in: float = 600.0) -> ReviewItem:
    now = time.time()
    return ReviewItem(
        review_id=f"rev_{uuid.uuid4().hex[:24]}", request_id=f"req_{uuid.uuid4().hex}", policy="p", action="hold",
        status="pending", level=0, team="risk", roles=("reviewer",), reason="test", caller="app", caller_team=None,
        model="chat", created_at=now, deadline_at=now + deadline_in, request={"messages": []}, context={}, findings={},
        original={"object": "chat.completion", "choices": []}, default_action="reject", status_url="/v1/reviews/x",
        escalation=Escalation("risk-leads", ("reviewer",), 600.0),
    )


def race(replicas: list[ReviewRepository], attempt: Any) -> list[Any]:
    with ThreadPoolExecutor(len(replicas)) as pool:
        futures = [pool.submit(attempt, index, repo) for index, repo in enumerate(replicas)]
        outcomes: list[Any] = []
        for future in futures:
            try:
                outcomes.append(future.result())
            except ConflictError as exc:
                outcomes.append(exc)
        return outcomes


def test_one_claim_and_one_decision_win(replicas: list[ReviewRepository]) -> None:
    item = new_item()
    replicas[0].create(item, actor="app")
    now = time.time()
    claims = race(replicas, lambda i, repo: repo.claim(item, f"reviewer-{i}", lease_s=60, now=now))
    winners = [c for c in claims if isinstance(c, ReviewItem)]
    assert len(winners) == 1 and all(isinstance(c, ConflictError) for c in claims if c not in winners)
    assert [e.kind for e in replicas[0].events(item.review_id)] == ["created", "claimed"]

    second = new_item()
    replicas[0].create(second, actor="app")
    decisions = race(replicas, lambda i, repo: repo.decide(second, f"reviewer-{i}", "approve", now=now))
    decided = [d for d in decisions if isinstance(d, ReviewItem)]
    assert len(decided) == 1 and replicas[1].get(second.review_id).decided_by == decided[0].decided_by  # type: ignore[union-attr]


def test_every_replica_sweeps_but_each_transition_happens_once(replicas: list[ReviewRepository]) -> None:
    items = [new_item(deadline_in=1.0) for _ in range(5)]
    for item in items:
        replicas[0].create(item, actor="app")
    later = time.time() + 10
    moved = race(replicas, lambda i, repo: repo.breach_slas(later))
    assert sorted(m.review_id for batch in moved for m in batch) == sorted(i.review_id for i in items)
    for item in items:
        kinds = [e.kind for e in replicas[0].events(item.review_id)]
        assert kinds == ["created", "escalated"]
        assert replicas[2].get(item.review_id).team == "risk-leads"  # type: ignore[union-attr]


def test_an_escalation_notice_is_queued_once_in_the_escalations_transaction(replicas: list[ReviewRepository]) -> None:
    config = ReviewConfig.model_validate(
        {"escalation_webhook": {"url": "http://127.0.0.1:9/ops", "secret": "whsec_" + "A" * 44}}
    )
    items = [new_item(deadline_in=1.0) for _ in range(4)]
    for item in items:
        replicas[0].create(item, actor="app")
    notifiers = [DecisionWebhooks(config, Outbox(repo.database)) for repo in replicas]
    later = time.time() + 10
    race(replicas, lambda i, repo: repo.breach_slas(later, on_escalated=notifiers[i].enqueue_escalation))
    outbox = Outbox(replicas[0].database)
    for item in items:  # six replicas swept at once: exactly one notice per item, to the team's receiver
        rows = outbox.search(OutboxQuery(subject=item.review_id, limit=10))
        assert [(r.webhook_id, r.receiver) for r in rows] == [(f"{item.review_id}.escalated", "review:escalation")]
