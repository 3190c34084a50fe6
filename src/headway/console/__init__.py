"""The web console served at ``/console``: login, dashboard, request explorer, extensible pages."""

from headway.console.app import console_routes, favicon, to_console
from headway.console.data import Explore, ExploreError, explore_records
from headway.console.data import parse_time as parse_explore_time
from headway.console.pages import ConsolePage

__all__ = [
    "ConsolePage",
    "Explore",
    "ExploreError",
    "console_routes",
    "explore_records",
    "favicon",
    "parse_explore_time",
    "to_console",
]
