"""``headway eval``: run an evaluation set against a live route and store the run as readiness evidence.

Exit codes: 0 the run passed (pass rate at least ``--min-pass-rate`` and no case that
passed last time fails now), 2 it did not, 3 it could not run (unreadable set or
config, unreachable gateway, unknown route).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from headway.cli._common import stderr_console
from headway.config import config_fingerprint
from headway.errors import ConfigError, HeadwayError
from headway.evals import EvalOptions, EvalRun, load_set, run_eval
from headway.gate import Binding, gateway_url, parse_for_gate, read_raw

ADMIN_KEY_ENV = "HEADWAY_ADMIN_KEY"


def summary_table(run: EvalRun) -> Table:
    table = Table(title=f"headway eval: {run.set_name} on {run.route}", expand=True)
    table.add_column("case", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("why", ratio=1)
    for case in run.cases:
        why = case.error or "; ".join(f"{o['expectation']}: {o['detail']}" for o in case.outcomes if not o["passed"]) or "all expectations met"
        table.add_row(case.id, "pass" if case.passed else "FAIL", why)
    return table


def eval_command(
    eval_set: Annotated[Path, typer.Argument(help="The evaluation set (JSONL).")],
    route: Annotated[str, typer.Option("--route", "-r", help="The route (model name) to evaluate.")],
    config: Annotated[str | None, typer.Option("--config", "-c", help="The deployment's config: binds the run to it.")] = None,
    url: Annotated[str | None, typer.Option(help="The gateway (default: from the config).")] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", help="A key that may call the route (default: $HEADWAY_ADMIN_KEY).")] = None,
    judge: Annotated[str | None, typer.Option(help="A chat route that scores rubric expectations.")] = None,
    runs_dir: Annotated[str, typer.Option(help="Where runs are saved (the gate's quality.runs_dir).")] = ".headway/evals",
    min_pass_rate: Annotated[float, typer.Option(min=0, max=1, help="Share of cases that must pass.")] = 1.0,
    concurrency: Annotated[int, typer.Option(min=1, max=64)] = 4,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Run an evaluation set against a live route; compare with the previous run; save it for `headway gate`."""
    errors = stderr_console()
    if fmt not in ("table", "json"):
        errors.print("[bold red]error:[/] --format must be table or json", highlight=False)
        raise typer.Exit(3)
    try:
        cases = load_set(eval_set)
        parsed = parse_for_gate(read_raw(config), file=config) if config else None
        target = url or (gateway_url(parsed) if parsed is not None else None)
        if target is None:
            raise ConfigError("give --url or --config (the gateway to evaluate)")
        if parsed is not None and route not in parsed.models:
            raise ConfigError(f"--route {route!r} is not a model of {config} (known: {', '.join(parsed.models)})")
        binding = Binding(config_fingerprint(parsed), target.rstrip("/"), [route]).to_dict() if parsed is not None else None
        options = EvalOptions(
            url=target,
            api_key=api_key or os.environ.get(ADMIN_KEY_ENV),
            route=route,
            eval_set=cases,
            judge_route=judge,
            runs_dir=runs_dir,
            min_pass_rate=min_pass_rate,
            concurrency=concurrency,
            binding=binding,
        )
        run, path = asyncio.run(run_eval(options))
    except HeadwayError as exc:
        errors.print(f"[bold red]could not evaluate:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(3) from None
    if fmt == "json":
        typer.echo(json.dumps(run.to_dict(), indent=2))
    else:
        Console().print(summary_table(run))
    previous = run.previous
    if previous:
        errors.print(
            f"previous run {previous['id']}: pass rate {previous['pass_rate']:.0%} → {run.pass_rate:.0%}"
            + (f"; newly failing: {', '.join(run.regressed)}" if run.regressed else ""),
            highlight=False,
        )
    if binding is None:
        errors.print("note: without --config the run is not bound to a config, so the gate will not count it", highlight=False)
    errors.print(f"{'passed' if run.passed else 'FAILED'}: {run.pass_rate:.0%} of {len(run.cases)} cases (needs {min_pass_rate:.0%}); saved {path}", highlight=False)
    raise typer.Exit(0 if run.passed else 2)
