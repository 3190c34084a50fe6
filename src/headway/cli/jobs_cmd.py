"""``headway worker``, ``headway jobs …`` and ``headway batches …``: run and inspect asynchronous work.

``headway worker`` runs the job worker without serving HTTP: start as many as the work
needs, on any machine that reaches the store (and Redis, for instant wake-ups). The
list commands read the store directly, every caller's jobs and batches, for operators.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import signal
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from headway.cli._common import friendly_errors
from headway.config import load_config
from headway.errors import ConfigError, HeadwayError
from headway.jobs import BatchStore, JobStore
from headway.store import SqlStore, open_store

ConfigOption = Annotated[str, typer.Option("--config", "-c", help="Path to the YAML config file.")]
LimitOption = Annotated[int, typer.Option(min=1, max=10_000, help="Most rows to show.")]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]

jobs_app = typer.Typer(help="Background requests (Prefer: respond-async).", no_args_is_help=True)
batches_app = typer.Typer(help="Batches (the OpenAI-compatible Batch API).", no_args_is_help=True)


@friendly_errors
def worker_command(config: ConfigOption = "headway.yaml") -> None:
    """Run the job worker (background requests and batches) without serving HTTP."""
    from headway.serving import Runtime

    loaded = load_config(config)

    async def main() -> None:
        runtime = Runtime.from_config(loaded)
        if runtime.jobs is None:
            raise ConfigError("jobs need a SQL store (sqlite:/// or postgresql://)", path="store")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await runtime.start()
        try:
            worker = runtime.jobs.start_worker()
            Console().print(f"headway worker {worker.owner}: background requests and batches from {loaded.store.split(':', 1)[0]}; Ctrl-C stops")
            await stop.wait()
        finally:
            await runtime.close()  # hands the leases back so another worker goes on at once

    asyncio.run(main())


def _open(config_path: str) -> SqlStore:
    store = open_store(load_config(config_path).store)
    store.migrate()
    return store


def _time(value: float | None) -> str:
    return dt.datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@jobs_app.command("list")
@friendly_errors
def list_jobs(config: ConfigOption = "headway.yaml", status: str | None = None, limit: LimitOption = 20, as_json: JsonOption = False) -> None:
    """Recent background requests, newest first."""
    store = _open(config)
    try:
        found = JobStore(store.database).list_all(status=status, limit=limit)
    finally:
        store.close()
    if as_json:
        for job in found:
            print(orjson.dumps(job.to_wire()).decode())
        return
    table = Table(title=f"{len(found)} jobs")
    for column in ("created", "job id", "caller", "model", "status", "attempts", "cost USD", "webhook"):
        table.add_column(column, overflow="fold")
    for job in found:
        table.add_row(
            _time(job.created_at), job.id, job.caller, job.model, job.wire_status(), str(job.attempts),
            f"{job.cost_usd:.6f}" if job.cost_usd is not None else "-", job.webhook_status or "-",
        )
    Console().print(table)


@batches_app.command("list")
@friendly_errors
def list_batches(config: ConfigOption = "headway.yaml", status: str | None = None, limit: LimitOption = 20, as_json: JsonOption = False) -> None:
    """Recent batches with their progress and cost, newest first."""
    store = _open(config)
    try:
        found = BatchStore(store.database).list_all(status=status, limit=limit)
    finally:
        store.close()
    if as_json:
        for batch in found:
            print(orjson.dumps(batch.to_wire()).decode())
        return
    table = Table(title=f"{len(found)} batches")
    for column in ("created", "batch id", "caller", "status", "done/total", "failed", "cost USD", "expires"):
        table.add_column(column, overflow="fold")
    for batch in found:
        table.add_row(
            _time(batch.created_at), batch.id, batch.caller, batch.status,
            f"{batch.completed + batch.failed}/{batch.total}", str(batch.failed), f"{batch.cost_usd:.6f}", _time(batch.expires_at),
        )
    Console().print(table)


@batches_app.command("cancel")
@friendly_errors
def cancel_batch(batch_id: Annotated[str, typer.Argument(help="The batch id (batch_…).")], config: ConfigOption = "headway.yaml") -> None:
    """Cancel a batch: its worker stops at its next lease renewal and writes the partial results."""
    store = _open(config)
    try:
        batch = BatchStore(store.database).request_cancel(batch_id)
    finally:
        store.close()
    if batch is None:
        raise HeadwayError(f"no batch {batch_id!r}")
    typer.echo(f"{batch.id}: {batch.status}")
