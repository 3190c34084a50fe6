"""Background jobs in the store: submit, claim with a lease, renew, finish, cancel.

A worker claims a job by writing its name and a lease end; the claiming ``UPDATE``
repeats the eligibility test, so exactly one worker wins (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL keeps the others from queueing behind the row). Writes that end a job are
fenced by the lease owner: a worker that lost its lease cannot overwrite a newer
attempt. A finished job keeps its lease until its webhook is delivered, so a crash
between the two leaves the delivery to another worker.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict

from sqlalchemy import ColumnElement, Engine, and_, insert, or_, select, update

from headway.jobs.db import skip_locked, transaction
from headway.jobs.models import JOB_TERMINAL, Job
from headway.jobs.tables import jobs
from headway.types import JSON

c = jobs.c


def _claimable(now: float) -> ColumnElement[bool]:
    lease_free = or_(c.lease_until.is_(None), c.lease_until < now)
    return or_(
        and_(c.status == "queued", c.run_after <= now),
        and_(c.status == "in_progress", lease_free),
        # Finished, but its webhook is not yet delivered (its worker died before it was).
        and_(c.status.in_(tuple(JOB_TERMINAL)), c.webhook_status == "pending", lease_free),
    )


class JobStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def insert(self, job: Job) -> None:
        with transaction(self.engine, "store a job") as connection:
            connection.execute(insert(jobs).values(**asdict(job)))

    def get(self, job_id: str) -> Job | None:
        with transaction(self.engine, "read a job") as connection:
            row = connection.execute(select(jobs).where(c.id == job_id)).first()
        return Job.from_row(row._mapping) if row is not None else None

    def list_owned(self, caller: str, team: str | None, *, limit: int = 20, status: str | None = None) -> list[Job]:
        statement = select(jobs).where(c.caller == caller).order_by(c.created_at.desc(), c.id.desc()).limit(limit)
        statement = statement.where(c.team.is_(None) if team is None else c.team == team)
        if status is not None:
            statement = statement.where(c.status == status)
        with transaction(self.engine, "list jobs") as connection:
            return [Job.from_row(row._mapping) for row in connection.execute(statement)]

    def list_all(self, *, status: str | None = None, limit: int = 50) -> list[Job]:
        """Every caller's jobs, newest first (operators' CLI)."""
        statement = select(jobs).order_by(c.created_at.desc()).limit(limit)
        if status is not None:
            statement = statement.where(c.status == status)
        with transaction(self.engine, "list jobs") as connection:
            return [Job.from_row(row._mapping) for row in connection.execute(statement)]

    def claim(self, owner: str, lease_s: float, *, running: Sequence[str] = ()) -> Job | None:
        """Take one job to run (or whose webhook to deliver); ``None`` when there is none.
        ``running``: jobs this worker runs already (a lapsed lease must not start them twice)."""
        now = time.time()
        with transaction(self.engine, "claim a job") as connection:
            candidate = (
                select(c.id, c.status, c.attempts, c.max_attempts)
                .where(_claimable(now), c.id.not_in(running))
                .order_by(c.run_after)
                .limit(1)
            )
            if skip_locked(connection):
                candidate = candidate.with_for_update(skip_locked=True)
            row = connection.execute(candidate).first()
            if row is None:
                return None
            job_id, status, attempts, max_attempts = row
            values: JSON = {"lease_owner": owner, "lease_until": now + lease_s}
            if status not in JOB_TERMINAL:
                if attempts >= max_attempts:
                    # Its worker died on the last attempt: give up rather than loop forever.
                    connection.execute(
                        update(jobs)
                        .where(c.id == job_id, _claimable(now))
                        .values(
                            status="failed",
                            finished_at=now,
                            status_code=500,
                            error={"message": "the job's worker was lost on its last attempt", "type": "api_error", "code": "worker_lost"},
                            lease_owner=None,
                            lease_until=None,
                        )
                    )
                    return None
                values.update(status="in_progress", attempts=attempts + 1)
            claimed = connection.execute(update(jobs).where(c.id == job_id, _claimable(now)).values(**values))
            if not claimed.rowcount:
                return None
            fresh = connection.execute(select(jobs).where(c.id == job_id)).first()
            if fresh is not None and status not in JOB_TERMINAL and fresh.started_at is None:
                connection.execute(update(jobs).where(c.id == job_id).values(started_at=now))
        return Job.from_row(fresh._mapping) if fresh is not None else None

    def renew(self, job_ids: Sequence[str], owner: str, lease_s: float) -> tuple[set[str], set[str]]:
        """Extend the leases still held; return (held, held and asked to cancel)."""
        if not job_ids:
            return set(), set()
        with transaction(self.engine, "renew job leases") as connection:
            connection.execute(
                update(jobs).where(c.id.in_(job_ids), c.lease_owner == owner).values(lease_until=time.time() + lease_s)
            )
            rows = connection.execute(
                select(c.id, c.cancel_requested).where(c.id.in_(job_ids), c.lease_owner == owner)
            ).all()
        return {r.id for r in rows}, {r.id for r in rows if r.cancel_requested}

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
        """Record the outcome, fenced by the lease; the lease stays while a webhook is due."""
        values: JSON = {
            "status": status,
            "status_code": status_code,
            "result": result,
            "error": error,
            "cost_usd": cost_usd,
            "finished_at": time.time(),
            "request_id": job.request_id,
        }
        if job.webhook_url is None:
            values.update(lease_owner=None, lease_until=None)
        with transaction(self.engine, "finish a job") as connection:
            done = connection.execute(
                update(jobs).where(c.id == job.id, c.lease_owner == owner, c.status == "in_progress").values(**values)
            )
        return bool(done.rowcount)

    def requeue(self, job: Job, owner: str, *, run_after: float, error: JSON | None) -> bool:
        """Give a shed job back to the queue to try again after ``run_after``."""
        with transaction(self.engine, "requeue a job") as connection:
            done = connection.execute(
                update(jobs)
                .where(c.id == job.id, c.lease_owner == owner, c.status == "in_progress")
                .values(status="queued", run_after=run_after, error=error, lease_owner=None, lease_until=None)
            )
        return bool(done.rowcount)

    def set_request_id(self, job_id: str, owner: str, request_id: str) -> None:
        with transaction(self.engine, "update a job") as connection:
            connection.execute(update(jobs).where(c.id == job_id, c.lease_owner == owner).values(request_id=request_id))

    def webhook_done(self, job_id: str, owner: str, *, delivered: bool, attempts: int, error: str | None) -> None:
        with transaction(self.engine, "record a webhook delivery") as connection:
            connection.execute(
                update(jobs)
                .where(c.id == job_id, c.lease_owner == owner)
                .values(
                    webhook_status="delivered" if delivered else "failed",
                    webhook_attempts=c.webhook_attempts + attempts,
                    webhook_error=error,
                    lease_owner=None,
                    lease_until=None,
                )
            )

    def request_cancel(self, job_id: str) -> Job | None:
        """A queued job is cancelled now (it never starts); a running one is flagged for its worker."""
        now = time.time()
        with transaction(self.engine, "cancel a job") as connection:
            connection.execute(
                update(jobs)
                .where(c.id == job_id, c.status == "queued")
                .values(status="cancelled", cancel_requested=True, finished_at=now, status_code=None)
            )
            connection.execute(update(jobs).where(c.id == job_id, c.status == "in_progress").values(cancel_requested=True))
            row = connection.execute(select(jobs).where(c.id == job_id)).first()
        return Job.from_row(row._mapping) if row is not None else None

    def release(self, job_ids: Sequence[str], owner: str) -> None:
        """Hand leases back at shutdown so another worker takes the jobs at once."""
        if not job_ids:
            return
        with transaction(self.engine, "release job leases") as connection:
            connection.execute(update(jobs).where(c.id.in_(job_ids), c.lease_owner == owner).values(lease_until=0.0))
