"""Build the ASGI application from a ``Runtime``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from headway import __version__
from headway.api import errors
from headway.api.access import AccessControl
from headway.api.middleware.anthropic_errors import AnthropicErrorsMiddleware
from headway.api.middleware.idempotency import IdempotencyMiddleware
from headway.api.middleware.reject_nul import RejectNulMiddleware
from headway.api.middleware.request_id import RequestIdMiddleware
from headway.api.openapi import build_openapi
from headway.api.route_table import Mounted, RouteTable, not_found_guarded
from headway.api.routes import (
    admin_audit,
    admin_config,
    admin_deployments,
    admin_keys,
    admin_records,
    admin_requests,
    admin_webhooks,
    chat,
    console_root,
    embeddings,
    health,
    models,
    openapi_document,
)
from headway.api.routes import batches as batch_routes
from headway.api.routes import completions as completion_routes
from headway.api.routes import feedback as feedback_routes
from headway.api.routes import files as file_routes
from headway.api.routes import gate as gate_routes
from headway.api.routes import jobs as job_routes
from headway.api.routes import messages as message_routes
from headway.api.routes import metrics as metrics_routes
from headway.api.routes import passthrough as passthrough_routes
from headway.api.routes import pipelines as pipeline_routes
from headway.api.routes import responses as response_routes
from headway.api.routes import retrieval as retrieval_routes
from headway.api.routes import reviews as review_routes
from headway.api.state import AppState
from headway.auth import PUBLIC
from headway.config import HeadwayConfig
from headway.console import console_routes
from headway.errors import APIError
from headway.gate import console_pages as gate_console_pages
from headway.observe import ObserveMiddleware
from headway.review import console_pages as review_console_pages
from headway.serving import Runtime
from headway.store import Store


def route_table() -> RouteTable:
    """Every route Headway serves, each declared once in its module, next to its handler."""
    return RouteTable.of(
        (
            chat.ENDPOINTS,
            embeddings.ENDPOINTS,
            models.ENDPOINTS,
            health.ENDPOINTS,
            console_root.ENDPOINTS,
            openapi_document.ENDPOINTS,
            admin_requests.ENDPOINTS,
            admin_webhooks.ENDPOINTS,
            metrics_routes.ENDPOINTS,
            feedback_routes.ENDPOINTS,
            admin_deployments.ENDPOINTS,
            admin_keys.ENDPOINTS,
            admin_audit.ENDPOINTS,
            admin_config.ENDPOINTS,
            admin_records.ENDPOINTS,
            retrieval_routes.ENDPOINTS,
            pipeline_routes.ENDPOINTS,
            review_routes.ENDPOINTS,
            job_routes.ENDPOINTS,
            file_routes.ENDPOINTS,
            batch_routes.ENDPOINTS,
            gate_routes.ENDPOINTS,
            response_routes.ENDPOINTS,
            message_routes.ENDPOINTS,
            completion_routes.ENDPOINTS,
            passthrough_routes.ENDPOINTS,
        ),
        mounts=[
            # The console signs its visitors in itself (an API key through the authenticator, then
            # a signed session cookie) and checks each page's permission; no bearer header here.
            Mounted("/console", console_routes(pages=[*review_console_pages(), *gate_console_pages()]), PUBLIC),
        ],
    )


def create_app(runtime: Runtime) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.close()

    table = route_table()
    access = AccessControl(runtime.auth)
    app = Starlette(
        routes=table.routes(access),
        # Request ids first, so even a refused request carries one. Access control runs in each
        # route once the router has matched it (api/access.py), so it reads the route's permission.
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(RejectNulMiddleware),
            Middleware(ObserveMiddleware),
            Middleware(AnthropicErrorsMiddleware),  # Anthropic's clients get Anthropic's error shape
            Middleware(IdempotencyMiddleware),  # innermost: keeps the route's own response per Idempotency-Key
        ],
        exception_handlers={
            APIError: errors.api_error,
            HTTPException: errors.http_error,
            Exception: errors.unexpected_error,
        },
        lifespan=lifespan,
    )
    # An unknown path is a 404 (or a trailing-slash redirect), but only to someone authenticated.
    app.router.redirect_slashes = False
    app.router.default = not_found_guarded(access, app.router)
    app.state = AppState()  # runtime and openapi read as declared attributes (api/state.py)
    app.state.runtime = runtime
    app.state.openapi = build_openapi(table, version=__version__)
    return app


def build_app(config: HeadwayConfig, *, store: Store | None = None) -> Starlette:
    return create_app(Runtime.from_config(config, store=store))
