"""The route executor: one client request through the whole resilience chain.

Order, for the model the client named (each step only when the one before is exhausted):

1. its deployments — balancing, breakers, retries with backoff, hedging (``attempts.py``);
   for chat answers, the output contract: validate, re-ask with the error (``max_repairs``);
2. its ``fallbacks`` for the cause of the failure, in order, each the same way;
3. a stale cached answer (``stale``, when the cache holds one);
4. its ``degraded`` mode: a simpler model, or a fixed message;
5. ``ExhaustedError`` with every attempt, which the serving layer turns into a clear error.

Steps 3 and 4 only answer availability failures (timeouts, rate limits, errors); a
request the models refused as wrong (bad request, context window, content filter) and
answers that broke the output contract end in the error. Everything shares one
deadline (``deadline_s``, default ``timeouts.total``). Streams follow the same chain up to
their first chunk; after it, a failure is the caller's to report as a terminal error event.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from headway.auth import Residency, restrict
from headway.errors import UpstreamError
from headway.guards import ContractBook, OutputContract
from headway.providers import ChatResult
from headway.routing import synthetic
from headway.routing.breaker import BreakerBackend, InProcessBreakers
from headway.routing.deployments import Route
from headway.routing.route_runner import ExhaustedError, OpenedStream, RouteRunner, Served
from headway.types import JSON, Attempt, RequestRecord, Usage

__all__ = ["Executor", "ExhaustedError", "OpenedStream", "Served", "StaleSource"]

# Causes a stale answer or the degraded mode may answer; the rest are the request's fault.
_RESCUABLE = frozenset({"timeout", "rate_limit", "error"})


class StaleSource(Protocol):
    async def stale_body(self) -> JSON | None:
        """A cached answer past its TTL but within the stale window, or None."""
        ...


class Executor:
    def __init__(
        self,
        routes: Mapping[str, Route] | None = None,
        *,
        breakers: BreakerBackend | None = None,
        contracts: ContractBook | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.routes: Mapping[str, Route] = routes or {}
        self.breakers: BreakerBackend = breakers or InProcessBreakers()
        self.contracts = contracts or ContractBook()
        self.runner = RouteRunner(self.breakers, rng=rng, sleep=sleep)
        for route in self.routes.values():
            for deployment in route.deployments:
                self.breakers.configure(deployment.key, route.config.breaker)

    # -- one route (used by embedders and anything that wants no fallbacks) --------------
    async def chat(self, route: Route, request: JSON, attempts: list[Attempt], *, deadline: float | None = None) -> Served:
        return await self.runner.chat(route, request, attempts, deadline if deadline is not None else _deadline(route))

    async def open_stream(
        self, route: Route, request: JSON, attempts: list[Attempt], *, deadline: float | None = None
    ) -> OpenedStream:
        return await self.runner.open_stream(route, request, attempts, deadline if deadline is not None else _deadline(route))

    async def end_stream(self, opened: OpenedStream, *, error: UpstreamError | None, first_at: float) -> Attempt | None:
        return await self.runner.end_stream(opened, error=error, first_at=first_at)

    # -- the whole chain ----------------------------------------------------------------
    async def complete(
        self,
        route: Route,
        request: JSON,
        record: RequestRecord,
        *,
        stale: StaleSource | None = None,
        residency: Residency | None = None,
    ) -> Served:
        """Answer a non-streaming request (chat or embeddings) through the chain above."""
        attempts = record.attempts
        # Data residency: every route below is narrowed to the deployments allowed to see the data.
        route = restrict(route, residency, attempts)
        deadline = _deadline(route)
        contract = self.contracts.for_request(route.config.contract, request) if route.kind == "chat" else None
        try:
            return await self._model(route, request, record, deadline, contract)
        except ExhaustedError as exc:
            failure = exc
        cause = failure.cause
        for name in route.config.fallback_chain(cause):
            try:
                served = await self._model(restrict(self.routes[name], residency, attempts), request, record, deadline, contract)
            except ExhaustedError as exc:
                failure = exc
                continue
            served.served_by = f"fallback:{name}"
            return served
        if failure.contract_error is None and cause in _RESCUABLE:
            body = await stale.stale_body() if stale is not None else None
            if body is not None:
                return Served(None, ChatResult(body, Usage()), "stale-cache")
            degraded = route.config.degraded
            if degraded is not None and degraded.message is not None:
                fixed = synthetic.fixed_completion(route.name, degraded.message)
                # A stand-in must keep the request's contract too (a JSON message can).
                if contract is None or contract.violation(fixed) is None:
                    return Served(None, ChatResult(fixed, Usage()), "degraded")
            if degraded is not None and degraded.model is not None:
                try:
                    target = restrict(self.routes[degraded.model], residency, attempts)
                    served = await self._model(target, request, record, deadline, contract)
                except ExhaustedError as exc:
                    failure = exc
                else:
                    served.served_by = "degraded"
                    return served
        raise ExhaustedError(failure.last, attempts, contract_error=failure.contract_error)

    async def open(
        self,
        route: Route,
        request: JSON,
        record: RequestRecord,
        *,
        stale: StaleSource | None = None,
        residency: Residency | None = None,
    ) -> OpenedStream:
        """Open a stream through the chain; output contracts are not checked on streams."""
        attempts = record.attempts
        route = restrict(route, residency, attempts)
        deadline = _deadline(route)
        try:
            return await self.runner.open_stream(route, request, attempts, deadline)
        except ExhaustedError as exc:
            failure = exc
        cause = failure.cause
        for name in route.config.fallback_chain(cause):
            try:
                opened = await self.runner.open_stream(restrict(self.routes[name], residency, attempts), request, attempts, deadline)
            except ExhaustedError as exc:
                failure = exc
                continue
            opened.served_by = f"fallback:{name}"
            return opened
        if cause in _RESCUABLE:
            body = await stale.stale_body() if stale is not None else None
            if body is not None:
                return synthetic.replayed_stream(body, "stale-cache")
            degraded = route.config.degraded
            if degraded is not None and degraded.message is not None:
                return synthetic.replayed_stream(synthetic.fixed_completion(route.name, degraded.message), "degraded")
            if degraded is not None and degraded.model is not None:
                try:
                    opened = await self.runner.open_stream(restrict(self.routes[degraded.model], residency, attempts), request, attempts, deadline)
                except ExhaustedError as exc:
                    failure = exc
                else:
                    opened.served_by = "degraded"
                    return opened
        raise ExhaustedError(failure.last, attempts)

    async def _model(
        self, route: Route, request: JSON, record: RequestRecord, deadline: float | None, contract: OutputContract | None
    ) -> Served:
        """One model, with its output contract: re-ask with the validation error, up to ``max_repairs``."""
        served = await self.runner.chat(route, request, record.attempts, deadline)
        if contract is None:
            return served
        repairs = 0
        current = request
        while (violation := contract.violation(served.result.body)) is not None:
            if repairs >= contract.max_repairs:
                contract.note(record.quality, "failed", violation)
                raise ExhaustedError(None, record.attempts, contract_error=violation)
            current = contract.repair(current, served.result.body, violation)
            repairs += 1
            contract.repairs += 1
            served = await self.runner.chat(route, current, record.attempts, deadline)
            if served.served_by == "primary":
                served.served_by = "retry"  # a re-asked answer is not the first answer
        contract.note(record.quality, "repaired" if contract.repairs else "passed")
        return served


def _deadline(route: Route) -> float | None:
    return time.monotonic() + route.deadline_s if route.deadline_s is not None else None
