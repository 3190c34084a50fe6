"""The console's page registry: what the navigation lists and who may open each page.

Parts add pages by passing ``ConsolePage`` entries to ``console_routes(pages=...)`` (the
review queue, the readiness gate); each page is a Starlette endpoint that renders with
``render(request, template, context)`` and may ship its own template folder.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class ConsolePage:
    path: str  # under /console, e.g. "/reviews"; may hold path parameters
    title: str
    endpoint: Endpoint
    # Permission a session needs (headway.auth.permissions names); "*" sessions hold every one.
    permission: str = "requests:read"
    nav: bool = True  # listed in the navigation (detail pages are not)
    order: int = 100
    methods: tuple[str, ...] = ("GET",)
    templates: Path | None = None  # an extra template folder this page's part ships
