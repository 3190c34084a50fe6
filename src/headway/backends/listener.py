"""A channel and the task that reads it, started and stopped together.

Several parts follow a wake-up channel for the life of a service (job signals, review
wake-ups, shared breaker states, cache erasures): subscribe, run a reader over the
subscription, and on close cancel the reader, wait for it, and close the subscription.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from headway.backends.base import Backend, Subscription
from headway.tasks import cancel_and_wait


class ChannelListener:
    """``follow(subscription)`` runs as a task named ``name`` until ``close``.

    ``follow`` usually is ``async for message in subscription: …``. Subscribing may raise
    (``BackendUnavailableError``); then there is no task to stop.
    """

    def __init__(
        self, backend: Backend, channel: str, follow: Callable[[Subscription], Coroutine[Any, Any, None]], *, name: str
    ) -> None:
        self.subscription = backend.subscribe(channel)
        self._task = asyncio.create_task(follow(self.subscription), name=name)

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self.subscription.close()
