"""``every`` keeps a background job running through failures; ``BackgroundTask`` starts one task and stops it on close."""

from __future__ import annotations

import asyncio
import logging

import pytest

from headway.observe import BackgroundTask, every

HOUR = 3600.0  # an interval no test waits out: a second run only comes from a wake


async def test_every_logs_a_failed_run_on_the_given_logger_and_runs_again_when_woken(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []
    ran = asyncio.Event()
    wake = asyncio.Event()

    async def job() -> None:
        calls.append(len(calls))
        ran.set()
        if len(calls) == 1:
            raise RuntimeError("store down")

    logger = logging.getLogger("headway.test-periodic")
    with caplog.at_level(logging.ERROR, logger="headway.test-periodic"):
        task = asyncio.create_task(every(HOUR, job, name="test sweep", first_delay=0, wake=wake, logger=logger))
        await asyncio.wait_for(ran.wait(), 10)  # first_delay=0: at once, not after an hour
        ran.clear()
        wake.set()
        await asyncio.wait_for(ran.wait(), 10)  # the failure did not end the loop; the wake cut the hour short
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert calls == [0, 1]
    failures = [r for r in caplog.records if r.name == "headway.test-periodic"]
    assert [r.getMessage() for r in failures] == ["test sweep failed; retrying in 3600.0s"]
    assert failures[0].exc_info is not None and isinstance(failures[0].exc_info[1], RuntimeError)
    assert not wake.is_set()  # cleared for the next wait


async def test_a_background_task_starts_once_and_close_cancels_and_awaits_it() -> None:
    started: list[str] = []
    cancelled: list[str] = []

    async def loop() -> None:
        name = asyncio.current_task().get_name()  # type: ignore[union-attr]
        started.append(name)
        try:
            await asyncio.sleep(HOUR)
        finally:
            cancelled.append(name)

    background = BackgroundTask("headway-test-loop")
    await background.close()  # never started: nothing to stop
    background.start(loop)
    background.start(loop)  # already running: no second task
    assert background.running
    await asyncio.sleep(0)
    assert started == ["headway-test-loop"]
    await background.close()
    assert cancelled == ["headway-test-loop"]  # close returned after the task ran its cleanup
    assert not background.running
    background.start(loop)  # a closed one starts again
    await asyncio.sleep(0)
    assert len(started) == 2
    await background.close()
    assert len(cancelled) == 2


async def test_every_ends_when_cancelled_as_it_is_woken() -> None:
    # A kick (wake.set) in the same loop pass as the close's cancel: the cancellation must end the
    # loop. With asyncio.wait_for on 3.11 it was lost, the job ran again and the loop went on.
    runs: list[int] = []
    wake, ran = asyncio.Event(), asyncio.Event()

    async def job() -> None:
        runs.append(len(runs))
        ran.set()

    task = asyncio.create_task(every(60, job, name="kicked", first_delay=0, wake=wake))
    await asyncio.wait_for(ran.wait(), 5)
    await asyncio.sleep(0.05)  # now waiting on wake
    wake.set()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert runs == [0]
