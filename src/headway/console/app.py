"""The web console under ``/console``: login, dashboard, request explorer, and pages other parts add.

``console_routes(pages)`` returns the routes to mount; handlers read the runtime from
``request.app.state.runtime`` like every other handler. Pages are server-rendered Jinja2
templates; the dashboard's charts are drawn in the browser by the vendored uPlot from
``/console/api/dashboard``. No inline scripts, so the Content-Security-Policy can forbid them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from headway.console import data
from headway.console.login import login_for
from headway.console.pages import ConsolePage
from headway.console.session import COOKIE, Session, decode, encode
from headway.errors import NotFoundError
from headway.observe import served_path

STATIC = Path(__file__).with_name("static")
_SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}
_MAX_LOGIN_BODY = 8192
_EXPLORE_TEXT = ("path", "status", "error_type", "model", "caller", "team", "review")


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _clock(epoch: float | None) -> str:
    """A table cell's time: the column header says UTC, the row says when."""
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%m-%d %H:%M:%S")


def _local_input(epoch: float | None) -> str:
    """The value of a ``datetime-local`` input, in UTC."""
    if epoch is None:
        return ""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _json_error(message: str, kind: str, status: int, param: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": None}}, status_code=status)


class ConsoleSite:
    def __init__(self, pages: Sequence[ConsolePage]) -> None:
        self.pages = sorted(pages, key=lambda p: (p.order, p.title))
        extra = [FileSystemLoader(str(p.templates)) for p in self.pages if p.templates is not None]
        self.env = Environment(
            loader=ChoiceLoader([*extra, PackageLoader("headway.console", "templates")]),
            autoescape=select_autoescape(["html"]),
            enable_async=False,
        )
        self.env.filters["when"] = _when
        self.env.filters["clock"] = _clock
        self.env.filters["local_input"] = _local_input
        self.env.filters["duration"] = _duration

    # -- sessions -------------------------------------------------------------------------
    def _settings(self, request: Request) -> tuple[Any, Any, float]:
        runtime = request.app.state.runtime
        return runtime, login_for(runtime), runtime.config.observe.console.session_hours

    def session(self, request: Request) -> Session | None:
        runtime, login, hours = self._settings(request)
        session = decode(request.cookies.get(COOKIE), runtime.observability.console_key)
        if session is None and not login.required:
            session = login.anonymous(hours=hours)
        return session

    def render(self, request: Request, template: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
        session = context.get("session")
        nav = [p for p in self.pages if p.nav and (session is None or session.may(p.permission))]
        html = self.env.get_template(template).render(
            request=request, nav=nav, current=request.url.path, root=request.url_for("console_home").path.rstrip("/"), **context
        )
        return HTMLResponse(html, status_code=status, headers=_SECURITY_HEADERS)

    def guard(self, request: Request, permission: str) -> Session | Response:
        """The session, or the response that sends the visitor to log in (or says no)."""
        session = self.session(request)
        if session is None:
            target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="")
            return RedirectResponse(f"{request.url_for('console_login').path}?next={target}", status_code=303)
        if not session.may(permission):
            return self.render(request, "denied.html", {"session": session, "permission": permission}, status=403)
        return session

    # -- login ----------------------------------------------------------------------------
    async def login_form(self, request: Request) -> Response:
        _, login, _ = self._settings(request)
        if not login.required:
            return RedirectResponse(request.url_for("console_home").path, status_code=303)
        return self.render(request, "login.html", {"session": None, "next": request.query_params.get("next", ""), "error": None})

    async def login_submit(self, request: Request) -> Response:
        runtime, login, hours = self._settings(request)
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > _MAX_LOGIN_BODY:
                return self.render(request, "login.html", {"session": None, "next": "", "error": "Form too large."}, status=413)
        form = parse_qs(raw.decode("utf-8", "replace"))
        api_key = (form.get("api_key") or [""])[0].strip()
        target = (form.get("next") or [""])[0]
        home = request.url_for("console_home").path
        # Only console paths: never an open redirect to another site.
        if not target.startswith(home) or target.startswith("//"):
            target = home
        session = await login.login(api_key, hours=hours) if api_key else None
        if session is None:
            error = "That key is not valid for the console (it needs the requests:read or reviews:read permission)."
            return self.render(request, "login.html", {"session": None, "next": target, "error": error}, status=401)
        response = RedirectResponse(target, status_code=303)
        secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
        response.set_cookie(
            COOKIE, encode(session, runtime.observability.console_key), max_age=int(hours * 3600),
            path=home.rstrip("/") or "/", httponly=True, samesite="strict", secure=secure,
        )
        return response

    async def logout(self, request: Request) -> Response:
        home = request.url_for("console_home").path
        response = RedirectResponse(request.url_for("console_login").path, status_code=303)
        response.delete_cookie(COOKIE, path=home.rstrip("/") or "/")
        return response

    # -- pages ----------------------------------------------------------------------------
    async def dashboard(self, request: Request) -> Response:
        visitor = self.session(request)
        if visitor is not None and not visitor.may("requests:read"):
            # A reviewer (reviews:read only) lands on the first page they may see: their queue.
            page = next((p for p in self.pages if p.nav and visitor.may(p.permission)), None)
            if page is not None:
                return RedirectResponse(request.url_for("console_home").path.rstrip("/") + page.path, status_code=303)
        session = self.guard(request, "requests:read")
        if not isinstance(session, Session):
            return session
        window = request.query_params.get("window", "1h")
        if window not in data.WINDOWS:
            window = "1h"
        return self.render(request, "dashboard.html", {"session": session, "window": window, "windows": list(data.WINDOWS)})

    async def dashboard_api(self, request: Request) -> Response:
        session = self.session(request)
        if session is None or not session.may("requests:read"):
            return _json_error("log in to the console", "authentication_error", 401)
        window = request.query_params.get("window", "1h")
        if window not in data.WINDOWS:
            return _json_error(f"window must be one of {', '.join(data.WINDOWS)}", "invalid_request_error", 400, "window")
        runtime = request.app.state.runtime
        observability = runtime.observability
        body = await asyncio.to_thread(data.dashboard, runtime.store.database, window)
        states = observability.alert_states
        alerts = await asyncio.to_thread(states.states) if states is not None and observability.config.alerts.rules else []
        breakers = observability.breakers.current() if observability.breakers is not None else None
        rules = [rule.name for rule in observability.config.alerts.rules]
        body["signals"] = data.signals(observability.metrics, breakers, alerts, rules)
        response = JSONResponse(body, headers={"cache-control": "no-store"})
        return response

    async def requests_page(self, request: Request) -> Response:
        session = self.guard(request, "requests:read")
        if not isinstance(session, Session):
            return session
        params = request.query_params
        try:
            query = data.Explore(
                since=data.parse_time(params.get("since"), "since"),
                until=data.parse_time(params.get("until"), "until"),
                **{name: (params.get(name) or "").strip() or None for name in _EXPLORE_TEXT},
                cursor=params.get("cursor") or None,
                limit=data.parse_limit(params.get("limit")),
            )
            rows, next_cursor = await asyncio.to_thread(data.explore, request.app.state.runtime.store.database, query)
            error = None
        except data.ExploreError as exc:
            rows, next_cursor, error = [], None, str(exc)
            query = data.Explore()
        first_page = {k: v for k, v in params.items() if k != "cursor" and v}
        context = {
            "session": session, "records": rows, "query": query, "error": error,
            "paths": data.SERVED_PATHS, "statuses": data.STATUSES, "review_states": data.REVIEW_STATES,
            "next_url": f"?{urlencode({**first_page, 'cursor': next_cursor})}" if next_cursor else None,
            "first_url": f"?{urlencode(first_page)}" if query.cursor else None,
        }
        return self.render(request, "requests.html", context, status=400 if error else 200)

    async def request_page(self, request: Request) -> Response:
        session = self.guard(request, "requests:read")
        if not isinstance(session, Session):
            return session
        request_id = request.path_params["request_id"]
        record = await asyncio.to_thread(request.app.state.runtime.store.get_request, request_id)
        if record is None:
            return self.render(request, "missing.html", {"session": session, "request_id": request_id}, status=404)
        slowest = max([a.latency_ms for a in record.attempts] + [record.latency_ms, 1.0])
        path = served_path(record.served_by, record.status_code)
        return self.render(request, "request.html", {"session": session, "record": record, "scale": slowest, "path": path})

    def page_endpoint(self, page: ConsolePage) -> Any:
        async def endpoint(request: Request) -> Response:
            session = self.guard(request, page.permission)
            if not isinstance(session, Session):
                return session
            request.state.console_session = session
            request.state.console = self
            return await page.endpoint(request)

        return endpoint


def core_pages() -> list[ConsolePage]:
    """The console's own navigation entries (their endpoints are ``ConsoleSite`` methods)."""

    async def unused(request: Request) -> Response:  # pragma: no cover - routes use the site's methods
        raise NotFoundError("not a page")

    return [
        ConsolePage("/", "Dashboard", unused, order=10),
        ConsolePage("/requests", "Requests", unused, order=20),
    ]


async def favicon(request: Request) -> Response:
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml", headers={"cache-control": "max-age=86400"})


_HOME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Headway</title>
<meta http-equiv="refresh" content="0; url=/console/"><link rel="icon" href="/console/static/favicon.svg" type="image/svg+xml">
</head><body><p>Headway is running. The console is at <a href="/console/">/console/</a>;
the OpenAI-compatible API at <code>/v1</code>, its description at <a href="/openapi.json">/openapi.json</a>.</p></body></html>
"""


async def to_console(request: Request) -> Response:
    """``GET /`` on the gateway: a page that sends a browser on to the console (and tells curl where things are)."""
    return HTMLResponse(_HOME, headers=_SECURITY_HEADERS)


def console_routes(pages: Sequence[ConsolePage] = ()) -> list[BaseRoute]:
    """Routes to mount at ``/console``; ``pages`` are other parts' additions."""
    site = ConsoleSite([*core_pages(), *pages])
    routes: list[BaseRoute] = [
        Route("/", site.dashboard, methods=["GET"], name="console_home"),
        Route("/login", site.login_form, methods=["GET"], name="console_login"),
        Route("/login", site.login_submit, methods=["POST"]),
        Route("/logout", site.logout, methods=["POST"], name="console_logout"),
        Route("/requests", site.requests_page, methods=["GET"], name="console_requests"),
        Route("/requests/{request_id}", site.request_page, methods=["GET"], name="console_request"),
        Route("/api/dashboard", site.dashboard_api, methods=["GET"], name="console_dashboard_api"),
        Route("/favicon.ico", favicon, methods=["GET"], name="console_favicon"),
        Mount("/static", app=StaticFiles(directory=str(STATIC)), name="console_static"),
    ]
    for page in pages:
        routes.append(Route(page.path, site.page_endpoint(page), methods=list(page.methods)))
    return routes
