"""The ``headway`` command: one typer app (``main.main``) and one small module per command group. See ``README.md``."""

from headway.cli.http_server import server_config
from headway.cli.replicas import free_port

__all__ = [
    "free_port",
    "run_cli",
    "server_config",
]


def run_cli() -> None:
    """Run the ``headway`` command (``python -m headway``). Its command groups load only now, so
    ``headway.testing``, which takes ``free_port`` and ``server_config`` from here, stays light."""
    from headway.cli.main import main

    main()
