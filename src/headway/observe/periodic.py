"""Background work that outlives one request: a periodic loop, and the task that runs it.

``every`` runs a job every N seconds until cancelled; background work (alert evaluation,
retention, the idempotency purge, the review sweeper) must never stop because one run
failed: failures are logged and the next run happens on time. ``BackgroundTask`` is how
a service starts such a loop (or any long-running one) and stops it on close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from headway.tasks import cancel_and_wait

log = logging.getLogger("headway.observe")


async def every(
    interval: float,
    job: Callable[[], Awaitable[object]],
    *,
    name: str,
    first_delay: float | None = None,
    wake: asyncio.Event | None = None,
    logger: logging.Logger = log,
) -> None:
    """``first_delay`` 0 runs the job at once; ``wake.set()`` runs it before the interval is up."""
    delay = interval if first_delay is None else first_delay
    if delay:
        await asyncio.sleep(delay)
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s failed; retrying in %.1fs", name, interval)
        if wake is None:
            await asyncio.sleep(interval)
            continue
        # asyncio.timeout, not wait_for: on 3.11 wait_for returns normally when ``wake`` is set in
        # the same loop pass as the task is cancelled, and the loop would run on past its close.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await wake.wait()
        wake.clear()


class BackgroundTask:
    """One named task a service runs beside its requests: started once, cancelled and awaited on close.

    ``start`` while it runs does nothing; after ``close`` it may start again.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if self._task is None:
            self._task = asyncio.create_task(run(), name=self.name)

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
