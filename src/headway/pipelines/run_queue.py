"""Pipeline runs waiting for a worker: a queue of the store's one ``WorkQueue``.

Any worker can take a queued run; a crashed worker's run comes back when its lease runs
out (counting an attempt, dead-lettered as ``failed`` after the last). Claims, leases,
fencing and backoff are ``headway.store.queue``'s, shared with background jobs, batches
and webhook deliveries. Why not procrastinate: docs/stack.md ("The work queue").
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, insert, select

from headway.pipelines.tables import pipeline_jobs
from headway.store import Database, QueueShape, SqlRepository, WorkQueue, backoff

c = pipeline_jobs.c


def _worker_lost(now: float, attempts: int) -> dict[str, Any]:
    return {"status": "failed", "finished_at": now, "error": "worker lost (lease expired) on the last attempt"}


RUN_QUEUE = QueueShape(
    table=pipeline_jobs,
    key="job_id",
    lease_owner="worker",
    waiting=("queued",),
    running="running",
    order=("run_after",),
    dead=_worker_lost,
)


@dataclass(slots=True)
class QueuedRun:
    job_id: str
    pipeline: str
    trigger: str
    status: str
    attempts: int
    max_attempts: int
    run_after: float
    lease_until: float | None
    worker: str | None
    created_at: float
    finished_at: float | None
    last_run_id: str | None
    error: str | None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class RunQueue(SqlRepository):
    def __init__(self, database: Database | Engine) -> None:
        # An Engine is wrapped while the rest of the pipelines part still holds one.
        super().__init__(database if isinstance(database, Database) else Database(database))
        self.queue = WorkQueue(self.database, RUN_QUEUE)

    def enqueue(
        self,
        pipeline: str,
        *,
        trigger: str,
        max_attempts: int,
        run_after: float | None = None,
        dedupe: bool = True,
    ) -> QueuedRun | None:
        """Queue a run; with ``dedupe``, nothing is queued while one is already waiting or running."""
        now = time.time()
        run = QueuedRun(
            f"job_{uuid.uuid4().hex[:20]}", pipeline, trigger, "queued", 0, max_attempts, run_after or now,
            None, None, now, None, None, None,
        )
        with self.transaction("queue a pipeline run") as connection:
            if dedupe:
                waiting = connection.execute(
                    select(c.job_id).where(c.pipeline == pipeline, c.status.in_(("queued", "running"))).limit(1)
                ).first()
                if waiting is not None:
                    return None
            connection.execute(insert(pipeline_jobs).values(**run.to_json()))
        return run

    def claim(self, worker: str, lease_s: float) -> QueuedRun | None:
        row = self.queue.claim(worker, lease_s)
        return QueuedRun(**row) if row is not None else None

    def extend(self, job_id: str, worker: str, lease_s: float) -> bool:
        return job_id in self.queue.renew([job_id], worker, lease_s)

    def complete(self, job_id: str, worker: str, run_id: str | None) -> None:
        self.queue.settle(job_id, worker, {"status": "done", "finished_at": time.time(), "last_run_id": run_id})

    def fail(
        self,
        job_id: str,
        worker: str,
        *,
        error: str,
        run_id: str | None,
        backoff_s: float,
        retry: bool = True,
    ) -> str:
        """Queue the run again after ``backoff_s * 2**(attempts-1)`` or, out of attempts, fail it."""
        with self.reading("read a pipeline run") as connection:
            row = connection.execute(select(c.attempts, c.max_attempts).where(c.job_id == job_id)).first()
        if row is None:
            return "missing"
        attempts, max_attempts = row
        values = {"error": error[:2000], "last_run_id": run_id}
        if retry and attempts < max_attempts:
            delay = backoff(attempts, base_s=backoff_s, cap_s=float("inf"))
            self.queue.retry(job_id, worker, delay_s=delay, values=values)
            return "queued"
        self.queue.settle(job_id, worker, {**values, "status": "failed", "finished_at": time.time()})
        return "failed"

    def list(self, *, pipeline: str | None = None, limit: int = 50) -> list[QueuedRun]:
        statement = select(pipeline_jobs).order_by(c.created_at.desc()).limit(limit)
        if pipeline is not None:
            statement = statement.where(c.pipeline == pipeline)
        with self.reading("list pipeline runs") as connection:
            return [QueuedRun(**row._mapping) for row in connection.execute(statement)]
