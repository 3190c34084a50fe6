"""Stopping a task ends it quietly, and never swallows the caller's own cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from headway.observe import BackgroundTask
from headway.tasks import cancel_and_wait, wait_ended


def slow_to_stop(release: asyncio.Event, stopping: asyncio.Event) -> Callable[[], Coroutine[Any, Any, None]]:
    """A task's body that, once cancelled, takes until ``release`` to end (a flush on close, say)."""

    async def run() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            stopping.set()
            await release.wait()
            raise

    return run


async def test_the_tasks_own_cancellation_ends_the_wait_quietly() -> None:
    task = asyncio.create_task(asyncio.Event().wait())
    await asyncio.sleep(0)
    await cancel_and_wait(task, None)
    assert task.cancelled()


async def test_a_caller_cancelled_while_it_waits_is_cancelled_not_resumed() -> None:
    release, stopping = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(slow_to_stop(release, stopping)())
    await asyncio.sleep(0)
    resumed: list[bool] = []

    async def closer() -> None:
        await cancel_and_wait(task)
        resumed.append(True)  # swallowing the caller's CancelledError would get here

    caller = asyncio.create_task(closer())
    await asyncio.wait_for(stopping.wait(), 5)
    caller.cancel()  # e.g. a shutdown's deadline, while the task is still stopping
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(caller, 5)
    assert caller.cancelled() and resumed == []
    assert task.done()


async def test_cleanup_run_because_the_caller_is_cancelled_goes_on_to_its_end() -> None:
    """In a ``finally`` of a cancelled caller, the wait must not cut the rest of the cleanup short."""
    helper = asyncio.create_task(asyncio.Event().wait())
    cleaned: list[str] = []
    entered = asyncio.Event()

    async def request() -> None:
        try:
            entered.set()
            await asyncio.Event().wait()
        finally:
            await cancel_and_wait(helper)
            cleaned.append("settled")  # the idempotency middleware settles its entry here

    caller = asyncio.create_task(request())
    await asyncio.wait_for(entered.wait(), 5)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(caller, 5)
    assert cleaned == ["settled"] and helper.cancelled()


async def test_a_task_that_failed_raises_its_error() -> None:
    async def fail() -> None:
        raise RuntimeError("broken")

    task = asyncio.create_task(fail())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="broken"):
        await wait_ended(task)


async def test_a_background_task_closed_by_a_cancelled_caller_passes_the_cancellation_on() -> None:
    release, stopping = asyncio.Event(), asyncio.Event()
    background = BackgroundTask("headway-test-slow-stop")
    background.start(slow_to_stop(release, stopping))
    await asyncio.sleep(0)
    closer = asyncio.create_task(background.close())
    await asyncio.wait_for(stopping.wait(), 5)
    closer.cancel()
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(closer, 5)
    assert closer.cancelled() and not background.running
