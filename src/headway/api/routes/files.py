"""The Files API (OpenAI's shape): upload batch input, read files, download their content."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from headway.api.body import read_body
from headway.api.context import call_context
from headway.api.params import query_int
from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.api.routes.jobs import jobs_of, page
from headway.api.routes.metrics import openapi_reply, query
from headway.errors import InvalidRequestError
from headway.jobs import parse_form

# Room for the multipart framing and the purpose field around the file itself.
_FORM_OVERHEAD = 64 * 1024


async def upload_file(request: Request) -> Response:
    service = jobs_of(request)
    limit = service.config.batch.max_file_bytes
    raw = await read_body(request, limit + _FORM_OVERHEAD)
    form = parse_form(raw, request.headers.get("content-type"))
    file_part, purpose_part = form.get("file"), form.get("purpose")
    if file_part is None:
        raise InvalidRequestError("the form needs a 'file' part", param="file", code="missing_required_parameter")
    if purpose_part is None:
        raise InvalidRequestError("the form needs a 'purpose' field", param="purpose", code="missing_required_parameter")
    purpose = purpose_part.content.decode("utf-8", "replace").strip()
    filename = file_part.filename or "upload.jsonl"
    file = await service.batches.upload(call_context(request), filename=filename, purpose=purpose, content=file_part.content)
    return JSONResponse(file.to_wire())


async def list_files(request: Request) -> Response:
    limit = query_int(request, "limit", 20, 1, 10_000)
    files = await jobs_of(request).batches.list_files(
        call_context(request), purpose=request.query_params.get("purpose"), after=request.query_params.get("after"), limit=limit + 1
    )
    return JSONResponse(page([f.to_wire() for f in files], limit))


async def get_file(request: Request) -> Response:
    file = await jobs_of(request).batches.file(call_context(request), request.path_params["file_id"])
    return JSONResponse(file.to_wire())


async def file_content(request: Request) -> Response:
    file, content = await jobs_of(request).batches.file_content(call_context(request), request.path_params["file_id"])
    safe_name = file.filename.replace('"', "").replace("\r", "").replace("\n", "")
    return Response(
        content,
        media_type="application/octet-stream",
        headers={"content-disposition": f'attachment; filename="{safe_name}"'},
    )


async def delete_file(request: Request) -> Response:
    file_id = request.path_params["file_id"]
    await jobs_of(request).batches.delete_file(call_context(request), file_id)
    return JSONResponse({"id": file_id, "object": "file", "deleted": True})


_FILE_ID = {"name": "file_id", "in": "path", "required": True, "schema": {"type": "string"}}

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST", "/v1/files", upload_file, "inference",
        {
            "operationId": "createFile",
            "tags": ["batches"],
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file", "purpose"],
                            "properties": {"file": {"type": "string", "format": "binary"}, "purpose": {"type": "string", "enum": ["batch"]}},
                        }
                    }
                },
            },
            "responses": openapi_reply("The stored file", 400, 401, 403, 413, 503),
        },
    ),
    Endpoint(
        "GET", "/v1/files", list_files, "inference",
        {
            "operationId": "listFiles",
            "tags": ["batches"],
            "parameters": [
                query("purpose", "Only files with this purpose"),
                query("after", "The last id of the previous page"),
                query("limit", "At most this many (1-10000)", {"type": "integer"}),
            ],
            "responses": openapi_reply("The caller's files, newest first", 400, 401, 403, 503),
        },
    ),
    Endpoint(
        "GET", "/v1/files/{file_id}", get_file, "inference",
        {
            "operationId": "retrieveFile",
            "tags": ["batches"],
            "parameters": [_FILE_ID],
            "responses": openapi_reply("A file", 401, 403, 404, 503),
        },
    ),
    Endpoint(
        "DELETE", "/v1/files/{file_id}", delete_file, "inference",
        {
            "operationId": "deleteFile",
            "tags": ["batches"],
            "parameters": [_FILE_ID],
            "responses": openapi_reply("Deleted", 401, 403, 404, 503),
        },
    ),
    Endpoint(
        "GET", "/v1/files/{file_id}/content", file_content, "inference",
        {
            "operationId": "downloadFile",
            "tags": ["batches"],
            "parameters": [_FILE_ID],
            "responses": openapi_reply("The file's bytes", 401, 403, 404, 503, media="application/octet-stream"),
        },
    ),
)
