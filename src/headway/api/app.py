"""Build the ASGI application from a ``Runtime``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from headway import __version__
from headway.api import errors
from headway.api.middleware.auth import AuthMiddleware
from headway.api.middleware.reject_nul import RejectNulMiddleware
from headway.api.middleware.request_id import RequestIdMiddleware
from headway.api.openapi import build_openapi
from headway.api.responses import JSONResponse
from headway.api.routes import (
    admin_audit,
    admin_deployments,
    admin_keys,
    admin_records,
    admin_requests,
    chat,
    embeddings,
    health,
    models,
)
from headway.api.routes import batches as batch_routes
from headway.api.routes import feedback as feedback_routes
from headway.api.routes import files as file_routes
from headway.api.routes import gate as gate_routes
from headway.api.routes import jobs as job_routes
from headway.api.routes import metrics as metrics_routes
from headway.api.routes import retrieval as data_plane
from headway.api.routes import reviews as review_routes
from headway.config.models import HeadwayConfig
from headway.console.app import console_routes
from headway.errors import APIError
from headway.gate.console import console_pages as gate_console_pages
from headway.observe.middleware import ObserveMiddleware
from headway.review.console import console_pages as review_console_pages
from headway.serving.runtime import Runtime
from headway.store.base import Store


async def openapi_document(request: Request) -> Response:
    return JSONResponse(build_openapi(version=__version__))


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/chat/completions", chat.chat_completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings.embeddings, methods=["POST"]),
        Route("/v1/models", models.list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", models.get_model, methods=["GET"]),
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/openapi.json", openapi_document, methods=["GET"]),
        Route("/admin/requests", admin_requests.list_requests, methods=["GET"]),
        Route("/admin/requests/{request_id}", admin_requests.get_request, methods=["GET"]),
        Route("/metrics", metrics_routes.prometheus, methods=["GET"]),
        Route("/v1/feedback", feedback_routes.submit_feedback, methods=["POST"]),
        Route("/admin/feedback", feedback_routes.list_feedback, methods=["GET"]),
        Route("/admin/feedback/export", feedback_routes.export_feedback, methods=["GET"]),
        Route("/admin/cost", metrics_routes.cost, methods=["GET"]),
        Route("/admin/alerts", metrics_routes.alerts, methods=["GET"]),
        Mount("/console", routes=console_routes(pages=[*review_console_pages(), *gate_console_pages()])),
        Route("/admin/deployments", admin_deployments.list_deployments, methods=["GET"]),
        Route("/admin/whoami", admin_keys.whoami, methods=["GET"]),
        Route("/admin/keys", admin_keys.list_keys, methods=["GET"]),
        Route("/admin/keys", admin_keys.create_key, methods=["POST"]),
        Route("/admin/keys/{key_id}", admin_keys.get_key, methods=["GET"]),
        Route("/admin/keys/{key_id}", admin_keys.revoke_key, methods=["DELETE"]),
        Route("/admin/keys/{key_id}/rotate", admin_keys.rotate_key, methods=["POST"]),
        Route("/admin/audit", admin_audit.list_audit, methods=["GET"]),
        Route("/admin/audit/verify", admin_audit.verify_audit, methods=["GET"]),
        Route("/admin/records/erase", admin_records.erase_records, methods=["POST"]),
        Route("/v1/retrieve", data_plane.retrieve, methods=["POST"]),
        Route("/admin/collections", data_plane.list_collections, methods=["GET"]),
        Route("/admin/pipelines", data_plane.list_pipelines, methods=["GET"]),
        Route("/admin/pipelines/{name}/runs", data_plane.pipeline_runs, methods=["GET"]),
        Route("/admin/pipelines/{name}/runs", data_plane.trigger_pipeline, methods=["POST"]),
        Route("/admin/pipelines/{name}/quarantine", data_plane.pipeline_quarantine, methods=["GET"]),
        Route("/admin/reviews", review_routes.list_reviews, methods=["GET"]),
        Route("/admin/reviews/{review_id}", review_routes.get_review, methods=["GET"]),
        Route("/admin/reviews/{review_id}/claim", review_routes.claim_review, methods=["POST"]),
        Route("/admin/reviews/{review_id}/release", review_routes.release_review, methods=["POST"]),
        Route("/admin/reviews/{review_id}/decide", review_routes.decide_review, methods=["POST"]),
        Route("/v1/reviews/{review_id}", review_routes.review_status, methods=["GET"]),
        Route("/v1/jobs", job_routes.list_jobs, methods=["GET"]),
        Route("/v1/jobs/{job_id}", job_routes.get_job, methods=["GET"]),
        Route("/v1/jobs/{job_id}/cancel", job_routes.cancel_job, methods=["POST"]),
        Route("/v1/files", file_routes.upload_file, methods=["POST"]),
        Route("/v1/files", file_routes.list_files, methods=["GET"]),
        Route("/v1/files/{file_id}", file_routes.get_file, methods=["GET"]),
        Route("/v1/files/{file_id}", file_routes.delete_file, methods=["DELETE"]),
        Route("/v1/files/{file_id}/content", file_routes.file_content, methods=["GET"]),
        Route("/v1/batches", batch_routes.create_batch, methods=["POST"]),
        Route("/v1/batches", batch_routes.list_batches, methods=["GET"]),
        Route("/v1/batches/{batch_id}", batch_routes.get_batch, methods=["GET"]),
        Route("/v1/batches/{batch_id}/cancel", batch_routes.cancel_batch, methods=["POST"]),
        Route("/admin/gate/facts", gate_routes.get_facts, methods=["GET"]),
        Route("/admin/gate/reports", gate_routes.list_reports, methods=["GET"]),
        Route("/admin/gate/reports", gate_routes.create_report, methods=["POST"]),
        Route("/admin/gate/reports/{report_id}", gate_routes.get_report, methods=["GET"]),
        Route("/admin/gate/drills", gate_routes.list_drills, methods=["GET"]),
        Route("/admin/gate/drills", gate_routes.create_drill, methods=["POST"]),
    ]


def create_app(runtime: Runtime) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.close()

    app_routes = routes()
    app = Starlette(
        routes=app_routes,
        # Request ids first, so even a refused request carries one; access control innermost.
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(RejectNulMiddleware),
            Middleware(ObserveMiddleware),
            Middleware(AuthMiddleware, auth=runtime.auth, routes=app_routes),
        ],
        exception_handlers={
            APIError: errors.api_error,
            HTTPException: errors.http_error,
            Exception: errors.unexpected_error,
        },
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app


def build_app(config: HeadwayConfig, *, store: Store | None = None) -> Starlette:
    return create_app(Runtime.from_config(config, store=store))
