"""The composition root: everything one gateway process holds, built from the config.

Built once per process and passed explicitly to handlers through ``app.state``; there
are no module globals. ``start()``/``close()`` run in the ASGI lifespan.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass, field

from headway.admission import Admission
from headway.auth import AuditTrail, AuthService, ErasureRegistry
from headway.backends import Backend, open_backend
from headway.cache import CacheStage
from headway.config import HeadwayConfig
from headway.dialects import erasure_hook as stored_responses_erasure
from headway.errors import StoreUnavailableError
from headway.guards import Guards, RedactingRequestLog
from headway.idempotency import KeyPurge
from headway.jobs import JobService
from headway.observe import Observability, OutboxMetrics, RequestLog, WebhookDelivery
from headway.pipelines import DataPlaneMetrics, PipelineService, build_data_plane
from headway.providers import Provider, build_providers
from headway.retrieval import Retriever
from headway.review import ReviewService, build_review_service
from headway.routing import Executor, Route, build_routes, find_route, shared_breakers_for
from headway.serving.stored import serve_stored
from headway.serving.validation import validate_chat_request
from headway.store import Outbox, SchemaUnknownError, Store, open_store
from headway.tasks import cancel_and_wait


@dataclass(slots=True)
class Readiness:
    ready: bool
    checks: dict[str, dict[str, object]] = field(default_factory=dict)


@dataclass
class Runtime:
    config: HeadwayConfig
    store: Store
    providers: dict[str, Provider]
    routes: dict[str, Route]
    executor: Executor
    request_log: RequestLog
    auth: AuthService  # access control, audit trail, erasure, guards (headway.auth)
    observability: Observability  # metrics, traces, logs, alerts, feedback (headway.observe)
    started_at: float = field(default_factory=time.time)
    loop: asyncio.AbstractEventLoop | None = None
    retrieval: Retriever | None = None  # collections, /v1/retrieve, RAG (headway.retrieval)
    pipelines: PipelineService | None = None  # scheduler and job workers (headway.pipelines)
    cache: CacheStage = field(default_factory=CacheStage.disabled)  # response cache (headway.cache)
    admission: Admission = field(default_factory=Admission.disabled)  # limits, budgets, queues (headway.admission)
    review: ReviewService | None = None  # human review: policies, items, sweeper (headway.review)
    jobs: JobService | None = None  # background requests, batches, files, the worker (headway.jobs)
    webhook_delivery: WebhookDelivery | None = None  # sends the webhook outbox (headway.observe.webhooks)
    idempotency_purge: KeyPurge | None = None  # deletes expired Idempotency-Key entries (headway.idempotency)
    _store_checked_at: float = 0.0
    _store_error: str | None = None
    # A failed migration: not ready (the store ping does not clear it) and retried with backoff.
    _migration_error: str | None = None
    _migration_task: asyncio.Task[None] | None = None
    # Set when the process drains (SIGTERM) or this runtime was reloaded away: /readyz says not-ready.
    _draining: str | None = None

    @classmethod
    def from_config(cls, config: HeadwayConfig, *, store: Store | None = None) -> Runtime:
        """Build every part from config, each given what it needs, and the runtime once from them."""
        store = store or open_store(config.store)
        auth = AuthService(config, store)
        observability = Observability(config, store)
        providers = observability.wrap_providers(build_providers(config.providers), config.providers)
        log_config = config.request_log
        routes = build_routes(config, providers)
        backend = open_backend(config.redis, local_share=config.admission.local_fallback_share)  # shared state
        executor = Executor(routes, breakers=shared_breakers_for(backend))
        admission = Admission.from_config(config, store, routes, backend=backend)
        request_log = RedactingRequestLog(
            store,
            guards=auth.guards,
            capacity=log_config.buffer_size,
            batch_size=log_config.batch_size,
            drain_at=log_config.drain_at,
            flush_interval=log_config.flush_interval_ms / 1000,
            spill_dir=log_config.spill_dir,
        )
        request_log.add_observer(admission.observe_record)  # settles limits and budgets
        cache = CacheStage.build(config, store, routes, executor, shared=backend)  # Redis-backed when redis: is set
        cache.register_erasure(auth.erasure)
        auth.erasure.register("responses", stored_responses_erasure(store.database))  # /v1/responses store: true
        retrieval, pipelines = build_data_plane(config, store, routes, executor)
        if pipelines is not None:
            pipelines.deps.on_finished = observability.metrics.pipeline_run
        observability.metrics.registry.register(
            DataPlaneMetrics(pipelines.deps.stats if pipelines is not None else None, retrieval)
        )
        webhook_delivery = WebhookDelivery.from_config(config, Outbox(store.database))
        observability.metrics.registry.register(OutboxMetrics(webhook_delivery))
        jobs = JobService(
            config.jobs, store.database, routes=routes, auth=auth, backend=backend, validate_chat=validate_chat_request
        )
        return cls(
            config=config,
            store=store,
            providers=providers,
            routes=routes,
            executor=executor,
            observability=observability,
            auth=auth,
            request_log=request_log,
            retrieval=retrieval,
            pipelines=pipelines,
            cache=cache,
            admission=admission,
            review=build_review_service(config, store, auth=auth, observability=observability),
            jobs=jobs,
            webhook_delivery=webhook_delivery,
            idempotency_purge=KeyPurge(store.database, config.idempotency),
        )

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        # Keep serving while the migration fails (records spill to the journal), not ready, retrying;
        # a schema newer than this release knows raises SchemaUnknownError: refuse to serve.
        if not await self._migrate():
            self._migration_task = asyncio.create_task(self._retry_migration(), name="headway-migration-retry")
        await self.request_log.start()
        await self.admission.start()
        await self.cache.start()
        await self.auth.start()
        await self.observability.start(self)
        if self.review is not None:  # a policy's classifier calls the gateway's own path: recorded, limited, failed over
            await self.review.start(self.backend, serve=functools.partial(serve_stored, self))
        if self.pipelines is not None and self._migration_error is None:
            await self.pipelines.start()
        if self.jobs is not None:  # stored requests run through the same path as live ones
            await self.jobs.start(functools.partial(serve_stored, self))
        if self.webhook_delivery is not None:
            self.webhook_delivery.start()
        if self.idempotency_purge is not None:
            self.idempotency_purge.start()

    async def _migrate(self) -> bool:
        try:
            await asyncio.to_thread(self.store.migrate)
        except SchemaUnknownError:
            raise
        except Exception as exc:  # an outage, a lock, a conflicting object: retried until it applies
            self._migration_error = (
                f"the schema migration failed ({exc.__class__.__name__}: {str(exc)[:300]}); retrying with backoff. "
                "Fix the cause, then wait or run `headway migrate upgrade --config <file>`; `headway migrate status` shows what is missing"
            )
            logging.getLogger("headway.runtime").error("%s", self._migration_error)
            return False
        self._migration_error = None
        return True

    async def _retry_migration(self, first_delay: float = 1.0, most: float = 30.0) -> None:
        delay = first_delay
        while True:
            await asyncio.sleep(delay)
            try:
                done = await self._migrate()
            except SchemaUnknownError as exc:  # another release moved the schema on meanwhile
                self._migration_error = str(exc)
                return
            if done:
                logging.getLogger("headway.runtime").info("schema migration applied after retrying")
                if self.pipelines is not None:
                    await self.pipelines.start()
                return
            delay = min(delay * 2, most)

    async def close(self) -> None:
        await cancel_and_wait(self._migration_task)
        if self.jobs is not None:  # first: running jobs still need providers and the request log
            await self.jobs.close()
        if self.pipelines is not None:
            await self.pipelines.close()
        if self.review is not None:
            await self.review.close()
        if self.webhook_delivery is not None:
            await self.webhook_delivery.close()
        if self.idempotency_purge is not None:
            await self.idempotency_purge.close()
        await self.auth.close()
        await self.cache.close()
        await self.admission.close()
        await self.request_log.close()
        await self.observability.close()
        for provider in self.providers.values():
            await provider.close()
        await asyncio.to_thread(self.store.close)

    def begin_drain(self, reason: str) -> None:
        """From now on /readyz is not-ready (so a load balancer stops sending); requests are still served."""
        self._draining = reason

    @property
    def draining(self) -> bool:
        return self._draining is not None

    @property
    def backend(self) -> Backend:
        """Shared state (in process, or Redis with ``redis:``): limits, wake-ups, keys with a TTL."""
        return self.admission.backend

    @property
    def audit(self) -> AuditTrail:
        """``runtime.audit.append(AuditEvent(...))``: the hash-chained audit trail."""
        return self.auth.audit

    @property
    def erasure(self) -> ErasureRegistry:
        """Parts that store personal data ``register`` an erasure hook here."""
        return self.auth.erasure

    @property
    def guards(self) -> Guards:
        return self.auth.guards

    def route(self, name: str, kind: str) -> Route:
        return find_route(self.routes, name, kind)

    async def readiness(self) -> Readiness:
        checks: dict[str, dict[str, object]] = {"config": {"ok": True, "models": len(self.routes)}}
        # Probe the store at most once a second: readiness probes must stay cheap.
        now = time.monotonic()
        if now - self._store_checked_at > 1.0:
            self._store_checked_at = now
            try:
                await asyncio.to_thread(self.store.ping)
                self._store_error = None
            except StoreUnavailableError as exc:
                self._store_error = str(exc)
        checks["store"] = {"ok": self._store_error is None, **({"error": self._store_error} if self._store_error else {})}
        checks["migrations"] = {"ok": self._migration_error is None, **({"error": self._migration_error} if self._migration_error else {})}
        health = self.request_log.health()
        buffer_ok = health.buffered < health.capacity
        checks["request_log"] = {
            "ok": buffer_ok and health.journal_ok,  # a journal that cannot be written loses records on a crash
            "buffered": health.buffered,
            "capacity": health.capacity,
            "spilled_pending": health.spilled_pending,
            "overflowed": health.overflowed,
            **({"error": health.last_error} if not health.journal_ok else {}),
        }
        if self.config.redis is not None:
            checks["redis"] = self.admission.backend_health()
        if self._draining is not None:
            checks["draining"] = {"ok": False, "error": self._draining}
        return Readiness(ready=all(bool(c["ok"]) for c in checks.values()), checks=checks)
