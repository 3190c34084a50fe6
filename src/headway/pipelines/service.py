"""The pipelines part as the gateway process holds it: scheduler, workers, counters.

Embedded (SQLite) and scaled out (PostgreSQL) run the same code: the scheduler claims
cadence slots and queues jobs in the store, and this process's workers take jobs from
that queue — in embedded mode that is the only process, so jobs run in process; scaled
out, any replica (or ``headway pipeline worker``) takes any job.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from headway.config import PipelinesConfig
from headway.errors import NotFoundError
from headway.pipelines.evaluate import SCHEMA_REFUSED
from headway.pipelines.repository import PipelineRepository, RunRecord
from headway.pipelines.run_queue import QueuedRun, RunQueue
from headway.pipelines.runner import PipelineBusyError, RunnerDeps, run_pipeline
from headway.pipelines.scheduler import Scheduler
from headway.tasks import cancel_and_wait

log = logging.getLogger("headway.pipelines")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class PipelineService:
    config: PipelinesConfig
    deps: RunnerDeps
    owner: str = field(default_factory=worker_id)
    runs: Counter[str] = field(default_factory=Counter)  # status -> runs finished here, read by metrics
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stopping: asyncio.Event | None = None

    @property
    def repository(self) -> PipelineRepository:
        return PipelineRepository(self.deps.database)

    @property
    def queue(self) -> RunQueue:
        return RunQueue(self.deps.database)

    @property
    def alert_counts(self) -> Counter[tuple[str, str]]:
        """(pipeline, kind) -> alerts raised by this process."""
        return self.deps.alerter.counts

    def pipeline(self, name: str) -> None:
        if name not in self.config.definitions:
            known = ", ".join(sorted(self.config.definitions)) or "none defined"
            raise NotFoundError(
                f"No pipeline {name!r} (known: {known})", param="name", code="pipeline_not_found"
            )

    async def start(self) -> None:
        scheduler = self.config.scheduler
        if not self.config.definitions or not scheduler.enabled:
            return
        self._stopping = asyncio.Event()
        if any(p.schedule is not None for p in self.config.definitions.values()):
            self._tasks.append(asyncio.create_task(self._schedule_loop(), name="headway-pipeline-scheduler"))
        for index in range(scheduler.workers):
            self._tasks.append(
                asyncio.create_task(self._work_loop(), name=f"headway-pipeline-worker-{index}")
            )

    async def close(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        await cancel_and_wait(*self._tasks)
        self._tasks.clear()

    async def _sleep(self, seconds: float) -> bool:
        """Wait, returning True when the service is stopping."""
        assert self._stopping is not None
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
            return True
        except TimeoutError:
            return False

    async def _schedule_loop(self) -> None:
        scheduler = Scheduler(self.config, self.repository, self.queue, self.owner)
        while True:
            try:
                fired = await asyncio.to_thread(scheduler.tick, time.time())
                for name in fired:
                    log.info("pipeline scheduled", extra={"pipeline": name})
            except Exception:
                log.exception("pipeline scheduler tick failed")
            if await self._sleep(self.config.scheduler.poll_s):
                return

    async def _work_loop(self) -> None:
        poll = self.config.scheduler.poll_s
        while True:
            try:
                job = await asyncio.to_thread(self.queue.claim, self.owner, self.config.scheduler.lease_s)
                if job is not None:
                    await self.work(job)
                    continue
            except Exception:
                log.exception("pipeline worker failed")
            if await self._sleep(poll):
                return

    async def work(self, job: QueuedRun) -> RunRecord | None:
        """Run one claimed job, keeping its lease alive; requeue with backoff on failure."""
        definition = self.config.definitions.get(job.pipeline)
        queue = self.queue
        worker = job.worker or self.owner
        if definition is None:
            await asyncio.to_thread(
                queue.fail,
                job.job_id,
                worker,
                error="pipeline no longer configured",
                run_id=None,
                backoff_s=0,
                retry=False,
            )
            return None
        lease = self.config.scheduler.lease_s
        heartbeat = asyncio.create_task(self._heartbeat(job, worker, lease))
        try:
            run = await run_pipeline(
                job.pipeline,
                definition,
                self.deps,
                trigger=job.trigger if job.attempts == 1 else "retry",
                attempt=job.attempts,
            )
        except PipelineBusyError as exc:
            await asyncio.to_thread(
                queue.fail,
                job.job_id,
                worker,
                error=str(exc),
                run_id=None,
                backoff_s=definition.retry.backoff_s,
            )
            return None
        finally:
            await cancel_and_wait(heartbeat)
        self.runs[run.status] += 1
        if run.status == "failed":
            # A policy refusal will refuse again: retrying only helps transient failures.
            retry = not (run.error or "").startswith(SCHEMA_REFUSED)
            outcome = await asyncio.to_thread(
                queue.fail,
                job.job_id,
                worker,
                error=run.error or "failed",
                run_id=run.run_id,
                backoff_s=definition.retry.backoff_s,
                retry=retry,
            )
            log.warning(
                "pipeline job failed", extra={"pipeline": job.pipeline, "job_id": job.job_id, "next": outcome}
            )
        else:
            await asyncio.to_thread(queue.complete, job.job_id, worker, run.run_id)
        return run

    async def _heartbeat(self, job: QueuedRun, worker: str, lease: float) -> None:
        while True:
            await asyncio.sleep(lease / 3)
            await asyncio.to_thread(self.queue.extend, job.job_id, worker, lease)

    async def run_now(self, name: str, *, trigger: str = "api") -> RunRecord:
        self.pipeline(name)
        run = await run_pipeline(name, self.config.definitions[name], self.deps, trigger=trigger)
        self.runs[run.status] += 1
        return run

    async def enqueue(self, name: str, *, trigger: str = "api") -> QueuedRun | None:
        self.pipeline(name)
        attempts = self.config.definitions[name].retry.attempts
        return await asyncio.to_thread(self.queue.enqueue, name, trigger=trigger, max_attempts=attempts)
