"""Callers blocked on a decision (``Prefer: wait=N``), woken wherever the decision was taken.

A decision on this replica wakes its waiters directly and is published on the shared
backend's channel; other replicas subscribed to it wake theirs (Redis pub/sub when
``redis:`` is configured). Wake-ups are hints: a waiter always re-reads the item from the
store, and re-reads it every ``poll_interval`` anyway, so a lost message, a replica
without Redis, or a decision taken by the CLI costs at most one interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from headway.backends import Backend, ChannelListener, Subscription
from headway.errors import HeadwayError
from headway.review.items import ReviewItem

log = logging.getLogger("headway.review")

CHANNEL = "review.decided"


@dataclass(slots=True)
class WaiterStats:
    waiting: int = 0
    published: int = 0
    received: int = 0  # wake-up messages that arrived on the channel (from any replica)


class Waiters:
    def __init__(self, read: Callable[[str], Awaitable[ReviewItem | None]], *, poll_interval: float) -> None:
        self._read = read
        self._poll_interval = poll_interval
        self._events: dict[str, set[asyncio.Event]] = {}
        self._backend: Backend | None = None
        self._listener: ChannelListener | None = None
        self.stats = WaiterStats()

    async def start(self, backend: Backend | None) -> None:
        self._backend = backend
        if backend is None:
            return
        self._listener = ChannelListener(backend, CHANNEL, self._listen, name="headway-review-wakeups")

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
        for events in self._events.values():
            for event in events:
                event.set()

    async def _listen(self, subscription: Subscription) -> None:
        async for message in subscription:
            self.stats.received += 1
            self.wake(message.decode("utf-8", "replace"))

    def wake(self, review_id: str) -> None:
        for event in self._events.get(review_id, ()):
            event.set()

    async def announce(self, review_id: str) -> None:
        """Wake this replica's waiters now and every other replica's through the backend."""
        self.wake(review_id)
        if self._backend is None:
            return
        try:
            await self._backend.publish(CHANNEL, review_id.encode())
            self.stats.published += 1
        except HeadwayError as exc:  # the store poll still wakes the others
            log.warning("could not publish a review wake-up (%s); other replicas will poll", exc)

    async def wait(self, review_id: str, seconds: float) -> ReviewItem | None:
        """The item once it is final, or as it stands when ``seconds`` have passed."""
        deadline = time.monotonic() + seconds
        event = asyncio.Event()
        self._events.setdefault(review_id, set()).add(event)
        self.stats.waiting += 1
        try:
            while True:
                event.clear()  # cleared before the read: a wake-up during the read is not lost
                item = await self._read(review_id)
                remaining = deadline - time.monotonic()
                if item is None or item.final or remaining <= 0:
                    return item
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), min(self._poll_interval, remaining))
        finally:
            self.stats.waiting -= 1
            events = self._events.get(review_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._events[review_id]
