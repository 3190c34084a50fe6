"""``headway migrate status|upgrade|downgrade``: the schema, per branch, and moving it — or printing the SQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from headway.cli._common import friendly_errors, stderr_console
from headway.cli.keys_cmd import ConfigOption, JsonOption
from headway.config import load_config
from headway.store import (
    SchemaUnknownError,
    create_store_engine,
    downgrade_schema,
    schema_sql,
    schema_status,
    upgrade_schema,
)

app = typer.Typer(
    help="Database schema migrations: status per branch, upgrade, downgrade, or print the SQL (--sql).",
    no_args_is_help=True,
)

StoreOption = Annotated[str | None, typer.Option("--store", help="A store URL; overrides the config's `store:`.")]
SqlOption = Annotated[bool, typer.Option("--sql", help="Print the SQL instead of running it (Alembic offline mode).")]

F = TypeVar("F", bound=Callable[..., Any])


def schema_errors(func: F) -> F:
    """A schema this release does not know: say which command fixes it, exit 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SchemaUnknownError as exc:
            stderr_console().print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def _engine(config: str, store: str | None) -> Iterator[Engine]:
    if store is None:
        store = load_config(config).store
    engine = create_store_engine(store)
    try:
        yield engine
    finally:
        engine.dispose()


def _print_status(engine: Engine, as_json: bool) -> bool:
    branches = schema_status(engine)
    if as_json:
        print(json.dumps({"up_to_date": all(b.up_to_date for b in branches), "branches": [b.to_dict() for b in branches]}))
    else:
        table = Table(title="Schema revisions per branch")
        for column in ("branch", "current", "head", "state"):
            table.add_column(column)
        for b in branches:
            table.add_row(b.branch, b.current or "-", b.head, "[green]up to date[/]" if b.up_to_date else "[yellow]pending[/]")
        Console().print(table)
    return all(b.up_to_date for b in branches)


@app.command("status")
@friendly_errors
@schema_errors
def status(config: ConfigOption = "headway.yaml", store: StoreOption = None, as_json: JsonOption = False) -> None:
    """Current vs head revision per branch. Exit 1 when a branch is behind (run `headway migrate upgrade`)."""
    with _engine(config, store) as engine:
        if not _print_status(engine, as_json):
            raise typer.Exit(1)


@app.command("upgrade")
@friendly_errors
@schema_errors
def upgrade(
    config: ConfigOption = "headway.yaml",
    store: StoreOption = None,
    to: Annotated[str, typer.Option("--to", help="A revision, branch@rev, or `heads` (every branch).")] = "heads",
    sql: SqlOption = False,
    as_json: JsonOption = False,
) -> None:
    """Apply migrations up to --to (default: every branch's head). Safe while replicas run."""
    _move("upgrade", to, config=config, store=store, sql=sql, as_json=as_json)


@app.command("downgrade")
@friendly_errors
@schema_errors
def downgrade(
    to: Annotated[str, typer.Option("--to", help="The revision to go back to: a revision, branch@rev, branch@-1, or `base`.")],
    config: ConfigOption = "headway.yaml",
    store: StoreOption = None,
    sql: SqlOption = False,
    as_json: JsonOption = False,
) -> None:
    """Undo migrations down to --to. Tables added after it are dropped, with their rows: back up first."""
    _move("downgrade", to, config=config, store=store, sql=sql, as_json=as_json)


def _move(action: str, target: str, *, config: str, store: str | None, sql: bool, as_json: bool) -> None:
    with _engine(config, store) as engine:
        if sql:
            print(schema_sql(engine, action, target), end="")
            return
        (upgrade_schema if action == "upgrade" else downgrade_schema)(engine, target)
        _print_status(engine, as_json)
