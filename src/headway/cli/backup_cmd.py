"""``headway backup`` / ``headway restore``: a consistent copy of the store, checked on the way back."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from headway.cli._common import friendly_errors
from headway.config import load_config
from headway.store import backup_store, restore_store

ConfigOption = Annotated[str, typer.Option("--config", "-c", help="Path to the YAML config file.")]


@friendly_errors
def backup_command(
    out: Annotated[str, typer.Option("--out", "-o", help="Backup file to write (never overwritten).")],
    config: ConfigOption = "headway.yaml",
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Back up the store (SQLite online backup, or pg_dump) with a checksummed manifest beside it."""
    manifest = backup_store(load_config(config).store, out)
    if as_json:
        print(json.dumps(manifest.to_dict()))
        return
    Console().print(
        f"[green]backed up[/] {manifest.source} → {out} ({manifest.bytes:,} bytes, {manifest.format}, "
        f"sha256 {manifest.sha256[:16]}…, schema {', '.join(manifest.revisions) or 'unknown'})",
        highlight=False,
    )


@friendly_errors
def restore_command(
    backup_file: Annotated[str, typer.Argument(help="A file written by `headway backup` (its manifest beside it).")],
    config: ConfigOption = "headway.yaml",
    force: Annotated[bool, typer.Option("--force", help="Replace a store that already holds data (stop gateways first).")] = False,
) -> None:
    """Restore a backup into the configured store; then run `headway audit verify`."""
    store = load_config(config).store
    manifest = restore_store(store, backup_file, force=force)
    Console().print(
        f"[green]restored[/] {backup_file} (taken {manifest.source}, schema {', '.join(manifest.revisions) or 'unknown'}) "
        "— next: `headway audit verify`, then start the gateways (they migrate a restored older schema forward).",
        highlight=False,
    )
