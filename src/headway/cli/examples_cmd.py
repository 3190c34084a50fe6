"""``headway config example NAME``: print a config shipped inside the package (works from a wheel install)."""

from __future__ import annotations

from importlib.resources import files
from typing import Annotated

import typer

from headway.cli._common import friendly_errors
from headway.errors import ConfigError

EXAMPLES = files("headway") / "examples"


def example_names() -> list[str]:
    return sorted(entry.name.removesuffix(".yaml") for entry in EXAMPLES.iterdir() if entry.name.endswith(".yaml"))


@friendly_errors
def example_command(
    name: Annotated[str, typer.Argument(help="Which example: demo or production.")],
) -> None:
    """Print a shipped example config (redirect it to a file, edit, then `headway config check`)."""
    if name not in example_names():
        raise ConfigError(f"no example config {name!r}; choose one of: {', '.join(example_names())}")
    typer.echo((EXAMPLES / f"{name}.yaml").read_text(), nl=False)
