"""``run_load``: run every step of a ``LoadConfig`` in turn and build the ``LoadReport``.

Each step gets a fresh session whose connection pool is exactly as large as the load
it may offer (``concurrency`` for a closed loop, ``max_in_flight`` for an open one), so
one step's connections never flatter the next one's numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from time import perf_counter
from typing import Any

import aiohttp
from rich.console import Console
from rich.progress import Progress

from headway.loadtest import progress as live
from headway.loadtest.client import RequestSender, request_headers
from headway.loadtest.config import LoadConfig, StepPlan
from headway.loadtest.drivers import arrival_offsets, run_closed_loop, run_open_loop
from headway.loadtest.recorder import StepRecorder
from headway.loadtest.report import LoadReport, StepReport, summarise_step
from headway.loadtest.slo import evaluate_slos
from headway.tasks import cancel_and_wait


async def run_load(config: LoadConfig, progress: bool = False) -> LoadReport:
    """Run the load test; ``progress`` shows live bars when stderr is a terminal (quiet otherwise)."""
    console = Console(stderr=True)
    display = live.new_progress(console) if progress and console.is_terminal else None
    started_at = time.time()
    steps: list[StepReport] = []
    with contextlib.ExitStack() as stack:
        if display is not None:
            stack.enter_context(display)
        for plan in config.steps:
            steps.append(await _run_step(config, plan, display))
    report = LoadReport(started_at=started_at, finished_at=time.time(), config=config.to_dict(), steps=steps)
    report.slo_results = evaluate_slos(report, config.slos)
    return report


def run_load_blocking(config: LoadConfig, progress: bool = False) -> LoadReport:
    """Run ``run_load`` on a fresh event loop: uvloop when installed, asyncio's own otherwise."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(run_load(config, progress))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # optional: only the ceiling of one core's req/s depends on it
        return None
    return uvloop.new_event_loop


async def _run_step(config: LoadConfig, plan: StepPlan, display: Progress | None) -> StepReport:
    recorder = StepRecorder()
    pool_size = plan.concurrency if plan.concurrency is not None else config.max_in_flight
    connector = aiohttp.TCPConnector(
        limit=pool_size, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=60
    )
    session = aiohttp.ClientSession(
        connector=connector,
        headers=request_headers(config),
        timeout=aiohttp.ClientTimeout(total=config.timeout_s),
        cookie_jar=aiohttp.DummyCookieJar(),  # no per-response cookie bookkeeping
        trust_env=False,
    )
    async with session:
        sender = RequestSender(config, session, recorder)
        bar = live.add_step(display, plan.label) if display is not None else None
        watcher = None
        if display is not None and bar is not None:
            watcher = asyncio.create_task(
                live.watch_step(
                    display, bar, recorder, duration_s=config.duration_s, requests=config.requests
                )
            )
        started = perf_counter()
        try:
            await _drive(config, plan, sender, recorder)
        finally:
            elapsed = perf_counter() - started
            await cancel_and_wait(watcher)
        if display is not None and bar is not None:
            live.finish_step(display, bar, recorder, elapsed)
    return summarise_step(
        recorder,
        label=plan.label,
        mode=plan.mode,
        concurrency=plan.concurrency,
        rate=plan.rate,
        arrival=config.arrival if plan.rate is not None else None,
        elapsed_s=elapsed,
    )


def _drive(
    config: LoadConfig, plan: StepPlan, sender: RequestSender, recorder: StepRecorder
) -> Coroutine[Any, Any, None]:
    if plan.rate is None:
        assert plan.concurrency is not None  # a StepPlan sets exactly one of the two
        return run_closed_loop(
            sender.send, plan.concurrency, duration_s=config.duration_s, requests=config.requests
        )
    return run_open_loop(
        sender.send,
        recorder,
        arrival_offsets(plan.rate, config.arrival, config.seed),
        duration_s=config.duration_s,
        requests=config.requests,
        max_in_flight=config.max_in_flight,
    )
