"""``/admin/webhooks``: the webhook outbox for operators — list, resend one, resend every failed one.

States on the wire: ``pending`` (waiting or being sent), ``delivered``, ``dead`` (retries
spent or refused by the receiver; ``failed`` is accepted as its synonym). The listing is
newest first and pages with ``after`` = the previous page's ``next_cursor``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from headway.api.body import read_json_object
from headway.api.openapi import json_body, responses
from headway.api.params import query_int
from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.errors import ConflictError, InvalidRequestError, NotFoundError
from headway.serving import Runtime
from headway.store import DeliveryState, Outbox, OutboxQuery

_STATES = {
    "pending": (DeliveryState.PENDING, DeliveryState.SENDING),
    "delivered": (DeliveryState.DELIVERED,),
    "dead": (DeliveryState.DEAD,),
    "failed": (DeliveryState.DEAD,),
}
_FILTERS = ("event_type", "receiver", "source", "subject")


def _outbox(request: Request) -> Outbox:
    runtime: Runtime = request.app.state.runtime
    if runtime.webhook_delivery is None:
        raise NotFoundError("this gateway has no webhook outbox", code="webhooks_unavailable")
    return runtime.webhook_delivery.outbox


def _wake(request: Request) -> None:
    runtime: Runtime = request.app.state.runtime
    if runtime.webhook_delivery is not None:
        runtime.webhook_delivery.wake()


def _cursor(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise InvalidRequestError("'after' must be the next_cursor of a previous page", param="after", code="invalid_value")
    return int(raw)


async def list_webhooks(request: Request) -> Response:
    params = request.query_params
    state = params.get("state")
    if state is not None and state not in _STATES:
        raise InvalidRequestError(f"'state' must be one of {', '.join(_STATES)}", param="state", code="invalid_value")
    limit = query_int(request, "limit", 50, 1, 500)
    query = OutboxQuery(
        states=_STATES[state] if state else (),
        event_type=params.get("event_type"),
        receiver=params.get("receiver"),
        source=params.get("source"),
        subject=params.get("subject"),
        before_seq=_cursor(params.get("after")),
        limit=limit + 1,  # one more tells whether there is a next page
    )
    entries = await asyncio.to_thread(_outbox(request).search, query)
    page, more = entries[:limit], len(entries) > limit
    return JSONResponse(
        {
            "object": "list",
            "data": [entry.to_json() for entry in page],
            "has_more": more,
            "next_cursor": str(page[-1].seq) if more and page else None,
        }
    )


async def resend_webhook(request: Request) -> Response:
    delivery_id = request.path_params["delivery_id"]
    outbox = _outbox(request)
    entry = await asyncio.to_thread(outbox.get, delivery_id)
    if entry is None:
        raise NotFoundError(f"No webhook delivery {delivery_id!r}", param="delivery_id", code="webhook_not_found")
    if entry.status in (DeliveryState.PENDING, DeliveryState.SENDING):
        raise ConflictError(f"webhook delivery {delivery_id!r} is still {entry.status}", code="webhook_pending")
    await asyncio.to_thread(outbox.resend, entry_ids=[delivery_id])
    _wake(request)
    fresh = await asyncio.to_thread(outbox.get, delivery_id)
    return JSONResponse(fresh.to_json() if fresh is not None else entry.to_json())


async def _resend_filters(request: Request) -> dict[str, str | None]:
    """The optional JSON body's filters (no body: every dead delivery)."""
    if request.headers.get("content-length") in (None, "0") and "transfer-encoding" not in request.headers:
        body: dict[str, Any] = {}
    else:
        body = await read_json_object(request, 16 * 1024)
    unknown = sorted(set(body) - set(_FILTERS))
    if unknown:
        raise InvalidRequestError(f"unknown field {unknown[0]!r}; filters are {', '.join(_FILTERS)}", param=unknown[0])
    for name, value in body.items():
        if value is not None and (not isinstance(value, str) or "\x00" in value or len(value) > 2000):
            raise InvalidRequestError(f"'{name}' must be a string (no NUL, at most 2000 characters)", param=name, code="invalid_value")
    return {name: body.get(name) for name in _FILTERS}


async def resend_failed_webhooks(request: Request) -> Response:
    filters = await _resend_filters(request)
    query = OutboxQuery(event_type=filters["event_type"], receiver=filters["receiver"], source=filters["source"], subject=filters["subject"])
    resent = await asyncio.to_thread(_outbox(request).resend, query)
    _wake(request)
    return JSONResponse({"object": "webhook_resend", "resent": resent, "filters": {k: v for k, v in filters.items() if v}})


_FILTER_PARAMETERS = [{"name": name, "in": "query", "schema": {"type": "string"}} for name in _FILTERS]

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", "/admin/webhooks", list_webhooks, "operations",
        {
            "operationId": "listWebhookDeliveries",
            "summary": "Webhook deliveries in the outbox, newest first",
            "parameters": [
                {"name": "state", "in": "query", "schema": {"type": "string", "enum": list(_STATES)}},
                *_FILTER_PARAMETERS,
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                {"name": "after", "in": "query", "schema": {"type": "string"}},
            ],
            "responses": responses("A page of deliveries", 400, 401, 403),
        },
    ),
    Endpoint(
        "POST", "/admin/webhooks/resend", resend_failed_webhooks, "operations",
        {
            "operationId": "resendFailedWebhooks",
            "summary": "Send every dead delivery again (optionally only those matching the filters)",
            "requestBody": {
                **json_body({"type": "object", "properties": {name: {"type": "string"} for name in _FILTERS}, "additionalProperties": False}),
                "required": False,
            },
            "responses": responses("How many deliveries were queued again", 400, 401, 403, 413, 415),
        },
    ),
    Endpoint(
        "POST", "/admin/webhooks/{delivery_id}/resend", resend_webhook, "operations",
        {
            "operationId": "resendWebhook",
            "summary": "Send one dead or delivered delivery again (same webhook-id)",
            "parameters": [{"name": "delivery_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": responses("The delivery, pending again", 401, 403, 404, 409),
        },
    ),
)
