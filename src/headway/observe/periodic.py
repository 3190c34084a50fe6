"""Run a synchronous job every N seconds in a worker thread until cancelled.

Background work of the observe part (alert evaluation, retention) must never stop
because one run failed: failures are logged and the next run happens on time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("headway.observe")


async def every(interval: float, job: Callable[[], Awaitable[object]], *, name: str, first_delay: float | None = None) -> None:
    await asyncio.sleep(interval if first_delay is None else first_delay)
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; retrying in %.1fs", name, interval)
        await asyncio.sleep(interval)
