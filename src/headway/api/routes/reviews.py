"""Human review over HTTP: the reviewer's ``/admin/reviews…`` and the caller's ``/v1/reviews/{id}``.

Reviewers see only the items assigned to their team and roles (admins see all); an item
they may not see is a 404. The caller of a held request polls its status URL: 202 while
it waits, 200 with the released ``chat.completion``, 403 when rejected or expired
(``headway.review.release``). ``Prefer: wait=N`` blocks up to N seconds (capped by
``review.max_wait_s``) for a decision.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from headway.api.body import read_json_object
from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.errors import InvalidRequestError, NotFoundError, ServiceUnavailableError
from headway.review import (
    STATUSES,
    Reviewer,
    ReviewItem,
    ReviewQuery,
    ReviewService,
    answer,
    parse_wait,
    preference_applied,
    status_filter,
)
from headway.serving import Runtime

_ID = re.compile(r"rev_[0-9a-f]{1,60}")
_DECIDE_FIELDS = frozenset({"decision", "comment", "output", "tool_calls"})


def _service(request: Request) -> ReviewService:
    runtime: Runtime = request.app.state.runtime
    if runtime.review is None:
        raise ServiceUnavailableError("Human review needs a SQL store; this gateway has none.", code="review_unavailable")
    return runtime.review


def _reviewer(request: Request) -> Reviewer:
    runtime: Runtime = request.app.state.runtime
    principal = getattr(request.state, "principal", None)
    return Reviewer.from_principal(principal if principal is not None else runtime.auth.anonymous)


def _review_id(request: Request) -> str:
    review_id = str(request.path_params["review_id"])
    if not _ID.fullmatch(review_id):
        raise NotFoundError(f"No review {review_id!r}", param="review_id", code="review_not_found")
    return review_id


def _query(request: Request) -> ReviewQuery:
    params = request.query_params
    unknown = sorted(set(params) - {"status", "policy", "model", "caller", "team", "request_id", "before", "limit"})
    if unknown:
        raise InvalidRequestError(f"unknown query parameter {unknown[0]!r}", param=unknown[0])
    statuses = status_filter(params.get("status"))
    if statuses is None:
        raise InvalidRequestError(
            f"'status' must be open, final, all or one of {', '.join(STATUSES)} (comma-separated)", param="status"
        )
    try:
        limit = int(params.get("limit", "50"))
        before = float(params["before"]) if "before" in params else None
    except ValueError:
        raise InvalidRequestError("'limit' must be an integer and 'before' a number (epoch seconds)", param="limit") from None
    if not 1 <= limit <= 500:
        raise InvalidRequestError("'limit' must be between 1 and 500", param="limit")
    if before is not None and before != before:  # NaN
        raise InvalidRequestError("'before' must be a number (epoch seconds)", param="before")
    text = {k: params.get(k) or None for k in ("policy", "model", "caller", "team", "request_id")}
    return ReviewQuery(status=statuses, before=before, limit=limit, **text)


def _detail(item: ReviewItem, events: list[Any]) -> dict[str, Any]:
    return {**item.detail(), "events": [e.to_dict() for e in events]}


async def list_reviews(request: Request) -> Response:
    items = await _service(request).find(_query(request), _reviewer(request))
    return JSONResponse({"object": "list", "data": [i.summary() for i in items], "has_more": False})


async def get_review(request: Request) -> Response:
    service = _service(request)
    item = await service.visible(_review_id(request), _reviewer(request))
    return JSONResponse(_detail(item, await service.events(item.review_id)))


async def claim_review(request: Request) -> Response:
    service = _service(request)
    item = await service.claim(_review_id(request), _reviewer(request))
    return JSONResponse(_detail(item, await service.events(item.review_id)))


async def release_review(request: Request) -> Response:
    service = _service(request)
    item = await service.release(_review_id(request), _reviewer(request))
    return JSONResponse(_detail(item, await service.events(item.review_id)))


async def decide_review(request: Request) -> Response:
    service = _service(request)
    review_id = _review_id(request)
    body = await read_json_object(request, 1024 * 1024)
    unknown = sorted(set(body) - _DECIDE_FIELDS)
    if unknown:
        raise InvalidRequestError(f"unknown field {unknown[0]!r}; expected decision, comment, output, tool_calls", param=unknown[0])
    decision, comment, output = body.get("decision"), body.get("comment"), body.get("output")
    if not isinstance(decision, str):
        raise InvalidRequestError("'decision' is required: approve, edit or reject", param="decision")
    if output is not None and not isinstance(output, str):
        raise InvalidRequestError("'output' must be the text of the edited answer", param="output")
    item = await service.decide(
        review_id, _reviewer(request), decision, comment=comment, output=output, tool_calls=body.get("tool_calls")
    )
    return JSONResponse(_detail(item, await service.events(item.review_id)))


async def review_status(request: Request) -> Response:
    """The caller's status URL: 202 while pending, the released answer, or the refusal."""
    service = _service(request)
    review_id = _review_id(request)
    principal = getattr(request.state, "principal", None)
    caller = getattr(request.state, "caller", None) or "anonymous"
    wait = parse_wait(request.headers.get("prefer"), service.config.max_wait_s)
    viewer = Reviewer.from_principal(principal) if principal is not None else None
    item = await service.for_caller(review_id, caller=caller, viewer=viewer, wait=wait)
    reply = answer(item)  # raises ReviewRejectedError (403) when rejected or expired
    return JSONResponse(reply.body, status_code=reply.status, headers={**reply.headers, **preference_applied(wait)})


_ID_PARAM = {"name": "review_id", "in": "path", "required": True, "schema": {"type": "string"}}
_PREFER = {"name": "Prefer", "in": "header", "schema": {"type": "string"}, "description": "wait=N: block up to N seconds."}


def _ok(description: str, *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}}
    for code in errors:
        out[str(code)] = {"description": "Error in OpenAI's shape"}
    return out


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", "/admin/reviews", list_reviews, "reviews:read",
        {
            "operationId": "listReviews",
            "parameters": [
                {"name": name, "in": "query", "schema": {"type": kind}}
                for name, kind in (("status", "string"), ("policy", "string"), ("model", "string"), ("caller", "string"),
                                   ("team", "string"), ("request_id", "string"), ("before", "number"), ("limit", "integer"))
            ],
            "responses": _ok("Review items this reviewer may see, newest first", 400, 401, 403),
        },
    ),
    Endpoint(
        "GET", "/admin/reviews/{review_id}", get_review, "reviews:read",
        {
            "operationId": "getReview",
            "parameters": [_ID_PARAM],
            "responses": _ok("One review item with its conversation, context, findings, outputs and events", 401, 403, 404),
        },
    ),
    Endpoint(
        "POST", "/admin/reviews/{review_id}/claim", claim_review, "reviews:decide",
        {
            "operationId": "claimReview",
            "parameters": [_ID_PARAM],
            "responses": _ok("Claimed for review.lease_s seconds", 401, 403, 404, 409),
        },
    ),
    Endpoint(
        "POST", "/admin/reviews/{review_id}/release", release_review, "reviews:decide",
        {
            "operationId": "releaseReview",
            "parameters": [_ID_PARAM],
            "responses": _ok("Back in the queue", 401, 403, 404, 409),
        },
    ),
    Endpoint(
        "POST", "/admin/reviews/{review_id}/decide", decide_review, "reviews:decide",
        {
            "operationId": "decideReview",
            "parameters": [_ID_PARAM],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["decision"],
                            "properties": {
                                "decision": {"type": "string", "enum": ["approve", "edit", "reject"]},
                                "comment": {"type": "string"},
                                "output": {"type": "string", "description": "The edited answer's text (edit only)."},
                                "tool_calls": {
                                    "type": "array", "description": "Edit only: new arguments for the held tool calls, [{id, arguments}].",
                                    "items": {"type": "object", "required": ["id", "arguments"],
                                              "properties": {"id": {"type": "string"}, "arguments": {"type": "object"}}},
                                },
                            },
                        }
                    }
                },
            },
            "responses": _ok("The decided item", 400, 401, 403, 404, 409, 413, 415),
        },
    ),
    Endpoint(
        "GET", "/v1/reviews/{review_id}", review_status, "inference",
        {
            "operationId": "getReviewStatus",
            "parameters": [_ID_PARAM, _PREFER],
            "responses": {
                **_ok("The released chat.completion (approved or edited)", 401, 403, 404),
                "202": {"description": "Still waiting for a decision: {id, object: review, status, status_url}"},
            },
        },
    ),
)
