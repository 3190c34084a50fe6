"""The route executor: turn one client request into attempts against deployments.

It picks deployments in order (``balancing.py``), calls the provider, records every
attempt, and moves on when a deployment fails with a failure worth trying elsewhere.
Streams fall back only before the first chunk reaches the client; after that a failure
is the caller's to report as a terminal stream error.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from headway.errors import UpstreamError
from headway.providers.base import ChatResult, StreamEvent
from headway.routing.balancing import order_deployments
from headway.routing.deployments import Deployment, Route
from headway.types import JSON, Attempt

# Failures that say nothing about other deployments' chances: the request itself is wrong.
_NO_FAILOVER = frozenset({"client_error", "context_window", "content_filter"})


@dataclass(slots=True)
class Served:
    """A successful outcome and how it was reached."""

    deployment: Deployment
    result: ChatResult
    served_by: str = "primary"


@dataclass(slots=True)
class OpenedStream:
    deployment: Deployment
    first: StreamEvent
    rest: AsyncIterator[StreamEvent]
    started: float
    served_by: str = "primary"


@dataclass(slots=True)
class ExhaustedError(Exception):
    """No deployment produced an answer; ``last`` is the final upstream error."""

    last: UpstreamError | None
    attempts: list[Attempt] = field(default_factory=list)

    def __str__(self) -> str:
        return f"all deployments failed: {self.last}"


def _attempt(deployment: Deployment, started: float, *, error: UpstreamError | None = None, ttft: float | None = None) -> Attempt:
    now = time.perf_counter()
    return Attempt(
        deployment=deployment.id,
        provider=deployment.provider_name,
        model=deployment.model,
        outcome="error" if error else "ok",
        latency_ms=round((now - started) * 1000, 3),
        status=(error.status if error else 200),
        error_type=error.kind if error else None,
        error_message=error.message[:500] if error else None,
        ttft_ms=round((ttft - started) * 1000, 3) if ttft is not None else None,
    )


class Executor:
    async def chat(self, route: Route, request: JSON, attempts: list[Attempt]) -> Served:
        last: UpstreamError | None = None
        for deployment in order_deployments(route.deployments):
            started = time.perf_counter()
            deployment.in_flight += 1
            try:
                if route.kind == "embeddings":
                    result = await deployment.provider.embeddings(request, model=deployment.model, timeouts=deployment.timeouts)
                else:
                    result = await deployment.provider.chat(request, model=deployment.model, timeouts=deployment.timeouts)
            except UpstreamError as exc:
                attempts.append(_attempt(deployment, started, error=exc))
                last = exc
                if exc.kind in _NO_FAILOVER:
                    break
                continue
            finally:
                deployment.in_flight -= 1
            attempts.append(_attempt(deployment, started))
            return Served(deployment=deployment, result=result)
        raise ExhaustedError(last, attempts)

    async def open_stream(self, route: Route, request: JSON, attempts: list[Attempt]) -> OpenedStream:
        last: UpstreamError | None = None
        for deployment in order_deployments(route.deployments):
            started = time.perf_counter()
            stream = deployment.provider.chat_stream(request, model=deployment.model, timeouts=deployment.timeouts)
            iterator = stream.__aiter__()
            try:
                first = await iterator.__anext__()
            except StopAsyncIteration:
                last = UpstreamError("stream_cut", "stream ended before its first chunk")
                attempts.append(_attempt(deployment, started, error=last))
                continue
            except UpstreamError as exc:
                attempts.append(_attempt(deployment, started, error=exc))
                last = exc
                if exc.kind in _NO_FAILOVER:
                    break
                continue
            return OpenedStream(deployment=deployment, first=first, rest=iterator, started=started)
        raise ExhaustedError(last, attempts)

    @staticmethod
    def stream_attempt(opened: OpenedStream, *, error: UpstreamError | None, first_at: float) -> Attempt:
        return _attempt(opened.deployment, opened.started, error=error, ttft=first_at)
