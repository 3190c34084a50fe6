"""``headway records erase --subject ID``: erase a data subject's stored records, audited."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console

from headway.cli._common import friendly_errors
from headway.cli.keys_cmd import ConfigOption, JsonOption, cli_actor

app = typer.Typer(help="Stored records: erase a data subject's.", no_args_is_help=True)


@app.command("erase")
@friendly_errors
def erase(
    subject: Annotated[str, typer.Option(help="A caller, or the metadata.subject / metadata.user of requests.")],
    config: ConfigOption = "headway.yaml",
    as_json: JsonOption = False,
) -> None:
    """Remove the subject's requests, cached answers and review items from the store."""
    from headway.config import load_config
    from headway.serving import Runtime

    loaded = load_config(config)
    # The runtime is built (not started) so every part's erasure hook is registered.
    runtime = Runtime.from_config(loaded)
    try:
        runtime.store.migrate()
        result = asyncio.run(runtime.auth.erase(subject, actor=cli_actor()))
    finally:
        runtime.store.close()
    if as_json:
        print(json.dumps(result))
        return
    erased = ", ".join(f"{count} {name}" for name, count in result["erased"].items()) or "nothing registered"
    Console().print(f"Erased {erased}. Audited as subject sha256 {result['subject_sha256'][:16]}…", highlight=False)
