"""The web console served at ``/console``: login, dashboard, request explorer, extensible pages."""

from headway.console.app import console_routes, favicon, to_console
from headway.console.pages import ConsolePage

__all__ = [
    "ConsolePage",
    "console_routes",
    "favicon",
    "to_console",
]
