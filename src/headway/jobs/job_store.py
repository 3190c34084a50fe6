"""Background jobs in the store: submit, claim with a lease, renew, finish, cancel.

Jobs are a queue of the store's one ``WorkQueue`` (``headway.store.queue``): a worker
claims a job with a lease, renews it while the request runs, and every write that ends
a job is fenced by the lease owner, so a worker that lost its lease cannot overwrite a
newer attempt. A job's webhook is a row of the webhook outbox written in the same
transaction as the job's end: a crash between the two cannot lose it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from headway.jobs.models import Job
from headway.jobs.pages import owned_page
from headway.jobs.tables import jobs
from headway.jobs.webhooks import webhook_id
from headway.store import (
    Database,
    DeliveryState,
    Outbox,
    QueueShape,
    SqlRepository,
    WebhookMessage,
    WorkQueue,
)
from headway.types import JSON

WebhookFor = Callable[[Job], WebhookMessage]

c = jobs.c
# A job's webhook.status as its outbox delivery stands; waiting or being sent is "pending".
_WEBHOOK_STATUS: dict[str, str] = {DeliveryState.DELIVERED: "delivered", DeliveryState.DEAD: "failed"}


def _worker_lost(now: float, attempts: int) -> dict[str, Any]:
    error = {"message": "the job's worker was lost on its last attempt", "type": "api_error", "code": "worker_lost"}
    return {"status": "failed", "finished_at": now, "status_code": 500, "error": error}


JOB_QUEUE = QueueShape(
    table=jobs,
    waiting=("queued",),
    running="in_progress",
    order=("run_after",),
    dead=_worker_lost,
)


class JobStore(SqlRepository):
    def __init__(self, database: Database, *, webhook: WebhookFor | None = None) -> None:
        super().__init__(database)
        self.queue = WorkQueue(database, JOB_QUEUE)
        self.outbox = Outbox(database)
        self.webhook = webhook  # the finished job's webhook message (None: webhooks are off)

    def insert(self, job: Job) -> None:
        with self.transaction("store a job") as connection:
            connection.execute(insert(jobs).values(**asdict(job)))

    def get(self, job_id: str) -> Job | None:
        with self.transaction("read a job") as connection:
            row = connection.execute(select(jobs).where(c.id == job_id)).first()
        return self._with_webhooks([Job.from_row(row._mapping)])[0] if row is not None else None

    def list_owned(self, caller: str, team: str | None, *, limit: int = 20, status: str | None = None) -> list[Job]:
        statement = select(jobs)
        if status is not None:
            statement = statement.where(c.status == status)
        with self.transaction("list jobs") as connection:
            page = owned_page(connection, jobs, statement, caller=caller, team=team, after=None, limit=limit)
            found = [Job.from_row(row._mapping) for row in page]
        return self._with_webhooks(found)

    def list_all(self, *, status: str | None = None, limit: int = 50) -> list[Job]:
        """Every caller's jobs, newest first (operators' CLI)."""
        statement = select(jobs).order_by(c.created_at.desc()).limit(limit)
        if status is not None:
            statement = statement.where(c.status == status)
        with self.transaction("list jobs") as connection:
            found = [Job.from_row(row._mapping) for row in connection.execute(statement)]
        return self._with_webhooks(found)

    def claim(self, owner: str, lease_s: float, *, running: Sequence[str] = ()) -> Job | None:
        """Take one job to run; ``None`` when there is none.
        ``running``: jobs this worker runs already (a lapsed lease must not start them twice)."""
        row = self.queue.claim(
            owner,
            lease_s,
            exclude=running,
            values=lambda now: {"started_at": func.coalesce(c.started_at, now)},
            on_dead=self._queue_webhook_of,
        )
        return Job.from_row(row) if row is not None else None

    def renew(self, job_ids: Sequence[str], owner: str, lease_s: float) -> tuple[set[str], set[str]]:
        """Extend the leases still held; return (held, held and asked to cancel)."""
        held = self.queue.renew(job_ids, owner, lease_s, read=("cancel_requested",))
        return set(held), {job_id for job_id, row in held.items() if row["cancel_requested"]}

    def finish(
        self,
        job: Job,
        owner: str,
        *,
        status: str,
        status_code: int | None,
        result: JSON | None = None,
        error: JSON | None = None,
        cost_usd: float | None = None,
    ) -> bool:
        """Record the outcome, fenced by the lease, and queue its webhook in the same transaction."""
        values: JSON = {
            "status": status,
            "status_code": status_code,
            "result": result,
            "error": error,
            "cost_usd": cost_usd,
            "finished_at": time.time(),
            "request_id": job.request_id,
        }
        finished = Job.from_row({**asdict(job), **values})
        return self.queue.settle(job.id, owner, values, then=lambda connection: self._queue_webhook(connection, finished))

    def requeue(self, job: Job, owner: str, *, run_after: float, error: JSON | None) -> bool:
        """Give a shed job back to the queue to try again after ``run_after``."""
        return self.queue.retry(job.id, owner, delay_s=max(0.0, run_after - time.time()), values={"error": error})

    # -- webhooks -----------------------------------------------------------------------------
    def _with_webhooks(self, found: list[Job]) -> list[Job]:
        """Each finished job's ``webhook`` as its outbox delivery stands (pending, delivered, failed)."""
        due = {webhook_id(job): job for job in found if job.webhook_url is not None and job.done}
        for message_id, entry in self.outbox.by_webhook_id(list(due)).items():
            job = due[message_id]
            job.webhook_status = _WEBHOOK_STATUS.get(entry.status, "pending")
            job.webhook_attempts = entry.attempts
            job.webhook_error = entry.last_error
        return found

    def _queue_webhook(self, connection: Connection, job: Job) -> None:
        if job.webhook_url is not None and self.webhook is not None:
            self.outbox.enqueue([self.webhook(job)], connection=connection)

    def _queue_webhook_of(self, connection: Connection, job_id: str) -> None:
        row = connection.execute(select(jobs).where(c.id == job_id)).first()
        if row is not None:
            self._queue_webhook(connection, Job.from_row(row._mapping))

    def request_cancel(self, job_id: str) -> Job | None:
        """A queued job is cancelled now (it never starts); a running one is flagged for its worker."""
        now = time.time()
        with self.transaction("cancel a job") as connection:
            cancelled = connection.execute(
                update(jobs)
                .where(c.id == job_id, c.status == "queued")
                .values(status="cancelled", cancel_requested=True, finished_at=now, status_code=None)
            ).rowcount
            connection.execute(update(jobs).where(c.id == job_id, c.status == "in_progress").values(cancel_requested=True))
            row = connection.execute(select(jobs).where(c.id == job_id)).first()
            if cancelled and row is not None:
                self._queue_webhook(connection, Job.from_row(row._mapping))
        return Job.from_row(row._mapping) if row is not None else None

    def release(self, job_ids: Sequence[str], owner: str) -> None:
        """Hand leases back at shutdown so another worker takes the jobs at once."""
        self.queue.release(job_ids, owner)
