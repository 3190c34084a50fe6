"""``JobService``: background requests, the Batch API and the worker, for one process.

Built by the runtime from ``jobs:``, the store's ``Database`` and the parts it needs (the
routes, access control, the shared backend); the runtime hands it the ``Execute`` that runs
stored requests when it starts it. The HTTP handlers call it with the caller's ``CallContext``. Only the submitter (same caller and team) may read or
cancel what they submitted; anyone else gets a 404, as for an id that does not exist.
Cross-replica wake-ups go over the shared backend on one channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from headway.auth import AuthService
from headway.backends import Backend, ChannelListener
from headway.config import JobsConfig
from headway.errors import InvalidRequestError, NotFoundError
from headway.jobs.batch_service import BatchService, in_store
from headway.jobs.batch_store import BatchStore
from headway.jobs.batch_throttle import BatchThrottle
from headway.jobs.execute import CHAT, Execute, ModelCheck
from headway.jobs.file_store import FileStore
from headway.jobs.job_store import JobStore
from headway.jobs.models import Job, new_id, owned_by
from headway.jobs.prefer import check_webhook_url, upstream_body, webhook_of
from headway.jobs.principal import encode_context
from headway.jobs.webhooks import batch_webhook, job_webhook
from headway.jobs.worker import Worker
from headway.routing import Route, find_route
from headway.store import Database
from headway.types import JSON, CallContext

if TYPE_CHECKING:
    from headway.backends import Subscription

log = logging.getLogger("headway.jobs")

CHANNEL = "jobs"
_WAIT_POLL_S = 0.5  # a waiter re-reads the store this often: wake-ups are hints


def upstream_in_flight(routes: Mapping[str, Route]) -> int:
    """Upstream calls in flight in this process, over every deployment (each counted once)."""
    seen: set[int] = set()
    total = 0
    for route in routes.values():
        for deployment in route.deployments:
            if id(deployment) not in seen:
                seen.add(id(deployment))
                total += deployment.in_flight
    return total


def model_check(routes: Mapping[str, Route], auth: AuthService) -> ModelCheck:
    """Refuse, at submission, a model that does not exist as ``kind`` or that the caller may not use."""

    def check(ctx: CallContext, model: str, kind: str) -> None:
        find_route(routes, model, kind)
        auth.check_model(ctx.attributes, model, actor=ctx.caller, request_id=ctx.request_id)

    return check


class JobService:
    def __init__(
        self,
        config: JobsConfig,
        database: Database,
        *,
        routes: Mapping[str, Route],
        auth: AuthService,
        backend: Backend,
        validate_chat: Callable[[JSON], str],
    ) -> None:
        self.config = config
        self.backend = backend
        self.check_model = model_check(routes, auth)
        self.validate_chat = validate_chat
        self.execute: Execute | None = None  # handed over by the runtime in ``start``
        self.webhooks_enabled = config.webhook_secret is not None
        self.jobs = JobStore(database, webhook=job_webhook if self.webhooks_enabled else None)
        self.files = FileStore(database)
        self.batch_store = BatchStore(database, webhook=batch_webhook if self.webhooks_enabled else None)
        self.throttle = BatchThrottle(
            config.batch.max_concurrency,
            config.batch.yield_at_interactive,
            lambda: upstream_in_flight(routes),
            max_loop_lag_ms=config.batch.max_loop_lag_ms,
        )
        self.batches = BatchService(self.check_model, config, batches=self.batch_store, files=self.files, notify=self._notify_new)
        self.worker: Worker | None = None
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._listener: ChannelListener | None = None

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self, execute: Execute, *, worker: bool | None = None) -> None:
        """Listen for wake-ups and (per config) run the worker; ``execute`` runs each stored request."""
        self.execute = execute
        try:
            self._listener = ChannelListener(self.backend, CHANNEL, self._listen, name="headway-jobs-signals")
        except Exception as exc:  # no wake-ups: workers and waiters still poll
            log.warning("job wake-ups unavailable: %s", exc)
        if self.config.worker if worker is None else worker:
            self.start_worker()

    def start_worker(self) -> Worker:
        if self.execute is None:
            raise RuntimeError("start the job service (with the Execute that runs requests) before its worker")
        if self.worker is None:
            self.worker = Worker(
                self.execute,
                self.config,
                jobs=self.jobs,
                batches=self.batch_store,
                files=self.files,
                throttle=self.throttle,
                announce=self._announce_done,
            )
            self.worker.start()
            self.throttle.lag.start()
        return self.worker

    async def close(self) -> None:
        if self.worker is not None:
            await self.worker.close()
            self.worker = None
        await self.throttle.lag.close()
        if self._listener is not None:
            await self._listener.close()

    # -- wake-ups -------------------------------------------------------------------------
    async def _listen(self, subscription: Subscription) -> None:
        async for raw in subscription:
            message = raw.decode("utf-8", "replace")
            if message.startswith("done:"):
                self._wake_waiters(message.removeprefix("done:"))
            elif self.worker is not None:
                self.worker.on_signal(message)

    async def signal(self, message: str) -> None:
        # The local worker hears it at once; other replicas through the backend.
        if self.worker is not None:
            self.worker.on_signal(message)
        with contextlib.suppress(Exception):
            await self.backend.publish(CHANNEL, message.encode())

    async def _notify_new(self) -> None:
        await self.signal("new")

    async def _announce_done(self, object_id: str) -> None:
        self._wake_waiters(object_id)
        with contextlib.suppress(Exception):
            await self.backend.publish(CHANNEL, f"done:{object_id}".encode())

    def _wake_waiters(self, object_id: str) -> None:
        for event in self._waiters.get(object_id, ()):
            event.set()

    # -- background requests --------------------------------------------------------------
    async def submit(self, ctx: CallContext, body: JSON, *, status_url_base: str) -> Job:
        """Store a chat request as a job (validated first: a bad request is refused now, not later)."""
        if body.get("stream"):
            raise InvalidRequestError("a background request cannot stream; poll, wait or use a webhook instead", param="stream")
        webhook_url = webhook_of(body)
        if webhook_url is not None:
            check_webhook_url(webhook_url, self.config.webhook_hosts)
            if not self.webhooks_enabled:
                raise InvalidRequestError(
                    "webhooks need a signing secret (jobs.webhook_secret) on this gateway", param="webhook", code="webhooks_disabled"
                )
        request = upstream_body(body)
        model = self.validate_chat(request)
        self.check_model(ctx, model, "chat")
        return await self._insert(ctx, CHAT, model, request, status_url_base=status_url_base, webhook_url=webhook_url)

    async def submit_stored(self, ctx: CallContext, endpoint: str, model: str, body: JSON, *, job_id: str) -> Job:
        """Store a request of another endpoint (a background Response), validated by its caller, as a job."""
        self.check_model(ctx, model, "chat")
        return await self._insert(ctx, endpoint, model, body, status_url_base="", webhook_url=None, job_id=job_id)

    async def _insert(
        self,
        ctx: CallContext,
        endpoint: str,
        model: str,
        request: JSON,
        *,
        status_url_base: str,
        webhook_url: str | None,
        job_id: str | None = None,
    ) -> Job:
        now = time.time()
        job_id = job_id or new_id("job_")
        metadata = request.get("metadata") if isinstance(request.get("metadata"), dict) else {}
        job = Job(
            id=job_id,
            status="queued",
            endpoint=endpoint,
            model=model,
            caller=ctx.caller,
            team=ctx.team,
            principal=encode_context(ctx),
            body=request,
            max_attempts=self.config.max_attempts,
            run_after=now,
            created_at=now,
            metadata=dict(metadata or {}),
            request_id=ctx.request_id,
            status_url=f"{status_url_base.rstrip('/')}/v1/jobs/{job_id}",
            webhook_url=webhook_url,
            webhook_status="pending" if webhook_url else None,
        )
        await in_store(self.jobs.insert, job)
        await self._notify_new()
        return job

    async def job(self, ctx: CallContext, job_id: str) -> Job:
        job = await in_store(self.jobs.get, job_id)
        if job is None or not owned_by(job.caller, job.team, ctx.caller, ctx.team):
            raise NotFoundError(f"No job with id {job_id!r}.", param="job_id", code="job_not_found")
        return job

    async def wait(self, ctx: CallContext, job_id: str, timeout_s: float) -> Job:
        """The job once it is finished, or as it is when ``timeout_s`` (capped by ``jobs.max_wait_s``) runs out."""
        deadline = time.monotonic() + min(max(0.0, timeout_s), self.config.max_wait_s)
        event = asyncio.Event()
        self._waiters.setdefault(job_id, set()).add(event)
        try:
            while True:
                job = await self.job(ctx, job_id)
                remaining = deadline - time.monotonic()
                if job.done or remaining <= 0:
                    return job
                event.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), min(remaining, _WAIT_POLL_S))
        finally:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[job_id]

    async def cancel(self, ctx: CallContext, job_id: str) -> Job:
        job = await self.job(ctx, job_id)
        if job.done:
            raise InvalidRequestError(f"job {job_id!r} is already {job.status}", code="job_not_cancellable")
        cancelled = await in_store(self.jobs.request_cancel, job_id)
        await self.signal(f"cancel:job:{job_id}")
        if cancelled is not None and cancelled.done:
            await self._announce_done(job_id)  # its job.cancelled webhook is in the outbox already
        return cancelled or job

    async def list_jobs(self, ctx: CallContext, *, limit: int, status: str | None = None) -> list[Job]:
        return await in_store(self.jobs.list_owned, ctx.caller, ctx.team, limit=limit, status=status)
