"""``headway gate``: measure a running deployment and its config against a readiness profile.

Exit codes: 0 pass, 1 pass with warnings, 2 fail, 3 could not evaluate (the target is
unreachable, the profile or config cannot be read, or unknowns decide the verdict).
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from headway.cli._common import stderr_console
from headway.errors import HeadwayError
from headway.gate import (
    EXIT_CODES,
    FORMATS,
    GateOptions,
    GateReport,
    load_profile,
    print_table,
    render_html,
    render_json,
    render_markdown,
    run_gate,
)

UNKNOWN_EXIT = EXIT_CODES["unknown"]


def render(report: GateReport, fmt: str, *, width: int = 80) -> str:
    if fmt == "json":
        return render_json(report) + "\n"
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "html":
        return render_html(report)
    console = Console(record=True, width=width, file=io.StringIO())
    print_table(report, console)
    return console.export_text()


def gate_command(
    config: Annotated[str | None, typer.Option("--config", "-c", help="The deployment's YAML config file.")] = None,
    url: Annotated[str | None, typer.Option(help="The running deployment (default: server.public_url or host:port from the config).")] = None,
    profile: Annotated[str, typer.Option(help="strict, standard, or a profile YAML file.")] = "standard",
    fmt: Annotated[str, typer.Option("--format", help="table, json, markdown or html.")] = "table",
    out: Annotated[Path | None, typer.Option(help="Write the report here instead of standard output.")] = None,
    drill: Annotated[bool, typer.Option(help="Run the fault drill and a short load test first (staging, against `headway sim`).")] = False,
    api_key: Annotated[str | None, typer.Option("--api-key", help="An operator or admin key (default: $HEADWAY_ADMIN_KEY).")] = None,
    loadtests: Annotated[str | None, typer.Option(help="Folder of saved load tests (default: the profile's load.runs_dir).")] = None,
    evals: Annotated[str | None, typer.Option(help="Folder of saved evaluation runs (default: the profile's quality.runs_dir).")] = None,
    save: Annotated[bool, typer.Option("--save/--no-save", help="Store the report in the deployment (console history).")] = True,
) -> None:
    """Evaluate a deployment against the readiness checklist: reliability, load, observability, security, data, review, quality, operations."""
    errors = stderr_console()
    if fmt not in FORMATS:
        errors.print(f"[bold red]error:[/] --format must be one of {', '.join(FORMATS)}", highlight=False)
        raise typer.Exit(UNKNOWN_EXIT)
    try:
        options = GateOptions(
            profile=load_profile(profile),
            url=url,
            config_file=config,
            api_key=api_key,
            drill=drill,
            loadtest_dir=loadtests,
            evals_dir=evals,
            save=save,
            say=lambda message: errors.print(f"[dim]gate:[/] {message}", highlight=False),
        )
        report = asyncio.run(run_gate(options))
    except HeadwayError as exc:
        errors.print(f"[bold red]could not evaluate:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(UNKNOWN_EXIT) from None
    if out is not None:
        out.write_text(render(report, fmt), encoding="utf-8")
        errors.print(f"{report.verdict_label} (exit {report.exit_code}): report written to {out}", highlight=False)
    elif fmt == "table":
        print_table(report, Console())
    else:
        typer.echo(render(report, fmt), nl=False)
    raise typer.Exit(report.exit_code)
