"""A job queue on the store: any worker can take a job; a crashed worker's job comes back.

A job is claimed by setting a lease (``lease_until``); the running worker extends it
while it works. When a worker dies, its lease runs out and the next ``claim`` takes the
job again (counting an attempt). On PostgreSQL the claim reads with
``FOR UPDATE SKIP LOCKED`` so workers never queue behind each other; on SQLite the
database's single writer serialises claims. Either way the claiming ``UPDATE`` repeats
the eligibility test, so exactly one worker wins a job. Why not procrastinate: see
docs/pipelines.md ("Scale").
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass

from sqlalchemy import ColumnElement, Engine, and_, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from headway.errors import StoreUnavailableError
from headway.pipelines.tables import pipeline_jobs


@dataclass(slots=True)
class Job:
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


def _eligible(now: float) -> ColumnElement[bool]:
    c = pipeline_jobs.c
    return or_(
        and_(c.status == "queued", c.run_after <= now), and_(c.status == "running", c.lease_until < now)
    )


class JobQueue:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def enqueue(
        self,
        pipeline: str,
        *,
        trigger: str,
        max_attempts: int,
        run_after: float | None = None,
        dedupe: bool = True,
    ) -> Job | None:
        """Queue a run; with ``dedupe``, nothing is queued while one is already waiting or running."""
        now = time.time()
        c = pipeline_jobs.c
        job = Job(
            f"job_{uuid.uuid4().hex[:20]}",
            pipeline,
            trigger,
            "queued",
            0,
            max_attempts,
            run_after or now,
            None,
            None,
            now,
            None,
            None,
            None,
        )
        try:
            with self.engine.begin() as connection:
                if dedupe:
                    waiting = connection.execute(
                        select(c.job_id)
                        .where(c.pipeline == pipeline, c.status.in_(("queued", "running")))
                        .limit(1)
                    ).first()
                    if waiting is not None:
                        return None
                connection.execute(insert(pipeline_jobs).values(**job.to_json()))
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(f"cannot queue a pipeline job: {exc.__class__.__name__}") from exc
        return job

    def claim(self, worker: str, lease_s: float) -> Job | None:
        now = time.time()
        c = pipeline_jobs.c
        try:
            with self.engine.begin() as connection:
                candidate = (
                    select(c.job_id, c.attempts, c.max_attempts)
                    .where(_eligible(now))
                    .order_by(c.run_after)
                    .limit(1)
                )
                if connection.dialect.name == "postgresql":
                    candidate = candidate.with_for_update(skip_locked=True)
                row = connection.execute(candidate).first()
                if row is None:
                    return None
                job_id, attempts, max_attempts = row
                if attempts >= max_attempts:
                    # Its worker died on the last attempt: give up rather than loop forever.
                    connection.execute(
                        update(pipeline_jobs)
                        .where(c.job_id == job_id)
                        .values(
                            status="failed",
                            finished_at=now,
                            error="worker lost (lease expired) on the last attempt",
                        )
                    )
                    return None
                claimed = connection.execute(
                    update(pipeline_jobs)
                    .where(c.job_id == job_id, _eligible(now))
                    .values(status="running", worker=worker, lease_until=now + lease_s, attempts=attempts + 1)
                )
                if not claimed.rowcount:
                    return None
                fresh = connection.execute(select(pipeline_jobs).where(c.job_id == job_id)).first()
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(f"cannot claim a pipeline job: {exc.__class__.__name__}") from exc
        return Job(**fresh._mapping) if fresh is not None else None

    def extend(self, job_id: str, worker: str, lease_s: float) -> bool:
        c = pipeline_jobs.c
        with self.engine.begin() as connection:
            result = connection.execute(
                update(pipeline_jobs)
                .where(c.job_id == job_id, c.worker == worker, c.status == "running")
                .values(lease_until=time.time() + lease_s)
            )
        return bool(result.rowcount)

    def complete(self, job_id: str, worker: str, run_id: str | None) -> None:
        c = pipeline_jobs.c
        with self.engine.begin() as connection:
            connection.execute(
                update(pipeline_jobs)
                .where(c.job_id == job_id, c.worker == worker)
                .values(status="done", finished_at=time.time(), last_run_id=run_id, lease_until=None)
            )

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
        """Queue the job again after ``backoff_s * 2**(attempts-1)`` or, out of attempts, fail it."""
        c = pipeline_jobs.c
        with self.engine.begin() as connection:
            row = connection.execute(select(c.attempts, c.max_attempts).where(c.job_id == job_id)).first()
            if row is None:
                return "missing"
            attempts, max_attempts = row
            now = time.time()
            if retry and attempts < max_attempts:
                values = {
                    "status": "queued",
                    "run_after": now + backoff_s * 2 ** max(0, attempts - 1),
                    "lease_until": None,
                }
            else:
                values = {"status": "failed", "finished_at": now, "lease_until": None}
            connection.execute(
                update(pipeline_jobs)
                .where(c.job_id == job_id, c.worker == worker)
                .values(**values, error=error[:2000], last_run_id=run_id)
            )
            return str(values["status"])

    def list(self, *, pipeline: str | None = None, limit: int = 50) -> list[Job]:
        c = pipeline_jobs.c
        statement = select(pipeline_jobs).order_by(c.created_at.desc()).limit(limit)
        if pipeline is not None:
            statement = statement.where(c.pipeline == pipeline)
        with self.engine.connect() as connection:
            return [Job(**row._mapping) for row in connection.execute(statement)]
