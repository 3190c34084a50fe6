"""``GET /`` and ``GET /favicon.ico``: a browser pointed at the gateway lands in the console."""

from __future__ import annotations

from headway.api.route_table import Endpoint
from headway.auth import PUBLIC
from headway.console import favicon, to_console

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/",
        to_console,
        PUBLIC,
        {
            "operationId": "consoleHome",
            "summary": "A page that sends a browser on to the console at /console/",
            "responses": {"200": {"description": "HTML that refreshes to /console/"}},
        },
    ),
    Endpoint(
        "GET",
        "/favicon.ico",
        favicon,
        PUBLIC,
        {
            "operationId": "favicon",
            "summary": "The console's icon",
            "responses": {"200": {"description": "SVG icon"}},
        },
    ),
)
