"""Batches and their lines in the store.

A batch is claimed whole, with a lease, by one worker at a time; its lines are rows.
Each answered line commits on its own, together with the batch's counters, and only
while the line is still pending: a line is never counted or written twice, even when a
worker that lost its lease finishes a line another worker has already answered.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, insert, select, update

from headway.jobs.models import BATCH_ACTIVE, BATCH_TERMINAL, Batch, ItemResult, PendingItem
from headway.jobs.pages import owned_page
from headway.jobs.tables import batch_items, batches
from headway.store import Database, Outbox, QueueShape, SqlRepository, WebhookMessage, WorkQueue
from headway.types import JSON

b = batches.c
BatchWebhookFor = Callable[[Batch], WebhookMessage | None]
i = batch_items.c
# A batch whose worker died this many times is failed rather than retried forever.
MAX_CLAIMS = 20
_INSERT_CHUNK = 1000


def _worker_lost(now: float, attempts: int) -> dict[str, Any]:
    error = {"code": "worker_lost", "message": f"the batch's worker was lost {attempts} times", "line": None, "param": None}
    return {"status": "failed", "failed_at": now, "errors": {"object": "list", "data": [error]}}


# A batch is claimed whole; its status is its own lifecycle (a claim leaves it alone).
BATCH_QUEUE = QueueShape(
    table=batches,
    waiting=BATCH_ACTIVE,
    running=None,
    max_attempts=MAX_CLAIMS,
    run_after=None,
    order=("created_at",),
    dead=_worker_lost,
)


class BatchStore(SqlRepository):
    def __init__(self, database: Database, *, webhook: BatchWebhookFor | None = None) -> None:
        super().__init__(database)
        self.queue = WorkQueue(database, BATCH_QUEUE)
        self.outbox = Outbox(database)
        self.webhook = webhook  # the ended batch's webhook message, when it asked for one (None: webhooks off)

    def create(self, batch: Batch, items: Sequence[JSON]) -> None:
        """The batch and all its lines, in one transaction."""
        with self.transaction("store a batch") as connection:
            connection.execute(insert(batches).values(**asdict(batch)))
            for start in range(0, len(items), _INSERT_CHUNK):
                connection.execute(insert(batch_items), list(items[start : start + _INSERT_CHUNK]))

    def get(self, batch_id: str) -> Batch | None:
        with self.transaction("read a batch") as connection:
            row = connection.execute(select(batches).where(b.id == batch_id)).first()
        return Batch.from_row(row._mapping) if row is not None else None

    def list_owned(self, caller: str, team: str | None, *, after: str | None = None, limit: int = 20) -> list[Batch]:
        """Newest first; ``after`` is the id of the last batch of the previous page."""
        with self.transaction("list batches") as connection:
            page = owned_page(connection, batches, select(batches), caller=caller, team=team, after=after, limit=limit)
            return [Batch.from_row(row._mapping) for row in page]

    def list_all(self, *, status: str | None = None, limit: int = 50) -> list[Batch]:
        """Every caller's batches, newest first (operators' CLI)."""
        statement = select(batches).order_by(b.created_at.desc()).limit(limit)
        if status is not None:
            statement = statement.where(b.status == status)
        with self.transaction("list batches") as connection:
            return [Batch.from_row(row._mapping) for row in connection.execute(statement)]

    def claim(self, owner: str, lease_s: float, *, running: Sequence[str] = ()) -> Batch | None:
        """Take a batch to run; ``running``: those this worker runs already (its lease may have lapsed)."""
        row = self.queue.claim(owner, lease_s, exclude=running, on_dead=self._queue_webhook)
        return Batch.from_row(row) if row is not None else None

    def start(self, batch_id: str, owner: str) -> None:
        with self.transaction("start a batch") as connection:
            connection.execute(
                update(batches)
                .where(b.id == batch_id, b.lease_owner == owner, b.status == "validating")
                .values(status="in_progress", in_progress_at=time.time())
            )

    def pending(self, batch_id: str, *, after_line: int, limit: int) -> list[PendingItem]:
        statement = (
            select(i.line, i.item_id, i.custom_id, i.body)
            .where(i.batch_id == batch_id, i.status == "pending", i.line > after_line)
            .order_by(i.line)
            .limit(limit)
        )
        with self.transaction("read batch lines") as connection:
            return [PendingItem(r.line, r.item_id, r.custom_id, r.body) for r in connection.execute(statement)]

    def commit(self, batch_id: str, result: ItemResult) -> bool:
        """Answer one line and count it, atomically; ``False`` when it was already answered."""
        with self.transaction("commit a batch line") as connection:
            done = connection.execute(
                update(batch_items)
                .where(i.batch_id == batch_id, i.line == result.line, i.status == "pending")
                .values(
                    status="completed" if result.ok else "failed",
                    output=result.output,
                    cost_usd=result.cost_usd,
                    finished_at=time.time(),
                )
            )
            if not done.rowcount:
                return False
            counter = b.completed if result.ok else b.failed
            connection.execute(
                update(batches)
                .where(b.id == batch_id)
                .values(
                    {
                        counter: counter + 1,
                        b.cost_usd: b.cost_usd + result.cost_usd,
                        b.input_tokens: b.input_tokens + result.input_tokens,
                        b.output_tokens: b.output_tokens + result.output_tokens,
                        b.cached_tokens: b.cached_tokens + result.cached_tokens,
                        b.reasoning_tokens: b.reasoning_tokens + result.reasoning_tokens,
                    }
                )
            )
        return True

    def renew(self, batch_ids: Sequence[str], owner: str, lease_s: float) -> dict[str, str]:
        """Extend the leases still held; return the status of each batch still held."""
        return {batch_id: row["status"] for batch_id, row in self.queue.renew(batch_ids, owner, lease_s, read=("status",)).items()}

    def request_cancel(self, batch_id: str) -> Batch | None:
        with self.transaction("cancel a batch") as connection:
            connection.execute(
                update(batches)
                .where(b.id == batch_id, b.status.in_(("validating", "in_progress")))
                .values(status="cancelling", cancelling_at=time.time())
            )
            row = connection.execute(select(batches).where(b.id == batch_id)).first()
        return Batch.from_row(row._mapping) if row is not None else None

    def set_status(self, batch_id: str, owner: str, status: str, **values: Any) -> bool:
        """Move a batch on, fenced by its lease; an end queues its webhook in the same transaction."""
        with self.transaction("update a batch") as connection:
            done = connection.execute(
                update(batches).where(b.id == batch_id, b.lease_owner == owner).values(status=status, **values)
            )
            if done.rowcount and status in BATCH_TERMINAL:
                self._queue_webhook(connection, batch_id)
        return bool(done.rowcount)

    def _queue_webhook(self, connection: Connection, batch_id: str) -> None:
        if self.webhook is None:
            return
        row = connection.execute(select(batches).where(b.id == batch_id)).first()
        message = self.webhook(Batch.from_row(row._mapping)) if row is not None else None
        if message is not None:
            self.outbox.enqueue([message], connection=connection)

    def lines(self, batch_id: str) -> list[tuple[int, str, str | None, str, JSON | None]]:
        """Every line as (line, item_id, custom_id, status, output), in file order."""
        statement = (
            select(i.line, i.item_id, i.custom_id, i.status, i.output).where(i.batch_id == batch_id).order_by(i.line)
        )
        with self.transaction("read batch lines") as connection:
            return [(r.line, r.item_id, r.custom_id, r.status, r.output) for r in connection.execute(statement)]

    def release(self, batch_ids: Sequence[str], owner: str) -> None:
        self.queue.release(batch_ids, owner)
