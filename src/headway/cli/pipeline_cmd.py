"""``headway pipeline run|status|history|quarantine|profile|worker``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from headway.cli._common import friendly_errors
from headway.config import HeadwayConfig, load_config
from headway.errors import ConfigError, HeadwayError

app = typer.Typer(help="Data pipelines: run, inspect, profile.", no_args_is_help=True)
ConfigOption = Annotated[str, typer.Option("--config", "-c", help="Path to the YAML config file.")]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON instead of a table.")]


def _when(stamp: float | None) -> str:
    return "-" if stamp is None else dt.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


def _open(config: HeadwayConfig) -> Any:
    from headway.store import open_store

    store = open_store(config.store)
    store.migrate()
    return store


def _definition(config: HeadwayConfig, name: str) -> Any:
    if name not in config.pipelines.definitions:
        known = ", ".join(sorted(config.pipelines.definitions)) or "none defined"
        raise ConfigError(f"no pipeline {name!r} in pipelines.definitions (known: {known})")
    return config.pipelines.definitions[name]


async def _run(config: HeadwayConfig, name: str, progress: Progress) -> Any:
    from headway.pipelines import run_pipeline, runner_deps
    from headway.providers import build_providers
    from headway.routing import Executor, build_routes

    store = await asyncio.to_thread(_open, config)
    providers = build_providers(config.providers)
    tasks: dict[str, Any] = {}

    def report(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total or 1)
        progress.update(tasks[stage], completed=done, total=total or 1)

    try:
        deps = runner_deps(config, store.database, build_routes(config, providers), Executor())
        return await run_pipeline(name, _definition(config, name), deps, trigger="manual", progress=report)
    finally:
        for provider in providers.values():
            await provider.close()
        store.close()


def _print_run(console: Console, run: Any) -> None:
    colour = {"ok": "green", "warn": "yellow", "degraded": "yellow", "failed": "red"}.get(run.status, "white")
    console.print(
        f"[bold {colour}]{run.status}[/] {run.run_id} in {run.duration_ms or 0:.0f} ms", highlight=False
    )
    console.print("counts: " + ", ".join(f"{k} {v}" for k, v in run.counts.items()), highlight=False)
    diff = {k: v for k, v in run.schema_diff.items() if v and k != "policies"}
    if diff:
        console.print(f"schema change: {diff} → {run.schema_diff.get('policies')}", highlight=False)
    for check in run.checks:
        console.print(
            f"check {check['check']}({check['field'] or ''}): {check['level']} — {check['detail']}",
            highlight=False,
        )
    if run.error:
        console.print(f"[red]error:[/] {run.error}", highlight=False)


@app.command("run")
@friendly_errors
def run_command(name: str, config: ConfigOption = "headway.yaml", as_json: JsonOption = False) -> None:
    """Run one pipeline now, with a progress bar; exit 1 when the run fails or degrades."""
    loaded = load_config(config)
    _definition(loaded, name)
    console = Console()
    columns = (TextColumn("{task.description:>6}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=as_json) as progress:
        run = asyncio.run(_run(loaded, name, progress))
    if as_json:
        print(orjson.dumps(run.to_json()).decode())
    else:
        _print_run(console, run)
    if run.status in ("failed", "degraded"):
        raise typer.Exit(1)


@app.command("status")
@friendly_errors
def status_command(config: ConfigOption = "headway.yaml", as_json: JsonOption = False) -> None:
    """Every configured pipeline with its latest run."""
    from headway.pipelines import PipelineRepository

    loaded = load_config(config)
    store = _open(loaded)
    try:
        latest = PipelineRepository(store.database).latest_runs()
    finally:
        store.close()
    rows: list[dict[str, Any]] = []
    for name, definition in loaded.pipelines.definitions.items():
        run = latest.get(name)
        cadence = definition.schedule.model_dump(exclude_none=True) if definition.schedule else None
        rows.append(
            {
                "pipeline": name,
                "source": definition.source.type,
                "schedule": cadence,
                "last_run": run.to_json() if run else None,
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="Pipelines")
    for column in (
        "pipeline",
        "source",
        "schedule",
        "last run",
        "status",
        "read/new/changed/deleted/quarantined",
    ):
        table.add_column(column)
    for row in rows:
        last: dict[str, Any] = row["last_run"] or {}
        counts = last.get("counts") or {}
        table.add_row(
            str(row["pipeline"]),
            str(row["source"]),
            json.dumps(row["schedule"]) if row["schedule"] else "-",
            _when(last.get("started_at")),
            str(last.get("status", "never run")),
            "/".join(str(counts.get(k, 0)) for k in ("read", "new", "changed", "deleted", "quarantined"))
            if counts
            else "-",
        )
    Console().print(table)


@app.command("history")
@friendly_errors
def history_command(
    name: str,
    config: ConfigOption = "headway.yaml",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    as_json: JsonOption = False,
) -> None:
    """Recent runs of one pipeline: counts, duration, schema changes, checks."""
    from headway.pipelines import PipelineRepository

    loaded = load_config(config)
    _definition(loaded, name)
    store = _open(loaded)
    try:
        runs = PipelineRepository(store.database).history(name, limit)
    finally:
        store.close()
    if as_json:
        for run in runs:
            print(orjson.dumps(run.to_json()).decode())
        return
    table = Table(title=f"Runs of {name}")
    for column in (
        "started",
        "status",
        "trigger",
        "ms",
        "read",
        "new",
        "changed",
        "deleted",
        "quarantined",
        "schema",
        "checks",
    ):
        table.add_column(column, overflow="fold")
    for run in runs:
        c = run.counts
        schema = ", ".join(f"{k}: {v}" for k, v in run.schema_diff.items() if v and k != "policies") or "-"
        checks = ", ".join(f"{x['check']}={x['level']}" for x in run.checks if x["level"] != "ok") or "ok"
        table.add_row(
            _when(run.started_at),
            run.status,
            run.trigger,
            f"{run.duration_ms or 0:.0f}",
            *(str(c.get(k, 0)) for k in ("read", "new", "changed", "deleted", "quarantined")),
            schema,
            checks,
        )
    Console().print(table)


@app.command("quarantine")
@friendly_errors
def quarantine_command(
    name: str,
    config: ConfigOption = "headway.yaml",
    run: Annotated[
        str | None, typer.Option("--run", help="A run id (default: the latest run that quarantined rows).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
    as_json: JsonOption = False,
) -> None:
    """Rows set aside by the contract or a schema-change policy, with the reasons."""
    from headway.pipelines import PipelineRepository

    loaded = load_config(config)
    _definition(loaded, name)
    store = _open(loaded)
    try:
        rows = PipelineRepository(store.database).quarantine(name, run_id=run, limit=limit)
    finally:
        store.close()
    if as_json:
        for row in rows:
            print(orjson.dumps(row.to_json()).decode())
        return
    table = Table(title=f"Quarantined rows of {name}" + (f" (run {rows[0].run_id})" if rows else ""))
    for column in ("row", "key", "reasons", "values"):
        table.add_column(column, overflow="fold")
    for row in rows:
        reasons = "; ".join(f"{r['field']}: {r['rule']}" for r in row.reasons)
        table.add_row(
            str(row.row_number or "-"),
            str(row.record_key)[:40],
            reasons,
            json.dumps(row.row, default=str)[:200],
        )
    Console().print(table)


def _source_for(
    source: str, query: str | None, key: str | list[str] | None, missing: list[str] | None = None
) -> dict[str, Any]:
    if "://" in source:
        if not query or not isinstance(key, str):
            raise ConfigError("a SQL source needs --query and one --key")
        return {"type": "sql", "url": source, "query": query, "key": key}
    path = Path(source)
    if path.is_dir():
        return {"type": "folder", "path": source}
    suffix = path.suffix.lower()
    if suffix == ".csv":
        markers = {"missing_values": missing} if missing else {}
        return {"type": "csv", "path": source, **({"key": key} if key else {}), **markers}
    if suffix in (".jsonl", ".ndjson"):
        return {"type": "jsonl", "path": source, **({"key": key} if key else {})}
    raise ConfigError(f"cannot tell what kind of source {source!r} is (a folder, .csv, .jsonl or a SQL URL)")


@app.command("profile")
@friendly_errors
def profile_command(
    source: Annotated[
        str, typer.Argument(help="A folder, a .csv/.jsonl file, or a SQLAlchemy URL (with --query).")
    ],
    query: Annotated[str | None, typer.Option(help="SQL sources: the SELECT to profile.")] = None,
    key: Annotated[
        list[str] | None,
        typer.Option(
            help="The field identifying a record; repeat for a composite key "
            "(default: measured, a complete and unique field or pair)."
        ),
    ] = None,
    missing: Annotated[
        list[str] | None,
        typer.Option(
            help="CSV: a value read as missing; repeat (default: NA, N/A, null, None, NaN, empty, …)."
        ),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the profile as JSON here.")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write an HTML report here.")] = None,
    contract_out: Annotated[
        Path, typer.Option("--contract", help="Where to write the proposed contract.")
    ] = Path("contract.proposed.yaml"),
) -> None:
    """Assess a source before building on it; write a proposed starting contract."""
    from pydantic import TypeAdapter, ValidationError

    from headway.config import SourceConfig
    from headway.pipelines import contract_yaml, print_profile, profile_html, profile_read, read_source

    given: str | list[str] | None = (key[0] if len(key) == 1 else list(key)) if key else None
    spec = _source_for(source, query, given, missing)
    try:
        config = TypeAdapter(SourceConfig).validate_python(spec)
    except ValidationError as exc:
        raise ConfigError(f"bad source: {exc.errors()[0]['msg']}") from None
    console = Console()
    with console.status("reading the source…"):
        read = read_source(config)
        result = profile_read(read, source=source, key=given)
    if result.key and "key" not in spec and spec["type"] in ("csv", "jsonl"):
        spec["key"] = result.key
    print_profile(result, console)
    contract_out.write_text(contract_yaml(result, spec), encoding="utf-8")
    console.print(f"proposed contract written to [bold]{contract_out}[/]", highlight=False)
    if json_out is not None:
        json_out.write_bytes(orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2))
    if html_out is not None:
        html_out.write_text(profile_html(result), encoding="utf-8")


@app.command("worker")
@friendly_errors
def worker_command(config: ConfigOption = "headway.yaml") -> None:
    """Run the scheduler and job workers without serving HTTP (scaled-out deployments)."""
    from headway.serving import Runtime

    loaded = load_config(config)

    async def main() -> None:
        runtime = Runtime.from_config(loaded)
        await runtime.start()
        if runtime.pipelines is None:
            raise HeadwayError("pipelines need a SQL store")
        Console().print(
            f"pipeline worker {runtime.pipelines.owner}: {len(loaded.pipelines.definitions)} pipelines; Ctrl-C stops"
        )
        try:
            await asyncio.Event().wait()
        finally:
            await runtime.close()

    asyncio.run(main())
