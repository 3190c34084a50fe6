"""Shared CLI plumbing: consoles, tables that fit the terminal, and turning Headway errors into clear messages."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import wraps
from typing import Any, Literal, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from headway.errors import HeadwayError

F = TypeVar("F", bound=Callable[..., Any])


def stderr_console() -> Console:
    return Console(stderr=True)


def friendly_errors(func: F) -> F:
    """Print a one-line error instead of a traceback for every error Headway raises on purpose."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except HeadwayError as exc:
            stderr_console().print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a CLI table: ``key`` columns (ids) are never wrapped, cut or dropped."""

    header: str
    key: bool = False
    priority: int = 0  # when the terminal is too narrow, the lowest priority goes first
    justify: Literal["left", "right"] = "left"


_CELL_OVERHEAD = 3  # a border and one space of padding each side
_MIN_TEXT = 8  # a wrapped text column keeps at least this many characters per line


def fit_table(title: str, columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> Table:
    """A table that fits ``width`` columns: ids whole on one line, long text wrapped, and the
    lowest-priority columns left out (named in the caption) when even wrapping cannot fit."""
    natural = [max([len(c.header)] + [len(row[i]) for row in rows]) for i, c in enumerate(columns)]

    def least(i: int) -> int:
        return natural[i] if columns[i].key else min(natural[i], max(_MIN_TEXT, len(columns[i].header)))

    shown = list(range(len(columns)))
    dropped: list[int] = []
    while sum(least(i) + _CELL_OVERHEAD for i in shown) + 1 > width:
        optional = [i for i in shown if not columns[i].key]
        if not optional:
            break
        victim = min(optional, key=lambda i: (columns[i].priority, -i))
        shown.remove(victim)
        dropped.append(victim)
    caption = None
    if dropped:
        hidden = ", ".join(columns[i].header for i in sorted(dropped))
        caption = f"not shown at this width: {hidden} (widen the terminal or use --json)"
    table = Table(title=title, caption=caption, caption_justify="left", expand=False)
    for i in shown:
        column = columns[i]
        if column.key:
            table.add_column(column.header, no_wrap=True, min_width=natural[i], justify=column.justify)
        else:
            table.add_column(column.header, overflow="fold", justify=column.justify, min_width=least(i))
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    return table


def print_table(title: str, columns: Sequence[Column], rows: Sequence[Sequence[str]], console: Console | None = None) -> None:
    console = console or Console()
    console.print(fit_table(title, columns, rows, console.width), highlight=False)
