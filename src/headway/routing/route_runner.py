"""Serve one request from one route's deployments: balancing, breakers, retries, deadline, hedging.

``RouteRunner.run`` loops: pick a deployment (``balancing.py``) among those not yet
tried and not skipped, ask its breaker (``breaker.py``) — an open one is skipped at once
and noted as a ``skipped`` attempt — then call it. A retryable failure (``retries.on``)
moves to another deployment immediately, or, when every deployment has been tried,
back to one of them after a jittered backoff (``retry.py``) — except after a timeout: a
deployment that timed out is not tried again for this request (it is likely still hung),
so the request moves on to the fallbacks instead. A failure the request
itself caused (bad request, context window, content filter) ends the loop at once: no
other deployment would answer differently. Every call becomes an ``Attempt``.

With ``hedge`` set, an attempt that has not answered (non-streaming) or produced its
first chunk (streaming) within ``after_ms`` is raced by a second deployment; the first
to answer wins, the loser is cancelled and recorded as ``skipped`` (``hedge_cancelled``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from headway.config import FallbackCause
from headway.errors import UpstreamError
from headway.providers import ChatResult, StreamEvent, Timeouts
from headway.routing.balancing import Picker, picker
from headway.routing.breaker import BreakerBackend, Verdict
from headway.routing.deployments import Deployment, Route
from headway.routing.retry import retry_delay_s
from headway.types import JSON, Attempt

# Failures caused by the request itself: another deployment of the same model would fail alike.
REQUEST_FAULTS = frozenset({"client_error", "context_window", "content_filter"})
_CAUSES: dict[str, FallbackCause] = {
    "timeout": "timeout",
    "rate_limit": "rate_limit",
    "context_window": "context_window",
    "content_filter": "content_filter",
}


def fallback_cause(error: UpstreamError | None) -> FallbackCause | None:
    """Which fallback chain a failure selects; ``None`` when the request was at fault."""
    if error is None:
        return "error"  # nothing was tried: every deployment's breaker was open
    if error.kind == "client_error":
        return None
    return _CAUSES.get(error.kind, "error")


@dataclass(slots=True)
class Served:
    """A successful outcome and how it was reached (``deployment`` is None for cache and fixed text)."""

    deployment: Deployment | None
    result: ChatResult
    served_by: str = "primary"


@dataclass(slots=True)
class OpenedStream:
    deployment: Deployment | None
    first: StreamEvent
    rest: AsyncIterator[StreamEvent]
    started: float
    served_by: str = "primary"
    trial: bool = False  # holds a half-open breaker slot until the stream ends


@dataclass(slots=True)
class ExhaustedError(Exception):
    """No path produced an answer; ``last`` is the final upstream error, ``attempts`` all of them."""

    last: UpstreamError | None
    attempts: list[Attempt] = field(default_factory=list)
    contract_error: str | None = None  # set when answers came back but none met the output contract

    @property
    def cause(self) -> FallbackCause | None:
        return "error" if self.contract_error is not None else fallback_cause(self.last)

    def __str__(self) -> str:
        if self.contract_error is not None:
            return f"no answer met the output contract: {self.contract_error}"
        return f"all deployments failed: {self.last}"


def attempt_record(
    deployment: Deployment,
    started: float,
    *,
    error: UpstreamError | None = None,
    ttft: float | None = None,
    skipped: str | None = None,
) -> Attempt:
    now = time.perf_counter()
    if skipped is not None:
        return Attempt(
            deployment=deployment.id,
            provider=deployment.provider_name,
            model=deployment.model,
            outcome="skipped",
            latency_ms=round((now - started) * 1000, 3),
            error_type=skipped,
        )
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


_HEDGE_LOST = "hedge lost"  # the cancel message that tells a hedge loser from a client hang-up


def _deadline_error() -> UpstreamError:
    return UpstreamError("timeout", "the request's deadline passed before an answer")


_DEADLINE_SLACK_S = 0.05  # a deadline this close to a timeout leaves the timeout as it is
_MAX_HEAD = 8  # chunks read while waiting for the first token before giving up the wait


def _carries_output(event: StreamEvent) -> bool:
    """Whether a chunk carries part of the answer (text, tool call, finish) rather than just the role."""
    choices = event.chunk.get("choices")
    if not choices:
        return True  # a usage-only or empty chunk: nothing more is coming before it
    for choice in choices:
        if choice.get("finish_reason"):
            return True
        delta = choice.get("delta") or {}
        if any(value for key, value in delta.items() if key != "role"):
            return True
    return False


async def _replay_then(head: list[StreamEvent], rest: AsyncIterator[StreamEvent] | None) -> AsyncIterator[StreamEvent]:
    """Chunks already read, then the rest of the stream (closed with this iterator)."""
    try:
        for event in head:
            yield event
        if rest is not None:
            async for event in rest:
                yield event
    finally:
        if rest is not None:
            await _close(rest)


async def _close(stream: AsyncIterator[StreamEvent]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


# What one call to a deployment returns: a ChatResult, or (first event, rest, started) for a stream.
Call = Callable[[Deployment, Timeouts], Awaitable[Any]]


def within_deadline(timeouts: Timeouts, remaining: float | None, *, stream: bool) -> Timeouts:
    """The deployment's timeouts, tightened so an attempt cannot outlive the request's deadline.

    The provider enforces them with the timers it arms anyway, so the deadline costs no timer
    of its own. For a stream the deadline bounds the wait for the first token; once tokens
    flow, the stream's own ``total`` and ``idle`` apply.
    """
    if remaining is None:
        return timeouts
    first = timeouts.first_token
    total = timeouts.total
    tight_first = first is None or remaining < first - _DEADLINE_SLACK_S
    tight_total = not stream and (total is None or remaining < total - _DEADLINE_SLACK_S)
    if not tight_first and not tight_total:
        return timeouts  # the common case: a first attempt under the default deadline
    return Timeouts(
        connect=timeouts.connect,
        first_token=remaining if tight_first else first,
        idle=timeouts.idle,
        total=remaining if tight_total else total,
    )


class RouteRunner:
    def __init__(
        self,
        breakers: BreakerBackend,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.breakers = breakers
        self.rng = rng or random.Random()
        self._sleep = sleep

    # -- the two kinds of call --------------------------------------------------------
    async def chat(self, route: Route, request: JSON, attempts: list[Attempt], deadline: float | None) -> Served:
        async def call(deployment: Deployment, timeouts: Timeouts) -> ChatResult:
            if route.kind == "embeddings":
                return await deployment.provider.embeddings(request, model=deployment.model, timeouts=timeouts)
            return await deployment.provider.chat(request, model=deployment.model, timeouts=timeouts)

        deployment, result, label, _trial = await self._run(route, attempts, deadline, call, stream=False)
        return Served(deployment=deployment, result=result, served_by=label)

    async def open_stream(
        self, route: Route, request: JSON, attempts: list[Attempt], deadline: float | None
    ) -> OpenedStream:
        async def call(deployment: Deployment, timeouts: Timeouts) -> tuple[StreamEvent, AsyncIterator[StreamEvent], float]:
            started = time.perf_counter()
            stream = deployment.provider.chat_stream(request, model=deployment.model, timeouts=timeouts)
            iterator = stream.__aiter__()
            head: list[StreamEvent] = []
            try:
                # The first *token* bounds the wait, whatever the response head did; a role-only
                # opening chunk says nothing about speed.
                async with asyncio.timeout(timeouts.first_token):
                    while not head or (len(head) < _MAX_HEAD and not _carries_output(head[-1])):
                        try:
                            head.append(await iterator.__anext__())
                        except StopAsyncIteration:
                            if head:
                                return head[0], _replay_then(head[1:], None), started
                            raise UpstreamError("stream_cut", "stream ended before its first chunk") from None
            except TimeoutError:
                await _close(iterator)
                raise UpstreamError("timeout", f"no first token within {timeouts.first_token:g}s") from None
            if len(head) == 1:
                return head[0], iterator, started
            return head[0], _replay_then(head[1:], iterator), started

        deployment, (first, rest, started), label, trial = await self._run(route, attempts, deadline, call, stream=True)
        return OpenedStream(deployment, first, rest, started, served_by=label, trial=trial)

    async def end_stream(self, opened: OpenedStream, *, error: UpstreamError | None, first_at: float) -> Attempt | None:
        """Close the books on a stream that went to the client: attempt, load and breaker."""
        deployment = opened.deployment
        if deployment is None:
            return None
        deployment.in_flight -= 1
        verdict: Verdict = True if error is None else (None if error.kind in REQUEST_FAULTS else False)
        await self.breakers.record(deployment.key, verdict, trial=opened.trial)
        return attempt_record(deployment, opened.started, error=error, ttft=first_at)

    # -- the loop ---------------------------------------------------------------------
    async def _run(
        self, route: Route, attempts: list[Attempt], deadline: float | None, call: Call, *, stream: bool
    ) -> tuple[Deployment, Any, str, bool]:
        policy = route.config.retries
        pick = picker(route.config.balancing)
        tried: dict[str, UpstreamError] | None = None  # deployment id -> its last error
        excluded: set[str] | None = None  # skipped (breaker open, Retry-After too long) for this request
        last: UpstreamError | None = None
        retries = 0
        while True:
            choice = await self._choose(route, pick, tried, excluded, attempts)
            if choice is None:
                raise ExhaustedError(last, attempts)
            deployment, trial = choice
            previous = tried.get(deployment.id) if tried else None
            if previous is not None:
                wait = retry_delay_s(previous, retries - 1, policy, self.rng)
                if wait is None or (deadline is not None and time.monotonic() + wait >= deadline):
                    await self.breakers.record(deployment.key, None, trial=trial)
                    if wait is not None:
                        raise ExhaustedError(last, attempts)
                    excluded = excluded or set()
                    excluded.add(deployment.id)
                    continue
                if wait > 0:
                    await self._sleep(wait)
            if deadline is not None and time.monotonic() >= deadline:
                await self.breakers.record(deployment.key, None, trial=trial)
                raise ExhaustedError(last or _deadline_error(), attempts)
            try:
                if route.hedge_after_s is not None and len(route.deployments) > 1:
                    winner, value, hedged, trial = await self._hedged(
                        route, pick, deployment, trial, excluded, attempts, deadline, call, stream
                    )
                else:
                    winner, value, hedged = deployment, await self._attempt(deployment, trial, attempts, deadline, call, stream), False
            except UpstreamError as exc:
                last = exc
                if exc.kind in REQUEST_FAULTS or retries >= policy.max_retries:
                    raise ExhaustedError(last, attempts) from None
                retries += 1
                # A deployment that timed out is likely still hung: the next attempt goes to
                # another deployment, and with none left, to the fallbacks (not back to it).
                if exc.kind in route.retry_on and exc.kind != "timeout":
                    tried = tried or {}
                    tried[deployment.id] = exc
                else:  # a timeout, or our credential (auth): other deployments only
                    excluded = excluded or set()
                    excluded.add(deployment.id)
                continue
            label = "hedge" if hedged else ("primary" if retries == 0 else "retry")
            return winner, value, label, trial

    async def _choose(
        self,
        route: Route,
        pick: Picker,
        tried: dict[str, UpstreamError] | None,
        excluded: set[str] | None,
        attempts: list[Attempt],
        *,
        besides: Deployment | None = None,
    ) -> tuple[Deployment, bool] | None:
        """The next deployment and whether it is a half-open trial; None when none is available."""
        while True:
            if not tried and not excluded and besides is None:
                candidates = route.deployments
            else:
                blocked = excluded or ()
                usable = [d for d in route.deployments if d.id not in blocked and d is not besides]
                fresh = [d for d in usable if not tried or d.id not in tried]
                candidates = fresh or usable
            if not candidates:
                return None
            deployment = pick(candidates, self.rng)
            admission = await self.breakers.admit(deployment.key)
            if admission != "reject":
                return deployment, admission == "trial"
            attempts.append(attempt_record(deployment, time.perf_counter(), skipped="circuit_open"))
            excluded = excluded if excluded is not None else set()
            excluded.add(deployment.id)

    async def _attempt(
        self, deployment: Deployment, trial: bool, attempts: list[Attempt], deadline: float | None, call: Call, stream: bool
    ) -> Any:
        started = time.perf_counter()
        deployment.in_flight += 1
        try:
            remaining = deadline - time.monotonic() if deadline is not None else None
            value = await call(deployment, within_deadline(deployment.timeouts, remaining, stream=stream))
        except UpstreamError as exc:
            attempts.append(attempt_record(deployment, started, error=exc))
            if exc.kind == "timeout":  # slowness must show in the latency balancer
                deployment.observe_latency((time.perf_counter() - started) * 1000)
            await self.breakers.record(deployment.key, None if exc.kind in REQUEST_FAULTS else False, trial=trial)
            raise
        except asyncio.CancelledError as exc:
            why = "hedge_cancelled" if exc.args and exc.args[0] == _HEDGE_LOST else "cancelled"
            attempts.append(attempt_record(deployment, started, skipped=why))
            await self.breakers.record(deployment.key, None, trial=trial)
            raise
        finally:
            deployment.in_flight -= 1
        deployment.observe_latency((time.perf_counter() - started) * 1000)
        if stream:
            # The stream keeps its load slot and breaker trial until end_stream.
            deployment.in_flight += 1
        else:
            attempts.append(attempt_record(deployment, started))
            await self.breakers.record(deployment.key, True, trial=trial)
        return value

    async def _hedged(
        self,
        route: Route,
        pick: Picker,
        deployment: Deployment,
        trial: bool,
        excluded: set[str] | None,
        attempts: list[Attempt],
        deadline: float | None,
        call: Call,
        stream: bool,
    ) -> tuple[Deployment, Any, bool, bool]:
        """Race a second deployment when the first is slow; returns (winner, value, hedged, trial)."""
        assert route.hedge_after_s is not None
        first = asyncio.ensure_future(self._attempt(deployment, trial, attempts, deadline, call, stream))
        racers: dict[asyncio.Future[Any], tuple[Deployment, bool]] = {first: (deployment, trial)}
        try:
            started, _ = await asyncio.wait((first,), timeout=route.hedge_after_s)
            if started:
                return deployment, first.result(), False, trial
            choice = await self._choose(route, pick, None, excluded, attempts, besides=deployment)
            if choice is None:
                return deployment, await first, False, trial
            second = asyncio.ensure_future(self._attempt(choice[0], choice[1], attempts, deadline, call, stream))
            racers[second] = choice
            pending: set[asyncio.Future[Any]] = {first, second}
            error: UpstreamError | None = None
            while pending:
                done: set[asyncio.Future[Any]]
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                # When both finish together the first-started attempt wins.
                for task in sorted(done, key=lambda t: t is not first):
                    exc = task.exception()
                    if exc is None:
                        await self._discard(racers, task, done, attempts, stream)
                        winner, winner_trial = racers[task]
                        return winner, task.result(), task is second, winner_trial
                    if not isinstance(exc, UpstreamError):
                        raise exc
                    error = exc
            assert error is not None
            raise error
        finally:
            losers = [task for task in racers if not task.done()]
            for task in losers:
                task.cancel(_HEDGE_LOST)
            if losers:
                await asyncio.gather(*losers, return_exceptions=True)

    async def _discard(
        self,
        racers: dict[asyncio.Future[Any], tuple[Deployment, bool]],
        winner: asyncio.Future[Any],
        done: set[asyncio.Future[Any]],
        attempts: list[Attempt],
        stream: bool,
    ) -> None:
        """A racer that also succeeded loses: close its stream and give back its slot."""
        for task in done:
            if task is winner or task.exception() is not None:
                continue
            deployment, trial = racers[task]
            if stream:
                _first, rest, started = task.result()
                aclose = getattr(rest, "aclose", None)
                if aclose is not None:
                    await aclose()
                deployment.in_flight -= 1
                attempts.append(attempt_record(deployment, started, skipped="hedge_lost"))
                await self.breakers.record(deployment.key, True, trial=trial)
            # A non-streaming loser already recorded its (successful) attempt.
