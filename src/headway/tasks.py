"""Stopping background tasks: one rule for every part that starts one.

A part that stops its own task cancels it and waits for it to end, and the task's
``CancelledError`` is the expected end, not an error. The caller's own cancellation is a
different thing: a shutdown with a deadline, or a request cancelled while it cleans up,
must not lose it by swallowing every ``CancelledError`` that the wait raises
(``contextlib.suppress(asyncio.CancelledError)`` did). Only a cancellation of the caller
that arrives *during* the wait is re-raised: cleanup already running because the caller
is being cancelled (a ``finally``) goes on to its end, as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["cancel_and_wait", "wait_ended"]


async def wait_ended(task: asyncio.Task[Any]) -> None:
    """Wait for ``task`` to end; its own cancellation ends the wait quietly, a cancellation of
    the caller during the wait is raised. Any other exception of the task is raised."""
    current = asyncio.current_task()
    cancelling = current.cancelling() if current is not None else 0
    try:
        await task
    except asyncio.CancelledError:
        if current is not None and current.cancelling() > cancelling:
            raise


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel each task given (None is skipped), then wait for each to end (``wait_ended``)."""
    running = [task for task in tasks if task is not None]
    for task in running:
        task.cancel()
    for task in running:
        await wait_ended(task)
