"""Shared CLI plumbing: consoles, and turning Headway errors into clear messages."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console

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
