"""The webhook outbox: every webhook Headway sends is first a row here.

A sender (a review decision, an escalation, an alert, a pipeline event, a finished job)
writes a ``WebhookMessage`` in the transaction that changes the state it reports, or
right after it; the id is the ``webhook-id`` receivers de-duplicate on, so writing the
same message twice is a no-op. A delivery worker in every gateway process and in
``headway worker`` claims rows through the one ``WorkQueue`` (leases make it safe across
replicas), signs and sends them, and writes the outcome: ``delivered``, back to
``pending`` with a later ``run_after`` (retry), or ``dead`` once its retry window is
spent. A row waits while an earlier row of the same subject to the same URL is still
pending, so each receiver gets one subject's events in order. ``resend`` puts dead rows
back to ``pending`` with a fresh retry window.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Double,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    delete,
    exists,
    func,
    select,
    update,
)

from headway.store.database import Database, insert_ignoring_conflicts
from headway.store.queue import QueueShape, WorkQueue
from headway.store.repository import SqlRepository
from headway.store.tables import metadata


class DeliveryState(StrEnum):
    PENDING = "pending"  # due now or after its backoff
    SENDING = "sending"  # claimed by a delivery worker (leased)
    DELIVERED = "delivered"
    DEAD = "dead"  # its retry window passed, or the receiver refused it: resend to try again


PENDING, SENDING, DELIVERED, DEAD = DeliveryState

webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # enqueue order: per-subject order, cursors
    Column("id", String(64), nullable=False, unique=True),  # the delivery: one message to one receiver URL
    Column("webhook_id", String(200), nullable=False),  # the webhook-id header (one message, every receiver)
    Column("source", String(32), nullable=False),  # review | job | alert | pipeline
    Column("event_type", String(64), nullable=False),
    Column("subject", String(200), nullable=False),  # what the events are about (review id, job id, incident …)
    Column("receiver", String(200), nullable=False),  # which configured receiver signs it (never the secret)
    Column("url", Text, nullable=False),
    Column("body", Text, nullable=False),  # the exact JSON bytes that are signed and sent
    Column("status", String(16), nullable=False),  # pending | sending | delivered | dead
    Column("priority", Integer, nullable=False, default=0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("run_after", Double, nullable=False),
    Column("retry_until", Double),  # set at the first failure: retries stop (dead) after it
    Column("lease_owner", String(100)),
    Column("lease_until", Double),
    Column("created_at", Double, nullable=False),
    Column("last_attempt_at", Double),
    Column("delivered_at", Double),
    Column("dead_at", Double),
    Column("last_status", Integer),  # the receiver's HTTP status on the last attempt
    Column("last_error", Text),
    Index("ix_webhook_outbox_due", "status", "run_after"),
    Index("ix_webhook_outbox_subject", "subject", "status", "seq"),  # the in-order test: one seek
)
o = webhook_outbox.c

OUTBOX_SHAPE = QueueShape(
    table=webhook_outbox,
    waiting=(PENDING,),
    running=SENDING,
    max_attempts=None,  # a delivery ends by its retry window, not a count
    priority="priority",
    order=("run_after", "seq"),
)


@dataclass(frozen=True, slots=True)
class WebhookMessage:
    """One webhook to send: ``webhook_id`` is its ``webhook-id`` header, the same on every retry."""

    webhook_id: str
    source: str
    event_type: str
    subject: str
    receiver: str
    url: str
    payload: Any
    priority: int = 0

    @property
    def delivery_id(self) -> str:
        """Derived, so writing the same message to the same receiver twice is one delivery."""
        digest = hashlib.sha256(f"{self.webhook_id}\n{self.receiver}\n{self.url}".encode()).hexdigest()
        return f"whd_{digest[:32]}"

    def row(self, now: float) -> dict[str, Any]:
        body = self.payload.decode() if isinstance(self.payload, bytes) else orjson.dumps(self.payload).decode()
        return {
            "id": self.delivery_id,
            "webhook_id": self.webhook_id,
            "source": self.source,
            "event_type": self.event_type,
            "subject": self.subject,
            "receiver": self.receiver,
            "url": self.url,
            "body": body,
            "status": PENDING,
            "priority": self.priority,
            "attempts": 0,
            "run_after": now,
            "created_at": now,
        }


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    seq: int
    id: str
    webhook_id: str
    source: str
    event_type: str
    subject: str
    receiver: str
    url: str
    body: str
    status: str
    priority: int
    attempts: int
    run_after: float
    retry_until: float | None
    lease_owner: str | None
    lease_until: float | None
    created_at: float
    last_attempt_at: float | None
    delivered_at: float | None
    dead_at: float | None
    last_status: int | None
    last_error: str | None

    @classmethod
    def from_row(cls, row: Any) -> OutboxEntry:
        return cls(**{name: row[name] for name in cls.__slots__})

    def to_json(self) -> dict[str, Any]:
        return {
            "object": "webhook_delivery",
            "id": self.id,
            "webhook_id": self.webhook_id,
            "state": self.status,
            "source": self.source,
            "event_type": self.event_type,
            "subject": self.subject,
            "receiver": self.receiver,
            "url": self.url,
            "attempts": self.attempts,
            "created_at": self.created_at,
            "next_attempt_at": self.run_after if self.status == PENDING else None,
            "retry_until": self.retry_until,
            "last_attempt_at": self.last_attempt_at,
            "delivered_at": self.delivered_at,
            "dead_at": self.dead_at,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "payload": orjson.loads(self.body),
        }


@dataclass(frozen=True, slots=True)
class OutboxQuery:
    states: tuple[str, ...] = ()  # empty: every state
    event_type: str | None = None
    receiver: str | None = None
    source: str | None = None
    subject: str | None = None
    before_seq: int | None = None  # the cursor: entries older than this one
    limit: int = 50


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: int  # pending or being sent
    oldest_pending_created_at: float | None
    delivered: int
    dead: int


def _insert_ignoring_duplicates(connection: Connection, rows: list[dict[str, Any]]) -> int:
    statement = insert_ignoring_conflicts(connection, webhook_outbox, key=["id"])
    # Count by RETURNING: PostgreSQL's driver reports no rowcount for an insert that returns the key.
    return sum(len(connection.execute(statement.values(row).returning(o.seq)).all()) for row in rows)


def _in_order() -> ColumnElement[bool]:
    """Nothing earlier of the same subject to the same URL is still pending or being sent."""
    earlier = webhook_outbox.alias("earlier")
    return ~exists(
        select(earlier.c.seq).where(
            earlier.c.subject == o.subject,
            earlier.c.status.in_((PENDING, SENDING)),
            earlier.c.seq < o.seq,
            earlier.c.url == o.url,
        )
    )


class Outbox(SqlRepository):
    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.queue = WorkQueue(database, OUTBOX_SHAPE)

    # -- senders ----------------------------------------------------------------------------
    def enqueue(self, messages: Sequence[WebhookMessage], *, connection: Connection | None = None) -> int:
        """Queue messages (in ``connection``'s transaction when given); returns how many were new."""
        rows = [m.row(time.time()) for m in messages]
        if not rows:
            return 0
        if connection is not None:
            return _insert_ignoring_duplicates(connection, rows)
        with self.transaction("queue a webhook") as own:
            return _insert_ignoring_duplicates(own, rows)

    # -- the delivery worker ----------------------------------------------------------------
    def claim(self, owner: str, lease_s: float, *, exclude: Sequence[str] = (), now: float | None = None) -> OutboxEntry | None:
        taken = self.claim_many(owner, lease_s, 1, exclude=exclude, now=now)
        return taken[0] if taken else None

    def claim_many(
        self, owner: str, lease_s: float, limit: int, *, exclude: Sequence[str] = (), now: float | None = None
    ) -> list[OutboxEntry]:
        rows = self.queue.claim_many(owner, lease_s, limit, exclude=exclude, where=_in_order(), now=now)
        return [OutboxEntry.from_row(row) for row in rows]

    def delivered(self, entry_id: str, owner: str, *, status_code: int, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        values = {"status": DELIVERED, "delivered_at": now, "last_attempt_at": now, "last_status": status_code, "last_error": None}
        return self.queue.settle(entry_id, owner, values)

    def failed(
        self,
        entry_id: str,
        owner: str,
        *,
        status_code: int | None,
        error: str,
        retry_at: float | None,
        retry_until: float | None,
        now: float | None = None,
    ) -> bool:
        """Record a failed attempt: due again at ``retry_at``, or dead when it is ``None``."""
        now = time.time() if now is None else now
        values: dict[str, Any] = {
            "last_attempt_at": now,
            "last_status": status_code,
            "last_error": error[:2000],
            "retry_until": retry_until,
        }
        if retry_at is None:
            values.update(status=DEAD, dead_at=now)
        else:
            values.update(status=PENDING, run_after=retry_at)
        return self.queue.settle(entry_id, owner, values)

    def renew(self, entry_ids: Sequence[str], owner: str, lease_s: float) -> set[str]:
        return set(self.queue.renew(entry_ids, owner, lease_s))

    def release(self, entry_ids: Sequence[str], owner: str) -> None:
        self.queue.release(entry_ids, owner)

    def release_all(self, owner: str) -> int:
        """Hand back every delivery ``owner`` holds (a worker that stops, whatever it was doing)."""
        with self.transaction("release webhook deliveries") as connection:
            held = and_(o.lease_owner == owner, o.status == SENDING)
            return int(connection.execute(update(webhook_outbox).where(held).values(lease_until=0.0)).rowcount or 0)

    # -- operators --------------------------------------------------------------------------
    def get(self, entry_id: str) -> OutboxEntry | None:
        with self.reading("read a webhook delivery") as connection:
            row = connection.execute(select(webhook_outbox).where(o.id == entry_id)).first()
        return OutboxEntry.from_row(row._mapping) if row is not None else None

    def by_webhook_id(self, webhook_ids: Sequence[str]) -> dict[str, OutboxEntry]:
        """The latest delivery of each message (for a sender's own view of its webhooks)."""
        if not webhook_ids:
            return {}
        statement = select(webhook_outbox).where(o.webhook_id.in_(list(webhook_ids))).order_by(o.seq)
        with self.reading("read webhook deliveries") as connection:
            return {row.webhook_id: OutboxEntry.from_row(row._mapping) for row in connection.execute(statement)}

    def search(self, query: OutboxQuery) -> list[OutboxEntry]:
        """Newest first; ``before_seq`` continues a listing after its last entry."""
        statement = select(webhook_outbox).where(*self._filters(query)).order_by(o.seq.desc()).limit(query.limit)
        if query.before_seq is not None:
            statement = statement.where(o.seq < query.before_seq)
        with self.reading("list webhook deliveries") as connection:
            return [OutboxEntry.from_row(row._mapping) for row in connection.execute(statement)]

    def resend(self, query: OutboxQuery | None = None, *, entry_ids: Sequence[str] = (), now: float | None = None) -> int:
        """Dead (or, by id, delivered) deliveries back to pending, due now, with a fresh retry window."""
        now = time.time() if now is None else now
        values = {"status": PENDING, "run_after": now, "retry_until": None, "dead_at": None, "lease_owner": None, "lease_until": None}
        if entry_ids:
            condition = and_(o.id.in_(list(entry_ids)), o.status.in_((DEAD, DELIVERED)))
        else:
            query = query or OutboxQuery()
            condition = and_(o.status == DEAD, *self._filters(OutboxQuery(
                event_type=query.event_type, receiver=query.receiver, source=query.source, subject=query.subject
            )))
        with self.transaction("resend webhook deliveries") as connection:
            return int(connection.execute(update(webhook_outbox).where(condition).values(values)).rowcount or 0)

    def purge_delivered(self, before: float) -> int:
        """Delete deliveries delivered before ``before`` (dead ones wait for an operator)."""
        condition = and_(o.status == DELIVERED, o.delivered_at < before)
        with self.transaction("purge delivered webhooks") as connection:
            return int(connection.execute(delete(webhook_outbox).where(condition)).rowcount or 0)

    def stats(self) -> OutboxStats:
        active = o.status.in_((PENDING, SENDING))
        with self.reading("count webhook deliveries") as connection:
            counts: dict[str, int] = {status: int(n) for status, n in connection.execute(select(o.status, func.count()).group_by(o.status))}
            oldest = connection.execute(select(func.min(o.created_at)).where(active)).scalar()
        return OutboxStats(
            pending=int(counts.get(PENDING, 0)) + int(counts.get(SENDING, 0)),
            oldest_pending_created_at=float(oldest) if oldest is not None else None,
            delivered=int(counts.get(DELIVERED, 0)),
            dead=int(counts.get(DEAD, 0)),
        )

    @staticmethod
    def _filters(query: OutboxQuery) -> list[ColumnElement[bool]]:
        filters: list[ColumnElement[bool]] = []
        if query.states:
            filters.append(o.status.in_(query.states))
        for column, value in ((o.event_type, query.event_type), (o.receiver, query.receiver), (o.source, query.source), (o.subject, query.subject)):
            if value is not None:
                filters.append(column == value)
        return filters
