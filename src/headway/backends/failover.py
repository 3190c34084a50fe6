"""Redis first, in-process state while Redis is unreachable, and back by itself.

The first failed command flips the replica to *degraded*: from then on no request waits
on Redis (decisions go straight to the local backend, rate limits scaled by ``share``,
by default 1/the replicas that last said they were alive in Redis — each replica says so
every ``heartbeat_s``) and a probe pings Redis every ``probe_interval_s``. When it answers, the spend settled
during the outage is added to Redis's budgets, the local windows are dropped, and the
replica is *connected* again. While degraded, local budget figures are re-read from the
request log every ``refresh_s`` so replicas see one another's spend with that lag.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from headway.backends.base import (
    BackendUnavailableError,
    BudgetCharge,
    BudgetDecision,
    Subscription,
    WindowCharge,
    WindowDecision,
)
from headway.backends.local import LocalBackend
from headway.tasks import cancel_and_wait

if TYPE_CHECKING:
    from headway.backends.redis import RedisBackend  # loaded with the first Redis backend (open_backend)

log = logging.getLogger("headway.backends")
T = TypeVar("T")


class _Unavailable:
    """Returned by ``_on_primary`` once a Redis outage is confirmed (the caller decides locally)."""


UNAVAILABLE = _Unavailable()


@dataclass(slots=True)
class FailoverStats:
    failovers: int = 0  # connected -> degraded transitions
    recoveries: int = 0
    fallback_decisions: int = 0  # limit and budget decisions taken locally
    replayed_spend_nano: int = 0
    transient_errors: int = 0  # commands that failed while Redis still answered: retried, no failover


class FailoverBackend:
    """``Backend`` that keeps answering when Redis does not; see the module docstring."""

    name = "redis"

    def __init__(
        self,
        primary: RedisBackend,
        fallback: LocalBackend | None = None,
        *,
        share: float | None = None,
        probe_interval_s: float = 1.0,
        refresh_s: float = 5.0,
        heartbeat_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.fallback = fallback or LocalBackend()
        self.configured_share = share
        self.replicas = 1  # alive in Redis at the last heartbeat, this one included
        self.id = uuid.uuid4().hex
        self.stats = FailoverStats()
        self.degraded_since: float | None = None
        self.last_error: str | None = None
        self._probe_interval_s = probe_interval_s
        self._refresh_s = refresh_s
        self._clock = clock
        self._refresh_at = 0.0
        self._pending_spend: dict[str, int] = {}
        self._probe: asyncio.Task[None] | None = None
        self._heartbeat_s = heartbeat_s
        self._beat: asyncio.Task[None] | None = None
        self._confirming: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def share(self) -> float:
        """The share of each rate limit this replica enforces while it is on its own."""
        if self.configured_share is not None:
            return self.configured_share
        return 1.0 / max(1, self.replicas)

    @property
    def healthy(self) -> bool:
        return self.degraded_since is None

    def describe(self) -> dict[str, Any]:
        """The state ``/readyz`` and metrics show; never fails."""
        return {
            "ok": True,  # degraded still serves: on local limits
            "backend": "redis",
            "state": "connected" if self.healthy else "degraded",
            "degraded": not self.healthy,
            "degraded_for_s": round(time.time() - self.degraded_since, 3) if self.degraded_since else None,
            "last_error": self.last_error,
            "failovers": self.stats.failovers,
            "recoveries": self.stats.recoveries,
            "fallback_decisions": self.stats.fallback_decisions,
            "transient_errors": self.stats.transient_errors,
            "replicas_seen": self.replicas,
            "local_share": round(self.share, 4),
        }

    async def start(self) -> None:
        try:
            await self.primary.ping()
        except BackendUnavailableError as exc:
            self._degrade(exc)
        self._beat = asyncio.create_task(self._heartbeats(), name="headway-redis-heartbeat")

    async def _heartbeats(self) -> None:
        while not self._closing:
            if self.healthy:
                seen = await self._on_primary(lambda: self.primary.heartbeat(self.id, 3 * self._heartbeat_s))
                if not isinstance(seen, _Unavailable):
                    self.replicas = seen
            await asyncio.sleep(self._heartbeat_s)

    # -- transitions ----------------------------------------------------------------------
    def note_failure(self, exc: BackendUnavailableError) -> None:
        """A part talking to Redis directly (shared breakers, cache) saw it fail: degrade everyone,
        once a PING on a fresh connection confirms Redis is gone (a busy Redis is not an outage)."""
        if not self.healthy or self._closing:
            return
        if self._confirming is None or self._confirming.done():
            self._confirming = asyncio.create_task(self._confirm_outage(exc), name="headway-redis-confirm")

    async def _confirm_outage(self, exc: BackendUnavailableError) -> None:
        if await self.primary.reachable():
            self.stats.transient_errors += 1
        else:
            self._degrade(exc)

    async def _on_primary(self, call: Callable[[], Awaitable[T]], *, retry: bool = True) -> T | _Unavailable:
        """Run ``call`` on Redis. A failure trips the failover only when Redis is really gone.

        A timed-out or pool-starved command during a burst is not an outage: a PING on a fresh
        connection decides. If Redis answers, the command is retried once (``retry`` only for
        commands whose repeat can only over-count, never under-count) and the replica stays global.
        """
        if not self.healthy:
            return UNAVAILABLE
        try:
            return await call()
        except BackendUnavailableError as exc:
            failure = exc
        if await self.primary.reachable():
            self.stats.transient_errors += 1
            if not retry:  # this one call is answered locally; the replica stays global
                return UNAVAILABLE
            try:
                return await call()
            except BackendUnavailableError as exc:
                failure = exc
        self._degrade(failure)
        return UNAVAILABLE

    def _degrade(self, exc: BackendUnavailableError) -> None:
        self.last_error = str(exc)
        if not self.healthy:
            return
        self.degraded_since = time.time()
        self.stats.failovers += 1
        self._refresh_at = self._clock() + self._refresh_s
        log.warning("redis unreachable, serving on local limits until it answers: %s", exc)
        if not self._closing and (self._probe is None or self._probe.done()):
            self._probe = asyncio.create_task(self._probe_until_back(), name="headway-redis-probe")

    async def _probe_until_back(self) -> None:
        while not self._closing:
            await asyncio.sleep(self._probe_interval_s)
            try:
                await self.primary.reset_connections()
                await self.primary.ping()
                await self._replay_spend()
            except BackendUnavailableError as exc:
                self.last_error = str(exc)
                continue
            outage = time.time() - (self.degraded_since or time.time())
            self.degraded_since = None
            self.stats.recoveries += 1
            # Outage-time windows and budget figures must not outlive the outage.
            self.fallback = LocalBackend(clock=self.fallback.clock, wall_clock=self.fallback.wall_clock)
            log.warning("redis reachable again after %.1fs; limits are global again", outage)
            return

    async def _replay_spend(self) -> None:
        while self._pending_spend:
            key, spent = next(iter(self._pending_spend.items()))
            await self.primary.add_spend(key, spent)
            del self._pending_spend[key]
            self.stats.replayed_spend_nano += spent

    def _local(self) -> LocalBackend:
        self.stats.fallback_decisions += 1
        now = self._clock()
        if now >= self._refresh_at:
            # Re-read budgets from the request log: other replicas' spend shows up there.
            self.fallback.forget_budgets()
            self._refresh_at = now + self._refresh_s
        return self.fallback

    def _scaled(self, charges: Sequence[WindowCharge]) -> list[WindowCharge]:
        if self.share >= 1.0:
            return list(charges)
        return [
            WindowCharge(c.key, max(1, math.floor(c.limit * self.share)), c.window_s, c.cost) for c in charges
        ]

    # -- rate-limit windows -------------------------------------------------------------
    async def take_window(self, charges: Sequence[WindowCharge], member: str) -> WindowDecision:
        decided = await self._on_primary(lambda: self.primary.take_window(charges, member))
        if not isinstance(decided, _Unavailable):
            return decided
        return await self._local().take_window(self._scaled(charges), member)

    async def adjust_window(self, charges: Sequence[WindowCharge], member: str, costs: Sequence[int]) -> None:
        # The member lives where it was admitted; the other side ignores it.
        await self.fallback.adjust_window(self._scaled(charges), member, costs)
        await self._on_primary(lambda: self.primary.adjust_window(charges, member, costs))

    # -- budgets --------------------------------------------------------------------------
    async def reserve_budget(self, charges: Sequence[BudgetCharge], member: str, ttl_s: float) -> BudgetDecision:
        decided = await self._on_primary(lambda: self.primary.reserve_budget(charges, member, ttl_s))
        if not isinstance(decided, _Unavailable):
            return decided
        # Alone, a replica may spend only its share of what was left when it last read the
        # request log: N replicas together stay within the cap (docs/scale.md states the bound).
        return await self._local().reserve_budget(charges, member, ttl_s, share=self.share)

    async def settle_budget(self, charges: Sequence[BudgetCharge], member: str, spent: int) -> None:
        await self.fallback.settle_budget(charges, member, spent)
        settled = await self._on_primary(lambda: self.primary.settle_budget(charges, member, spent))
        if not isinstance(settled, _Unavailable):
            return
        # Redis has not seen this spend: add it when Redis is back.
        for charge in charges:
            self._pending_spend[charge.key] = self._pending_spend.get(charge.key, 0) + spent

    async def seed_budget(self, key: str, spent: int, expires_at: float | None) -> None:
        seeded = await self._on_primary(lambda: self.primary.seed_budget(key, spent, expires_at))
        if isinstance(seeded, _Unavailable):
            await self.fallback.seed_budget(key, spent, expires_at)

    # -- publish / subscribe --------------------------------------------------------------
    async def publish(self, channel: str, message: bytes) -> None:
        sent = await self._on_primary(lambda: self.primary.publish(channel, message), retry=False)
        if isinstance(sent, _Unavailable):
            # Other replicas miss this one; this replica's own waiters still wake.
            self.primary.deliver_local(channel, message)

    def subscribe(self, channel: str) -> Subscription:
        return self.primary.subscribe(channel)

    # -- keys -----------------------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        value = await self._on_primary(lambda: self.primary.get(key))
        return await self.fallback.get(key) if isinstance(value, _Unavailable) else value

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        stored = await self._on_primary(lambda: self.primary.set(key, value, ttl_s))
        if isinstance(stored, _Unavailable):
            await self.fallback.set(key, value, ttl_s)

    async def delete(self, key: str) -> None:
        await self.fallback.delete(key)
        await self._on_primary(lambda: self.primary.delete(key))

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        counted = await self._on_primary(lambda: self.primary.incr(key, amount, ttl_s), retry=False)
        return await self.fallback.incr(key, amount, ttl_s) if isinstance(counted, _Unavailable) else counted

    # -- lifecycle ------------------------------------------------------------------------
    async def ping(self) -> None:
        await self.primary.ping()

    async def close(self) -> None:
        self._closing = True
        await cancel_and_wait(self._probe, self._beat, self._confirming)
        await self.fallback.close()
        await self.primary.close()
