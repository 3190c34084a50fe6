"""The HTTP surface: OpenAI-compatible ``/v1/*``, admin ``/admin/*``, health, OpenAPI and the console.

Other parts (the CLI, tests) import what they use from here; see ``README.md``.
"""

from headway.api.app import build_app, create_app, route_table
from headway.api.reload import ReloadRefusedError, ServedApp
from headway.api.route_table import Endpoint, Mounted, RouteTable

__all__ = [
    "Endpoint",
    "Mounted",
    "ReloadRefusedError",
    "RouteTable",
    "ServedApp",
    "build_app",
    "create_app",
    "route_table",
]
