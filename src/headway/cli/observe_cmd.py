"""``headway cost`` and ``headway feedback export``: read what the observe part stored."""

from __future__ import annotations

import contextlib
import sys
from typing import Annotated, Any

import typer

from headway.cli._common import friendly_errors

feedback_app = typer.Typer(help="User feedback on requests: export it as an evaluation dataset.", no_args_is_help=True)

ConfigOption = Annotated[str, typer.Option("--config", "-c", help="Path to the YAML config file.")]
SinceOption = Annotated[str | None, typer.Option(help="From: epoch seconds, ISO 8601, or a duration back (24h, 7d).")]
UntilOption = Annotated[str | None, typer.Option(help="Until (exclusive), same forms as --since.")]


def _open(config_path: str) -> Any:
    from headway.config import load_config
    from headway.store import open_store

    store = open_store(load_config(config_path).store)
    store.migrate()
    return store


@friendly_errors
def cost_command(
    config: ConfigOption = "headway.yaml",
    group_by: Annotated[str, typer.Option("--group-by", "-g", help="caller (key), team, model or deployment.")] = "caller",
    since: SinceOption = "30d",
    until: UntilOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Cost per caller (key), team, model or deployment, from the request log."""
    import orjson
    from rich.console import Console
    from rich.table import Table

    from headway.errors import InvalidRequestError
    from headway.observe import GROUP_COLUMNS, cost_by, parse_time, totals

    if group_by not in GROUP_COLUMNS:
        raise InvalidRequestError(f"--group-by must be one of {', '.join(GROUP_COLUMNS)}")
    start = parse_time(since, param="--since") if since else None
    end = parse_time(until, param="--until") if until else None
    store = _open(config)
    try:
        rows = cost_by(store.database, group_by, since=start, until=end)  # type: ignore[arg-type]
    finally:
        store.close()
    if as_json:
        report = {"group_by": group_by, "since": start, "until": end, "data": [r.to_dict(group_by) for r in rows], "total": totals(rows)}
        sys.stdout.write(orjson.dumps(report).decode() + "\n")
        return
    table = Table(title=f"Cost by {group_by}" + (f" since {since}" if since else ""))
    for column in (group_by, "requests", "cost USD", "tokens in", "tokens out", "unpriced"):
        table.add_column(column, justify="left" if column == group_by else "right")
    for row in rows:
        table.add_row(
            row.key or "-", str(row.requests), f"{row.cost_usd:.6f}", str(row.input_tokens), str(row.output_tokens),
            str(row.unpriced_requests),
        )
    total = totals(rows)
    table.add_section()
    table.add_row("total", str(total["requests"]), f"{total['cost_usd']:.6f}", str(total["input_tokens"]), str(total["output_tokens"]), str(total["unpriced_requests"]))
    Console().print(table)


@feedback_app.command("export")
@friendly_errors
def export_feedback(
    config: ConfigOption = "headway.yaml",
    since: SinceOption = None,
    until: UntilOption = None,
    label: Annotated[str | None, typer.Option(help="Only feedback with this label.")] = None,
    out: Annotated[str | None, typer.Option("--out", "-o", help="Write JSONL here instead of standard output.")] = None,
) -> None:
    """Feedback joined with its request record, one JSON object per line (oldest first)."""
    import orjson

    from headway.observe import FeedbackStore, parse_time

    start = parse_time(since, param="--since") if since else None
    end = parse_time(until, param="--until") if until else None
    store = _open(config)
    count = 0
    try:
        with contextlib.ExitStack() as stack:
            handle = stack.enter_context(open(out, "wb")) if out else sys.stdout.buffer
            for line in FeedbackStore(store.database).export(since=start, until=end, label=label):
                handle.write(orjson.dumps(line) + b"\n")
                count += 1
    finally:
        store.close()
    if out:
        typer.echo(f"wrote {count} feedback lines to {out}", err=True)
