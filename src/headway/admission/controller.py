"""``Admission``: the request-path stage that says yes, later, or no before a model is called.

Per request, in order:
1. the ticket (priority, arrival) for deployment queues is set for this task;
2. rate limits: one atomic take of every applicable window (requests count 1, tokens
   count the estimate: prompt plus max_tokens); any full window refuses with 429;
3. budgets: one atomic reservation of the estimated cost on every applicable budget;
   a budget without room refuses with 429 (and gives the windows back);
4. after the call, ``settle`` replaces the estimates by the real tokens and cost, off
   the response path.
Requests nothing applies to cost one ``rules()`` lookup and no await.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import logging
import math
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any

from headway.admission import estimate
from headway.admission.adaptive import AimdLimit
from headway.admission.admitted_provider import AdmittedProvider
from headway.admission.headers import ratelimit_headers, retry_after_headers, tightest
from headway.admission.ledger import SpendLedger
from headway.admission.periods import Span, period_span
from headway.admission.policy import BudgetRule, LimitPolicy, RateRule, Rules
from headway.admission.queue import DeploymentQueue
from headway.admission.ticket import Ticket, current_ticket
from headway.backends import (
    Backend,
    BudgetCharge,
    BudgetDecision,
    LocalBackend,
    WindowCharge,
    WindowDecision,
    open_backend,
    to_nano,
)
from headway.config import AdmissionConfig, HeadwayConfig
from headway.errors import RateLimitError, StoreUnavailableError
from headway.observe import Price
from headway.routing import Route
from headway.store import Store
from headway.types import CallContext, RequestRecord, header

log = logging.getLogger("headway.admission")

QUEUE_TIMEOUT_HEADER = "x-headway-queue-timeout-ms"
# Grants held for settlement beyond which lapsed ones are dropped (a record that never came).
MAX_HELD_GRANTS = 10_000
# A budget refused only because of other requests' reservations frees up as they settle.
RESERVED_RETRY_S = 2.0


@dataclass(slots=True)
class AdmissionStats:
    admitted: int = 0
    rate_limited: dict[str, int] = field(default_factory=dict)  # "<scope>:<metric>" -> refusals
    budget_refused: int = 0
    budget_unchecked: int = 0  # admitted without a budget check: the store could not say the spend
    settle_failures: int = 0


@dataclass(slots=True)
class Grant:
    """What an admitted request holds until it settles."""

    member: str
    token_charges: tuple[WindowCharge, ...]
    budget_charges: tuple[BudgetCharge, ...]
    headers: dict[str, str]
    created: float = 0.0  # time.monotonic() at admission


def _max_price(route: Route) -> Price | None:
    # A fallback may land on any deployment, so the estimate uses the dearest one.
    prices = [d.price for d in route.deployments if d.price is not None]
    if route.price is not None:
        prices.append(route.price)
    if not prices:
        return None
    return Price(max(p.input for p in prices), max(p.output for p in prices))


class Admission:
    def __init__(self, config: AdmissionConfig, backend: Backend, *, ledger: SpendLedger | None = None) -> None:
        self.config = config
        self.backend = backend
        self.policy = LimitPolicy(config)
        self.ledger = ledger or SpendLedger(None)
        self.queues: dict[str, DeploymentQueue] = {}
        self.stats = AdmissionStats()
        self._members = itertools.count()
        self._settling: set[asyncio.Task[None]] = set()
        self._seeding: dict[str, asyncio.Future[None]] = {}
        self._grants: dict[str, Grant] = {}  # request id -> grant awaiting its record
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_config(
        cls, config: HeadwayConfig, store: Store, routes: Mapping[str, Route], *, backend: Backend | None = None
    ) -> Admission:
        """The stage for one process: its backend (Redis when ``redis:`` is set), queues installed."""
        if backend is None:
            backend = open_backend(config.redis, local_share=config.admission.local_fallback_share)
        admission = cls(config.admission, backend, ledger=SpendLedger(store.database))
        admission.install(routes)
        return admission

    @classmethod
    def disabled(cls) -> Admission:
        return cls(AdmissionConfig(), LocalBackend())

    # -- wiring ---------------------------------------------------------------------------
    def install(self, routes: Mapping[str, Route]) -> None:
        """Put a queue in front of every deployment the config limits (one queue per deployment id)."""
        config = self.config
        known = set()
        for route in routes.values():
            for deployment in route.deployments:
                deployment_id = f"{deployment.provider_name}/{deployment.model}"
                known.add(deployment_id)
                settings = config.deployments.get(deployment_id)
                if settings is None:
                    continue
                queue = self.queues.get(deployment_id)
                if queue is None:
                    adaptive = AimdLimit(settings.max_in_flight, settings.min_in_flight) if settings.adaptive else None
                    timeout_ms = settings.queue_timeout_ms or config.queue_timeout_ms
                    queue = self.queues[deployment_id] = DeploymentQueue(
                        deployment_id,
                        max_in_flight=settings.max_in_flight,
                        max_queue=settings.max_queue if settings.max_queue is not None else config.max_queue,
                        timeout_s=timeout_ms / 1000,
                        adaptive=adaptive,
                    )
                deployment.provider = AdmittedProvider(deployment.provider, queue)
        unknown = sorted(set(config.deployments) - known)
        if unknown:
            log.warning("admission.deployments names deployments no model uses: %s", ", ".join(unknown))

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        start = getattr(self.backend, "start", None)
        if start is not None:
            await start()

    async def close(self) -> None:
        if self._settling:
            await asyncio.wait(set(self._settling), timeout=5)
        await self.backend.close()

    # -- the request path -----------------------------------------------------------------
    def consider(self, ctx: CallContext, route: Route, body: dict[str, Any]) -> Awaitable[Grant] | None:
        """``None`` when nothing limits this request (no await needed); else the admission to await."""
        rules = self.policy.rules(ctx, route.name)
        if self.queues:
            current_ticket.set(Ticket(ctx.request_id, rules.priority, ctx.started, _client_max_wait(ctx)))
        if rules.empty:
            self.stats.admitted += 1
            return None
        return self._admit(ctx, route, body, rules)

    async def _admit(self, ctx: CallContext, route: Route, body: dict[str, Any], rules: Rules) -> Grant:
        member = f"{ctx.request_id}.{next(self._members)}"
        prompt_tokens = estimate.prompt_tokens(body)
        output_tokens = estimate.output_tokens(body, self.config.budgets.default_output_tokens)
        tokens = prompt_tokens + output_tokens
        charges = tuple(rule.charge(1 if rule.metric == "requests" else tokens) for rule in rules.rates)
        window: WindowDecision | None = None
        if charges:
            window = await self.backend.take_window(charges, member)
            if not window.admitted:
                raise self._rate_limit_error(ctx, rules.rates, charges, window)
        headers = _window_headers(rules.rates, window)
        budget_charges: tuple[BudgetCharge, ...] = ()
        if rules.budgets:
            cost = estimate.cost_usd(prompt_tokens, output_tokens, _max_price(route))
            now = time.time()
            spans = [period_span(rule.period, now) for rule in rules.budgets]
            budget_charges = tuple(
                BudgetCharge(rule.state_key(span.id), to_nano(rule.usd), to_nano(cost), span.end)
                for rule, span in zip(rules.budgets, spans, strict=True)
            )
            decision = await self._reserve(rules.budgets, spans, budget_charges, member)
            if decision is None:
                budget_charges = ()  # admitted unchecked; the request log still records the spend
            elif not decision.admitted:
                if charges:
                    await self.backend.adjust_window(charges, member, [0] * len(charges))
                raise self._budget_error(ctx, rules.budgets, spans, budget_charges, decision, headers)
        self.stats.admitted += 1
        token_charges = tuple(c for c, rule in zip(charges, rules.rates, strict=True) if rule.metric == "tokens")
        grant = Grant(member, token_charges, budget_charges, headers, time.monotonic())
        if token_charges or budget_charges:
            self._hold(ctx.request_id, grant)
        return grant

    def _hold(self, request_id: str, grant: Grant) -> None:
        if len(self._grants) >= MAX_HELD_GRANTS:
            # A request that never reached the request log: its reservations lapse on their own.
            cutoff = time.monotonic() - self.config.budgets.reservation_ttl_s
            for stale in [rid for rid, held in self._grants.items() if held.created < cutoff]:
                del self._grants[stale]
        self._grants[request_id] = grant

    def observe_record(self, record: RequestRecord) -> None:
        """Request-log observer: a request's record is final, so settle what it was granted.

        Runs in the task that served the request, so its ticket is at hand: time spent in
        deployment queues goes on the record as ``quality["queue_ms"]``.
        """
        if self.queues:
            ticket = current_ticket.get()
            if ticket is not None and ticket.request_id == record.request_id and ticket.queued_s:
                record.quality["queue_ms"] = round(ticket.queued_s * 1000, 3)
        if self._grants:
            grant = self._grants.pop(record.request_id, None)
            if grant is not None:
                self.settle(grant, record)

    def settle(self, grant: Grant, record: RequestRecord) -> None:
        """Replace the estimates with what the request really used; runs after the response, off its path."""
        if not grant.token_charges and not grant.budget_charges:
            return
        tokens = record.input_tokens + record.output_tokens
        spent = to_nano(record.cost_usd or 0.0)
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # recorded from a worker thread: settle on the serving loop
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._start_settling, grant, tokens, spent)
            return
        self._start_settling(grant, tokens, spent)

    def _start_settling(self, grant: Grant, tokens: int, spent: int) -> None:
        task = asyncio.create_task(self._settle(grant, tokens, spent))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle(self, grant: Grant, tokens: int, spent: int) -> None:
        try:
            if grant.token_charges and any(c.cost != tokens for c in grant.token_charges):
                await self.backend.adjust_window(grant.token_charges, grant.member, [tokens] * len(grant.token_charges))
            if grant.budget_charges:
                await self.backend.settle_budget(grant.budget_charges, grant.member, spent)
        except Exception:  # never let bookkeeping fail silently or take the process down
            self.stats.settle_failures += 1
            log.exception("could not settle admission for %s", grant.member)

    # -- budgets --------------------------------------------------------------------------
    async def _reserve(
        self, rules: tuple[BudgetRule, ...], spans: list[Span], charges: tuple[BudgetCharge, ...], member: str
    ) -> BudgetDecision | None:
        ttl = self.config.budgets.reservation_ttl_s
        for _ in range(3):
            decision = await self.backend.reserve_budget(charges, member, ttl)
            if not decision.unseeded:
                return decision
            try:
                await asyncio.gather(*(self._seed(rules[i], spans[i], charges[i]) for i in decision.unseeded))
            except StoreUnavailableError as exc:
                self.stats.budget_unchecked += 1
                log.warning("budget spend unknown (%s); admitting without a budget check", exc)
                return None
        self.stats.budget_unchecked += 1
        return None

    async def _seed(self, rule: BudgetRule, span: Span, charge: BudgetCharge) -> None:
        # One store read per budget at a time, however many requests find it unseeded together.
        pending = self._seeding.get(charge.key)
        if pending is None:
            pending = asyncio.ensure_future(self._read_and_seed(rule, span, charge))
            self._seeding[charge.key] = pending
            pending.add_done_callback(lambda _: self._seeding.pop(charge.key, None))
        await asyncio.shield(pending)

    async def _read_and_seed(self, rule: BudgetRule, span: Span, charge: BudgetCharge) -> None:
        spent = await asyncio.to_thread(self.ledger.spent_usd, rule.scope, rule.name, span.start)
        await self.backend.seed_budget(charge.key, to_nano(spent), span.end)

    # -- refusals -------------------------------------------------------------------------
    def _rate_limit_error(
        self, ctx: CallContext, rules: tuple[RateRule, ...], charges: tuple[WindowCharge, ...], decision: WindowDecision
    ) -> RateLimitError:
        refused = [(r, c, s) for r, c, s in zip(rules, charges, decision.states, strict=True) if not s.fits]
        # The client must wait for the slowest window to have room.
        rule, charge, state = max(refused, key=lambda item: item[2].retry_after_s)
        key = f"{rule.scope}:{rule.metric}"
        self.stats.rate_limited[key] = self.stats.rate_limited.get(key, 0) + 1
        headers = _window_headers(rules, decision)
        limit = {"scope": rule.scope, "name": rule.name, "metric": rule.metric, "limit": rule.limit, "window_s": charge.window_s}
        extra: dict[str, Any] = {"request_id": ctx.request_id, "limit": limit}
        if math.isinf(state.retry_after_s):
            headers["x-should-retry"] = "false"
            return RateLimitError(
                f"Request too large for {rule.describe()}: limit {rule.limit}, requested {charge.cost}. "
                f"Lower max_tokens or shorten the prompt (request {ctx.request_id}).",
                code="rate_limit_exceeded",
                headers=headers,
                extra=extra,
            )
        headers.update(retry_after_headers(state.retry_after_s))
        extra["retry_after_s"] = round(state.retry_after_s, 3)
        return RateLimitError(
            f"Rate limit reached for {rule.describe()}: limit {rule.limit}, used {state.used}, requested {charge.cost}. "
            f"Try again in {state.retry_after_s:.3g}s (request {ctx.request_id}).",
            code="rate_limit_exceeded",
            headers=headers,
            extra=extra,
        )

    def _budget_error(
        self,
        ctx: CallContext,
        rules: tuple[BudgetRule, ...],
        spans: list[Span],
        charges: tuple[BudgetCharge, ...],
        decision: BudgetDecision,
        headers: dict[str, str],
    ) -> RateLimitError:
        self.stats.budget_refused += 1
        index = next(i for i, state in enumerate(decision.states) if not state.fits)
        rule, span, state, charge = rules[index], spans[index], decision.states[index], charges[index]
        spent_usd, cap_usd = state.spent / 1e9, state.cap / 1e9
        headers = dict(headers)
        extra: dict[str, Any] = {
            "request_id": ctx.request_id,
            "budget": {"scope": rule.scope, "name": rule.name, "usd": rule.usd, "period": rule.period, "spent_usd": round(spent_usd, 9)},
        }
        if state.spent + charge.amount <= state.cap:
            # Room exists once in-flight requests settle: worth retrying soon.
            retry = RESERVED_RETRY_S
            message = (
                f"{rule.describe()[0].upper()}{rule.describe()[1:]} is fully reserved by requests in flight "
                f"(spent ${spent_usd:.6f} of ${cap_usd:g}). Try again in {retry:g}s (request {ctx.request_id})."
            )
            headers.update(retry_after_headers(retry))
            code = "budget_reserved"
        else:
            when = "never: it does not reset" if span.end is None else (
                dt.datetime.fromtimestamp(span.end, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            )
            message = (
                f"Budget exceeded: {rule.describe()} is spent (${spent_usd:.6f} of ${cap_usd:g}); "
                f"it resets {when} (request {ctx.request_id})."
            )
            headers["x-should-retry"] = "false"
            if span.end is not None:
                headers.update(retry_after_headers(max(1.0, span.end - time.time())))
            code = "budget_exceeded"
        return RateLimitError(message, code=code, headers=headers, extra=extra)

    # -- state for /readyz and metrics ----------------------------------------------------
    def backend_health(self) -> dict[str, Any]:
        """The shared-state backend as ``/readyz`` shows it: degraded still counts as ready."""
        describe = getattr(self.backend, "describe", None)
        if describe is not None:
            return dict(describe())
        return {"ok": True, "backend": self.backend.name, "state": "in_process", "degraded": False}

    def describe(self) -> dict[str, Any]:
        return {
            "admitted": self.stats.admitted,
            "rate_limited": dict(self.stats.rate_limited),
            "budget_refused": self.stats.budget_refused,
            "budget_unchecked": self.stats.budget_unchecked,
            "queues": {name: queue.describe() for name, queue in self.queues.items()},
        }


def _window_headers(rules: tuple[RateRule, ...], decision: WindowDecision | None) -> dict[str, str]:
    if decision is None:
        return {}
    requests = [s for r, s in zip(rules, decision.states, strict=True) if r.metric == "requests"]
    tokens = [s for r, s in zip(rules, decision.states, strict=True) if r.metric == "tokens"]
    return ratelimit_headers(tightest(requests), tightest(tokens))


def _client_max_wait(ctx: CallContext) -> float | None:
    raw = header(ctx.headers, QUEUE_TIMEOUT_HEADER) if ctx.headers else None
    if raw is None:
        return None
    with contextlib.suppress(ValueError):
        value = float(raw)
        if value >= 0:
            return value / 1000
    return None
