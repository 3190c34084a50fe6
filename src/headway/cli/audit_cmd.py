"""``headway audit verify|list``: check the hash chain, read the trail."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from headway.cli._common import friendly_errors
from headway.cli.keys_cmd import ConfigOption, JsonOption, Session

app = typer.Typer(help="The audit trail: verify the hash chain, list records.", no_args_is_help=True)


@app.command("verify")
@friendly_errors
def verify(config: ConfigOption = "headway.yaml", as_json: JsonOption = False) -> None:
    """Walk the chain; name every edited or deleted record. Exit 1 when any is found."""
    with Session(config) as session:
        report = session.audit.verify()
    if as_json:
        print(json.dumps(report.to_dict()))
    else:
        console = Console()
        if report.ok:
            console.print(f"[green]audit trail intact[/]: {report.checked} records, head #{report.head_seq}")
        else:
            console.print(f"[bold red]audit trail tampered[/]: {len(report.problems)} problem(s) in {report.checked} records")
            for problem in report.problems:
                console.print(f"  #{problem.seq} {problem.kind}: {problem.message}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)


@app.command("list")
@friendly_errors
def list_records(
    config: ConfigOption = "headway.yaml",
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    action: str | None = None,
    as_json: JsonOption = False,
) -> None:
    """The newest audit records."""
    with Session(config) as session:
        records = session.audit.records(limit=limit, action=action)
    if as_json:
        for record in records:
            print(json.dumps(record.to_dict()))
        return
    table = Table(title=f"Last {len(records)} audit records")
    for column in ("#", "time", "actor", "action", "target", "outcome"):
        table.add_column(column, overflow="fold")
    for r in records:
        e = r.event
        table.add_row(str(r.seq), dt.datetime.fromtimestamp(e.created_at).strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.action,
                      e.target or "-", e.outcome)
    Console().print(table)
