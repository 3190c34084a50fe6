"""The job worker: claims background jobs and batches from the store and runs them.

Any number of workers (inside ``headway serve`` replicas, or ``headway worker``
processes) share one store; each claims with a lease and renews it every third of
``lease_s`` while it works. Renewal is also when a worker learns that a job or batch
it runs was cancelled, or that its lease was lost (then it stops without writing).
A finished job's webhook is queued in the webhook outbox with its outcome (``job_store``).
Wake-ups (``new``, ``cancel:…``) arrive over the shared backend's publish/subscribe so
a submitted job starts at once; they are hints, and an idle worker also polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any

from headway.config import JobsConfig
from headway.errors import StoreUnavailableError
from headway.jobs.batch_run import LOST, SHUTDOWN, BatchRun
from headway.jobs.batch_store import BatchStore
from headway.jobs.batch_throttle import BatchThrottle
from headway.jobs.execute import Answer, Execute, new_request_id
from headway.jobs.file_store import FileStore
from headway.jobs.job_store import JobStore
from headway.jobs.models import Batch, Job
from headway.jobs.principal import decode_context
from headway.store import backoff
from headway.types import JSON

log = logging.getLogger("headway.jobs")

_RETRY_BASE_S = 1.0
_RETRY_CAP_S = 300.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    def __init__(
        self,
        execute: Execute,
        config: JobsConfig,
        *,
        jobs: JobStore,
        batches: BatchStore,
        files: FileStore,
        throttle: BatchThrottle,
        announce: Callable[[str], Coroutine[Any, Any, None]],
    ) -> None:
        self.execute = execute
        self.config = config
        self.jobs = jobs
        self.batches = batches
        self.files = files
        self.throttle = throttle
        self.announce = announce  # publish a "done:<id>" wake-up to every replica
        self.owner = worker_name()
        self.running: dict[str, asyncio.Task[None]] = {}  # job id -> its task
        self.cancellable: dict[str, asyncio.Task[Answer]] = {}  # job id -> task while the request is in flight
        self.cancel_reasons: dict[str, str] = {}
        self.runs: dict[str, tuple[BatchRun, asyncio.Task[None]]] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._claim_loop(), name="headway-jobs-claim"),
            asyncio.create_task(self._renew_loop(), name="headway-jobs-renew"),
        ]

    async def close(self) -> None:
        """Stop claiming, cancel what runs and hand the leases back so another worker goes on at once."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for job_id in list(self.cancellable):
            self._cancel_job(job_id, SHUTDOWN)
        for run, _ in self.runs.values():
            run.stop(SHUTDOWN)
        pending = [*self.running.values(), *(task for _, task in self.runs.values()), *self._tasks]
        if pending:
            await asyncio.wait(pending, timeout=10)
        with contextlib.suppress(StoreUnavailableError):
            await asyncio.to_thread(self.jobs.release, list(self.running), self.owner)
            await asyncio.to_thread(self.batches.release, list(self.runs), self.owner)

    def wake(self) -> None:
        self._wake.set()

    def on_signal(self, message: str) -> None:
        """A wake-up from any replica: ``new``, ``cancel:job:<id>`` or ``cancel:batch:<id>``."""
        if message == "new":
            self.wake()
        elif message.startswith("cancel:job:"):
            self._cancel_job(message.removeprefix("cancel:job:"), "cancel")
        elif message.startswith("cancel:batch:"):
            entry = self.runs.get(message.removeprefix("cancel:batch:"))
            if entry is not None:
                entry[0].stop("cancelled")

    # -- claiming -------------------------------------------------------------------------
    async def _claim_loop(self) -> None:
        while not self._closing:
            self._wake.clear()
            try:
                while len(self.running) < self.config.max_running:
                    job = await asyncio.to_thread(self.jobs.claim, self.owner, self.config.lease_s, running=list(self.running))
                    if job is None:
                        break
                    self._spawn_job(job)
                while len(self.runs) < self.config.batch.max_batches:
                    batch = await asyncio.to_thread(self.batches.claim, self.owner, self.config.lease_s, running=list(self.runs))
                    if batch is None:
                        break
                    self._spawn_batch(batch)
            except StoreUnavailableError as exc:
                log.warning("job worker cannot reach the store: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.poll_interval_s)

    def _spawn_job(self, job: Job) -> None:
        task = asyncio.create_task(self._run_job(job), name=f"headway-job-{job.id}")
        self.running[job.id] = task

        def done(_: asyncio.Task[None]) -> None:
            self.running.pop(job.id, None)
            self.cancellable.pop(job.id, None)
            self.cancel_reasons.pop(job.id, None)
            self.wake()

        task.add_done_callback(done)

    def _spawn_batch(self, batch: Batch) -> None:
        run = BatchRun(
            self.execute,
            batch,
            owner=self.owner,
            store=self.batches,
            files=self.files,
            throttle=self.throttle,
            config=self.config.batch,
            retention_s=self.config.retention_s,
            on_done=lambda batch_id: self._announce_soon(batch_id),
        )
        task = asyncio.create_task(self._guarded(run), name=f"headway-batch-{batch.id}")
        self.runs[batch.id] = (run, task)

        def done(_: asyncio.Task[None]) -> None:
            self.runs.pop(batch.id, None)
            self.wake()

        task.add_done_callback(done)

    async def _guarded(self, run: BatchRun) -> None:
        try:
            await run.run()
        except StoreUnavailableError as exc:  # the lease runs out and the batch is taken up again
            log.warning("batch %s stopped: %s", run.batch.id, exc)
        except Exception:
            log.exception("batch %s stopped unexpectedly", run.batch.id)

    def _announce_soon(self, object_id: str) -> None:
        task = asyncio.create_task(self.announce(object_id))
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)

    # -- renewing -------------------------------------------------------------------------
    async def _renew_loop(self) -> None:
        interval = self.config.lease_s / 3
        while not self._closing:
            await asyncio.sleep(interval)
            try:
                await self._renew()
            except StoreUnavailableError as exc:
                log.warning("job worker cannot renew its leases: %s", exc)

    async def _renew(self) -> None:
        job_ids = list(self.running)
        held, cancel = await asyncio.to_thread(self.jobs.renew, job_ids, self.owner, self.config.lease_s)
        for job_id in job_ids:
            if job_id not in held:
                self._cancel_job(job_id, LOST)
            elif job_id in cancel:
                self._cancel_job(job_id, "cancel")
        batch_ids = list(self.runs)
        statuses = await asyncio.to_thread(self.batches.renew, batch_ids, self.owner, self.config.lease_s)
        for batch_id in batch_ids:
            entry = self.runs.get(batch_id)
            if entry is None:
                continue
            status = statuses.get(batch_id)
            if status is None:
                entry[0].stop(LOST)
            elif status == "cancelling":
                entry[0].stop("cancelled")

    # -- one background job -----------------------------------------------------------------
    def _cancel_job(self, job_id: str, reason: str) -> None:
        task = self.cancellable.get(job_id)
        if task is not None and not task.done():
            self.cancel_reasons.setdefault(job_id, reason)
            task.cancel()

    async def _run_job(self, job: Job) -> None:
        try:
            await self._serve_job(job)
        except StoreUnavailableError as exc:  # the lease runs out and the job is taken up again
            log.warning("job %s stopped: %s", job.id, exc)
        except asyncio.CancelledError:
            if not self._closing:
                raise

    async def _serve_job(self, job: Job) -> Job | None:
        """Run the request and record the outcome; the job as stored then, or ``None`` when not ours."""
        if job.cancel_requested:
            return await self._finish(job, "cancelled", None)
        # The first attempt keeps the submitting request's id, so the client can find its record.
        if job.attempts > 1 or job.request_id is None:
            job.request_id = new_request_id()
        ctx = decode_context(job.principal, request_id=job.request_id, origin="job", priority="background")
        request = asyncio.create_task(self.execute(ctx, job.endpoint, job.body))
        self.cancellable[job.id] = request
        try:
            answer = await request
        except asyncio.CancelledError:
            if self.cancel_reasons.get(job.id) == "cancel":
                return await self._finish(job, "cancelled", None)
            raise  # shutdown or lost lease: another attempt runs it
        finally:
            self.cancellable.pop(job.id, None)
        if answer.retryable and job.attempts < job.max_attempts:
            delay = max(answer.retry_after_s or 0.0, backoff(job.attempts, base_s=_RETRY_BASE_S, cap_s=_RETRY_CAP_S))
            error = answer.body.get("error")
            await asyncio.to_thread(self.jobs.requeue, job, self.owner, run_after=time.time() + delay, error=error)
            return None
        if answer.ok:
            return await self._finish(job, "completed", answer.status_code, result=answer.body, cost_usd=answer.cost_usd)
        return await self._finish(job, "failed", answer.status_code, error=answer.body.get("error"), cost_usd=answer.cost_usd)

    async def _finish(
        self,
        job: Job,
        status: str,
        status_code: int | None,
        *,
        result: JSON | None = None,
        error: JSON | None = None,
        cost_usd: float | None = None,
    ) -> Job | None:
        finished = await asyncio.to_thread(
            self.jobs.finish, job, self.owner, status=status, status_code=status_code, result=result, error=error, cost_usd=cost_usd
        )
        if not finished:  # the lease moved on; the newer attempt owns the outcome
            return None
        await self.announce(job.id)
        return await asyncio.to_thread(self.jobs.get, job.id)
