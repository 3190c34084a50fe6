"""The ``headway`` command: one typer app (``main.main``) and one small module per command group. See ``README.md``."""

from headway.cli.http_server import server_config
from headway.cli.replicas import free_port

__all__ = [
    "free_port",
    "server_config",
]
