"""A provider whose every call first takes a slot from its deployment's queue.

``Admission.install`` wraps the provider of each deployment that has a concurrency limit,
so the limit holds for every call to that deployment — first attempts, retries, hedges
and fallbacks from other routes alike — without the executor knowing. A stream holds its
slot until it ends or is closed. Shed requests leave as ``ServiceUnavailableError`` (503
with ``Retry-After``), which is not an upstream failure: breakers and fallbacks never
count a deployment down because Headway itself chose not to send it more.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from headway.admission.headers import retry_after_headers
from headway.admission.queue import DeploymentQueue, Shed
from headway.admission.ticket import current_ticket
from headway.errors import ServiceUnavailableError, UpstreamError
from headway.providers import ChatResult, Provider, StreamEvent, Timeouts
from headway.types import JSON

# Upstream answers that say "too much load": they shrink an adaptive limit.
OVERLOAD_KINDS = frozenset({"rate_limit", "server_error", "timeout"})


def shed_error(shed: Shed, request_id: str | None) -> ServiceUnavailableError:
    return ServiceUnavailableError(
        f"Headway is shedding load: {shed} (request {request_id or 'unknown'}). Retry after the Retry-After delay.",
        code="overloaded",
        headers=retry_after_headers(shed.retry_after_s),
        extra={"reason": shed.reason, "deployment": shed.deployment, "request_id": request_id},
    )


class AdmittedProvider:
    def __init__(self, inner: Provider, queue: DeploymentQueue) -> None:
        self.inner = inner
        self.queue = queue
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:
        # Anything else a provider offers (health, model lists) passes straight through.
        return getattr(self.inner, name)

    async def _acquire(self) -> None:
        queue = self.queue
        if queue.try_acquire():
            return
        ticket = current_ticket.get()
        if ticket is None:
            priority, deadline, request_id = 0, time.perf_counter() + queue.timeout_s, None
        else:
            priority, deadline, request_id = ticket.priority, ticket.deadline(queue.timeout_s), ticket.request_id
        waited_from = time.perf_counter()
        try:
            await queue.acquire(priority, deadline)
        except Shed as shed:
            raise shed_error(shed, request_id) from None
        finally:
            if ticket is not None:
                ticket.queued_s += time.perf_counter() - waited_from

    async def chat(self, request: JSON, *, model: str, timeouts: Timeouts) -> ChatResult:
        await self._acquire()
        started = time.perf_counter()
        overloaded = False
        try:
            return await self.inner.chat(request, model=model, timeouts=timeouts)
        except UpstreamError as exc:
            overloaded = exc.kind in OVERLOAD_KINDS
            raise
        finally:
            self.queue.release(time.perf_counter() - started, overloaded=overloaded)

    async def embeddings(self, request: JSON, *, model: str, timeouts: Timeouts) -> ChatResult:
        await self._acquire()
        started = time.perf_counter()
        overloaded = False
        try:
            return await self.inner.embeddings(request, model=model, timeouts=timeouts)
        except UpstreamError as exc:
            overloaded = exc.kind in OVERLOAD_KINDS
            raise
        finally:
            self.queue.release(time.perf_counter() - started, overloaded=overloaded)

    def chat_stream(self, request: JSON, *, model: str, timeouts: Timeouts) -> AsyncIterator[StreamEvent]:
        return self._stream(request, model, timeouts)

    async def _stream(self, request: JSON, model: str, timeouts: Timeouts) -> AsyncIterator[StreamEvent]:
        await self._acquire()
        started = time.perf_counter()
        # A stream's length is the client's choice; its time to first token is the upstream's.
        first_token_s: float | None = None
        overloaded = False
        try:
            async for event in self.inner.chat_stream(request, model=model, timeouts=timeouts):
                if first_token_s is None:
                    first_token_s = time.perf_counter() - started
                yield event
        except UpstreamError as exc:
            overloaded = exc.kind in OVERLOAD_KINDS
            raise
        finally:
            held = time.perf_counter() - started
            self.queue.release(held, latency_s=first_token_s if first_token_s is not None else held, overloaded=overloaded)

    async def close(self) -> None:
        await self.inner.close()
