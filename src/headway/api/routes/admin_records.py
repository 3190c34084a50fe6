"""``POST /admin/records/erase``: remove a data subject's stored records everywhere, audited."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from headway.api.body import read_json_object
from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.api.routes.admin_keys import OPENAPI_TAG, caller
from headway.errors import InvalidRequestError
from headway.serving import Runtime


async def erase_records(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    body = await read_json_object(request, 4096)
    unknown = sorted(set(body) - {"subject"})
    if unknown:
        raise InvalidRequestError(f"unknown field {unknown[0]!r}; only 'subject' is accepted", param=unknown[0])
    subject = body.get("subject")
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 500:
        raise InvalidRequestError("'subject' must be a non-empty string (a caller, or metadata.subject / metadata.user)", param="subject")
    result = await runtime.auth.erase(
        subject, actor=caller(request).name, request_id=request.state.request_id, flush=runtime.request_log.flush
    )
    return JSONResponse(result)


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST", "/admin/records/erase", erase_records, "records:erase",
        {
            "operationId": "eraseRecords",
            "tags": [OPENAPI_TAG],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {
                    "type": "object", "required": ["subject"], "additionalProperties": False,
                    "properties": {"subject": {"type": "string", "minLength": 1}},
                }}},
            },
            "responses": {
                "200": {"description": "What was erased, per store", "content": {"application/json": {"schema": {"type": "object"}}}},
                **{str(c): {"description": "Error in OpenAI's shape"} for c in (400, 401, 403, 413, 415)},
            },
        },
    ),
)
