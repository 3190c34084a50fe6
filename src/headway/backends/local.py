"""In-process shared state: one replica's limits, budgets, wake-ups and keys.

Everything runs on the event loop thread and no method suspends, so each operation is
atomic without a lock. The same semantics as ``redis.py`` (sliding-window log, reserve
and settle budgets), which the tests hold both implementations to.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from headway.backends.base import (
    BudgetCharge,
    BudgetDecision,
    BudgetState,
    Subscription,
    WindowCharge,
    WindowDecision,
    WindowState,
)


@dataclass(slots=True)
class _Window:
    # member -> (time, cost); dicts keep insertion order and time never goes back, so the
    # first entries are the oldest.
    entries: dict[str, tuple[float, int]] = field(default_factory=dict)
    used: int = 0

    def prune(self, cutoff: float) -> None:
        entries = self.entries
        while entries:
            member = next(iter(entries))
            at, cost = entries[member]
            if at > cutoff:
                break
            del entries[member]
            self.used -= cost

    def reset_s(self, now: float, window_s: float) -> float:
        if not self.entries:
            return 0.0
        at, _ = next(iter(self.entries.values()))
        return max(0.0, at + window_s - now)

    def retry_after_s(self, now: float, charge: WindowCharge) -> float:
        if charge.cost > charge.limit:
            return math.inf
        need = self.used + charge.cost - charge.limit
        freed = 0
        for at, cost in self.entries.values():
            freed += cost
            if freed >= need:
                return max(0.0, at + charge.window_s - now)
        return 0.0


@dataclass(slots=True)
class _Budget:
    spent: int
    expires_at: float | None
    seeded: int = 0  # the spend read at seeding: a share applies to what was left then
    reservations: dict[str, tuple[int, float]] = field(default_factory=dict)  # member -> (amount, until)
    reserved: int = 0

    def prune(self, now: float) -> None:
        for member in [m for m, (_, until) in self.reservations.items() if until <= now]:
            amount, _ = self.reservations.pop(member)
            self.reserved -= amount


def _share_of(cap: int, seeded: int, share: float) -> int:
    """The cap one replica enforces alone: what was spent at seeding plus its share of the rest."""
    if share >= 1.0:
        return cap
    return seeded + math.floor(max(0, cap - seeded) * share)


class LocalBackend:
    """``Backend`` in process; ``clock`` is injectable so tests can move time."""

    name = "local"

    def __init__(self, clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.wall_clock = wall_clock
        self._windows: dict[str, _Window] = {}
        self._budgets: dict[str, _Budget] = {}
        self._values: dict[str, tuple[bytes, float | None]] = {}
        self._subscribers: dict[str, set[Subscription]] = {}

    # -- rate-limit windows -------------------------------------------------------------
    async def take_window(self, charges: Sequence[WindowCharge], member: str) -> WindowDecision:
        return self.take_window_now(charges, member)

    def take_window_now(self, charges: Sequence[WindowCharge], member: str) -> WindowDecision:
        """``take_window`` without the coroutine, for callers on the event loop that must not await."""
        now = self.clock()
        windows = []
        for charge in charges:
            window = self._windows.get(charge.key)
            if window is None:
                window = self._windows[charge.key] = _Window()
            window.prune(now - charge.window_s)
            windows.append(window)
        fits = [w.used + c.cost <= c.limit for w, c in zip(windows, charges, strict=True)]
        admitted = all(fits)
        if admitted:
            for window, charge in zip(windows, charges, strict=True):
                window.entries[member] = (now, charge.cost)
                window.used += charge.cost
        states = tuple(
            WindowState(
                limit=c.limit,
                used=w.used,
                fits=ok,
                reset_s=w.reset_s(now, c.window_s),
                retry_after_s=0.0 if ok else w.retry_after_s(now, c),
            )
            for w, c, ok in zip(windows, charges, fits, strict=True)
        )
        self._forget_empty(charges)
        return WindowDecision(admitted=admitted, states=states)

    async def adjust_window(self, charges: Sequence[WindowCharge], member: str, costs: Sequence[int]) -> None:
        for charge, cost in zip(charges, costs, strict=True):
            window = self._windows.get(charge.key)
            entry = window.entries.get(member) if window is not None else None
            if window is None or entry is None:
                continue  # already out of the window: nothing left to correct
            window.entries[member] = (entry[0], cost)
            window.used += cost - entry[1]

    def _forget_empty(self, charges: Sequence[WindowCharge]) -> None:
        # Keys are per caller: without this, every key ever seen would stay in memory.
        for charge in charges:
            window = self._windows.get(charge.key)
            if window is not None and not window.entries:
                del self._windows[charge.key]

    # -- budgets --------------------------------------------------------------------------
    async def reserve_budget(
        self, charges: Sequence[BudgetCharge], member: str, ttl_s: float, *, share: float = 1.0
    ) -> BudgetDecision:
        """Reserve on every budget or none; ``share`` < 1 limits this process to that share of
        what was left of each budget when it was seeded (one replica of several, Redis away)."""
        now = self.clock()
        wall = self.wall_clock()
        budgets: list[_Budget] = []
        unseeded = []
        for index, charge in enumerate(charges):
            budget = self._budgets.get(charge.key)
            if budget is not None and budget.expires_at is not None and budget.expires_at <= wall:
                del self._budgets[charge.key]
                budget = None
            if budget is None:
                unseeded.append(index)
            else:
                budget.prune(now)
                budgets.append(budget)
        if unseeded:
            return BudgetDecision(admitted=False, states=(), unseeded=tuple(unseeded))
        fits = [b.spent + b.reserved + c.amount <= _share_of(c.cap, b.seeded, share) for b, c in zip(budgets, charges, strict=True)]
        admitted = all(fits)
        if admitted:
            for budget, charge in zip(budgets, charges, strict=True):
                budget.reservations[member] = (charge.amount, now + ttl_s)
                budget.reserved += charge.amount
        states = tuple(
            BudgetState(cap=c.cap, spent=b.spent, reserved=b.reserved, fits=ok)
            for b, c, ok in zip(budgets, charges, fits, strict=True)
        )
        return BudgetDecision(admitted=admitted, states=states)

    async def settle_budget(self, charges: Sequence[BudgetCharge], member: str, spent: int) -> None:
        for charge in charges:
            budget = self._budgets.get(charge.key)
            if budget is None:
                continue
            reservation = budget.reservations.pop(member, None)
            if reservation is not None:
                budget.reserved -= reservation[0]
            budget.spent += spent

    async def seed_budget(self, key: str, spent: int, expires_at: float | None) -> None:
        if key not in self._budgets:
            self._budgets[key] = _Budget(spent=spent, expires_at=expires_at, seeded=spent)

    async def add_spend(self, key: str, spent: int) -> None:
        """Add settled spend to a budget this backend already holds a figure for."""
        budget = self._budgets.get(key)
        if budget is not None:
            budget.spent += spent

    def forget_budgets(self) -> None:
        """Drop every budget figure, so the next decision re-reads it from the request log."""
        self._budgets.clear()

    # -- publish / subscribe --------------------------------------------------------------
    async def publish(self, channel: str, message: bytes) -> None:
        self.deliver(channel, message)

    def deliver(self, channel: str, message: bytes) -> None:
        for subscription in tuple(self._subscribers.get(channel, ())):
            subscription.deliver(message)

    def subscribe(self, channel: str) -> Subscription:
        subscription = Subscription(channel, self._unsubscribe)
        self._subscribers.setdefault(channel, set()).add(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.channel)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.channel]

    # -- keys -----------------------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        item = self._values.get(key)
        if item is None:
            return None
        value, until = item
        if until is not None and until <= self.clock():
            del self._values[key]
            return None
        return value

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        self._values[key] = (value, self.clock() + ttl_s if ttl_s is not None else None)

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        current = await self.get(key)
        if current is None:
            value = amount
            until = self.clock() + ttl_s if ttl_s is not None else None
        else:
            value = int(current) + amount
            until = self._values[key][1]
        self._values[key] = (str(value).encode(), until)
        return value

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        for subscribers in list(self._subscribers.values()):
            for subscription in list(subscribers):
                subscription.close()
