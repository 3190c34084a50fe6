"""Live terminal progress: one rich bar per step, fed by sampling the recorder.

The hot path never touches the display: a watcher task reads the recorder's counters
a few times a second, so showing progress costs the same at 10 or 10,000 req/s.
"""

from __future__ import annotations

import asyncio
from time import perf_counter

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from headway.loadtest.recorder import StepRecorder

REFRESH_S = 0.25


def new_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[requests]:>8} req"),
        TextColumn("{task.fields[rps]:>8.0f} req/s"),
        TextColumn("{task.fields[in_flight]:>5} in flight"),
        TextColumn("[red]{task.fields[errors]} err"),
        console=console,
        refresh_per_second=4,
    )


def add_step(progress: Progress, label: str) -> TaskID:
    return progress.add_task(label, total=100.0, requests=0, rps=0.0, in_flight=0, errors=0)


async def watch_step(
    progress: Progress,
    task: TaskID,
    recorder: StepRecorder,
    *,
    duration_s: float | None,
    requests: int | None,
) -> None:
    """Update ``task`` from ``recorder`` until cancelled; the bar follows whichever bound is nearer."""
    started = last_at = perf_counter()
    last_done = 0
    while True:
        await asyncio.sleep(REFRESH_S)
        now = perf_counter()
        done = recorder.completed
        fractions = []
        if duration_s:
            fractions.append((now - started) / duration_s)
        if requests:
            fractions.append(recorder.sent / requests)
        progress.update(
            task,
            completed=min(1.0, max(fractions, default=0.0)) * 100.0,
            requests=done,
            rps=(done - last_done) / (now - last_at),
            in_flight=recorder.in_flight,
            errors=recorder.error_count,
        )
        last_at, last_done = now, done


def finish_step(progress: Progress, task: TaskID, recorder: StepRecorder, elapsed_s: float) -> None:
    """Freeze the bar on the step's totals, with its average rate."""
    progress.update(
        task,
        completed=100.0,
        requests=recorder.completed,
        rps=recorder.completed / max(elapsed_s, 1e-9),
        in_flight=0,
        errors=recorder.error_count,
    )
