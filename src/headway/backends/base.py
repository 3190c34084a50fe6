"""The shared-state interface: what replicas must agree on, whichever backend holds it.

Four kinds of state, each a few atomic operations:
- sliding windows for rate limits (take every charge or none; adjust a charge later),
- spend budgets (reserve before a call, settle after it, seed from the request log),
- publish/subscribe for cross-replica wake-ups,
- plain keys with a time to live, for the shared cache and breaker state.

``local.py`` keeps them in process (one replica, or a fallback); ``redis.py`` keeps them
in Redis so that a limit of N is N across every replica. Both answer in the same types.
Money crosses this interface as integer nano-dollars so that sums never drift.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from headway.errors import HeadwayError

NANO_USD = 1_000_000_000


def to_nano(usd: float) -> int:
    return math.ceil(usd * NANO_USD)


class BackendUnavailableError(HeadwayError):
    """The shared-state backend did not answer; callers fall back to local state."""


@dataclass(frozen=True, slots=True)
class WindowCharge:
    """Take ``cost`` units from window ``key``, which holds at most ``limit`` over the last ``window_s``."""

    key: str
    limit: int
    window_s: float
    cost: int


@dataclass(frozen=True, slots=True)
class WindowState:
    """One window after a decision."""

    limit: int
    used: int  # units counted in the window now (including this charge when admitted)
    fits: bool
    reset_s: float  # until the oldest counted unit leaves the window; 0 when it is empty
    retry_after_s: float  # denied only: until this charge would fit; inf when it never can (cost > limit)

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


@dataclass(frozen=True, slots=True)
class WindowDecision:
    admitted: bool
    states: tuple[WindowState, ...]  # one per charge, in order


@dataclass(frozen=True, slots=True)
class BudgetCharge:
    """Reserve ``amount`` nano-USD from budget ``key`` (capped at ``cap``) until settled."""

    key: str
    cap: int
    amount: int
    expires_at: float | None  # unix time the period ends (its state may go then); None: never


@dataclass(frozen=True, slots=True)
class BudgetState:
    cap: int
    spent: int  # settled spend this period
    reserved: int  # reservations of requests still in flight (including this one when admitted)
    fits: bool


@dataclass(frozen=True, slots=True)
class BudgetDecision:
    admitted: bool
    states: tuple[BudgetState, ...]
    # Budgets the backend holds no figure for yet (new period, or a restarted Redis): the
    # caller seeds them from the request log with ``seed_budget`` and asks again.
    unseeded: tuple[int, ...] = ()


class Backend(Protocol):
    name: str  # "local" | "redis"

    async def take_window(self, charges: Sequence[WindowCharge], member: str) -> WindowDecision:
        """Atomically: if every charge fits its window, count all of them under ``member``; else none."""
        ...

    async def adjust_window(self, charges: Sequence[WindowCharge], member: str, costs: Sequence[int]) -> None:
        """Replace what ``member`` was charged (``charges[i].cost``) with ``costs[i]``, where still counted."""
        ...

    async def reserve_budget(self, charges: Sequence[BudgetCharge], member: str, ttl_s: float) -> BudgetDecision:
        """Atomically: if every budget has room for its amount, reserve all of them for ``ttl_s``; else none."""
        ...

    async def settle_budget(self, charges: Sequence[BudgetCharge], member: str, spent: int) -> None:
        """Release ``member``'s reservations and add ``spent`` to each budget that still has a figure."""
        ...

    async def seed_budget(self, key: str, spent: int, expires_at: float | None) -> None:
        """Set a budget's spend unless it already has one (replicas may race to seed)."""
        ...

    async def publish(self, channel: str, message: bytes) -> None: ...

    def subscribe(self, channel: str) -> Subscription:
        """Messages published on ``channel`` from now on, by any replica."""
        ...

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        """Add ``amount`` and return the new value; ``ttl_s`` is set when the key is created."""
        ...

    async def ping(self) -> None:
        """Raise ``BackendUnavailableError`` when the backend cannot be reached."""
        ...

    async def close(self) -> None: ...


class Subscription:
    """A bounded inbox of messages on one channel; iterate it, close it when done.

    Wake-ups are hints, not a log: when a slow reader lets the inbox fill, the oldest
    message is dropped (and counted) rather than blocking the publisher. Closing ends
    an iteration in progress.
    """

    def __init__(self, channel: str, on_close: Callable[[Subscription], None], capacity: int = 1000) -> None:
        self.channel = channel
        self.dropped = 0
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue(capacity + 1)  # +1: room for the end marker
        self._capacity = capacity
        self._on_close = on_close
        self.closed = False

    def deliver(self, message: bytes) -> None:
        if self.closed:
            return
        if self._inbox.qsize() >= self._capacity:
            self._inbox.get_nowait()
            self.dropped += 1
        self._inbox.put_nowait(message)

    async def get(self) -> bytes:
        message = await self._inbox.get()
        if message is None:
            raise BackendUnavailableError(f"subscription to {self.channel!r} is closed")
        return message

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        while True:
            message = await self._inbox.get()
            if message is None:
                return
            yield message

    def empty(self) -> bool:
        return self._inbox.empty()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._inbox.put_nowait(None)
            self._on_close(self)
