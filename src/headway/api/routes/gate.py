"""The readiness gate's HTTP surface: what the process says about itself, and stored reports and drills.

- ``GET /admin/gate/facts``: the running process's own view (tracing, metrics, auth, its
  config with secrets masked) — evidence a config file cannot give.
- ``GET|POST /admin/gate/reports``, ``GET /admin/gate/reports/{report_id}``: gate results
  and their history (``headway gate`` posts each report here; the console shows them).
- ``GET|POST /admin/gate/drills``: fault-drill records (``headway gate --drill``).

They need the ``operations`` permission (operators, admins); reads and writes run in worker threads.
"""

from __future__ import annotations

import asyncio
import os
import re
from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from headway import __version__
from headway.api.body import read_json_object
from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.errors import InvalidRequestError, NotFoundError
from headway.gate import DrillRecord, GateReport, GateRepository
from headway.serving import Runtime

MAX_UPLOAD_BYTES = 4 * 1024 * 1024
_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_REPORT = TypeAdapter(GateReport)
_DRILL = TypeAdapter(DrillRecord)


def _repository(request: Request) -> GateRepository:
    runtime: Runtime = request.app.state.runtime
    return GateRepository(runtime.store.database)


def _limit(request: Request, default: int, high: int) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise InvalidRequestError(f"'limit' must be an integer between 1 and {high}", param="limit")
    return int(raw)


def _before(request: Request) -> float | None:
    raw = request.query_params.get("before")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidRequestError("'before' must be a number (epoch seconds)", param="before") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidRequestError("'before' must be a finite number (epoch seconds)", param="before")
    return value


def _nul_free(value: Any, path: str = "") -> None:
    """PostgreSQL's JSON cannot hold NUL characters: refuse them here rather than fail in the store."""
    if isinstance(value, str) and "\x00" in value:
        raise InvalidRequestError(f"{path or 'body'}: NUL characters are not allowed", param=path or None, code="invalid_value")
    if isinstance(value, dict):
        for key, item in value.items():
            _nul_free(key, path)
            _nul_free(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _nul_free(item, f"{path}.{index}")


def _validated(adapter: TypeAdapter[Any], body: dict[str, Any], what: str, *, short: tuple[str, ...]) -> Any:
    _nul_free(body)
    try:
        value = adapter.validate_python(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise InvalidRequestError(f"not a {what}: {param}: {first['msg']}", param=param, code="invalid_value") from None
    if not _ID.match(value.id):
        raise InvalidRequestError("'id' must be 1-64 letters, digits, '_' or '-'", param="id", code="invalid_value")
    for name in short:  # indexed columns of bounded length
        if len(getattr(value, name)) > 200:
            raise InvalidRequestError(f"'{name}' must be at most 200 characters", param=name, code="invalid_value")
    return value


# -- facts -------------------------------------------------------------------------------------------
def facts(runtime: Runtime) -> dict[str, Any]:
    """Blocking (it flushes the span exporter, bounded): call it in a worker thread."""
    observability = runtime.observability
    tracing_config = runtime.config.observe.tracing
    tracing_on = observability.tracing.enabled
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", tracing_config.exporter).split(",")[0].strip().lower() if tracing_on else None
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return {
        "object": "gate.facts",
        "version": __version__,
        "started_at": runtime.started_at,
        "auth": {"mode": runtime.config.auth.mode},
        "tracing": {
            "enabled": tracing_on,
            "exporter": exporter,
            "otlp_endpoint": endpoint if exporter == "otlp" else None,
            "exports": observability.tracing.export_report(),  # spans delivered / refused since start
        },
        "metrics": {"enabled": observability.metrics.enabled},
        "logs": {"request_lines": runtime.config.observe.logs.request_lines, "request_lines_written": observability.request_lines_written},
        "config": runtime.config.model_dump(mode="json", by_alias=True),
    }


async def get_facts(request: Request) -> Response:
    return JSONResponse(await asyncio.to_thread(facts, request.app.state.runtime))


# -- reports -----------------------------------------------------------------------------------------
async def list_reports(request: Request) -> Response:
    repository = _repository(request)
    limit, before = _limit(request, 50, 500), _before(request)
    rows = await asyncio.to_thread(repository.reports, limit=limit, before=before)
    return JSONResponse({"object": "list", "data": [r.to_dict() for r in rows]})


async def create_report(request: Request) -> Response:
    repository = _repository(request)
    report: GateReport = _validated(_REPORT, await read_json_object(request, MAX_UPLOAD_BYTES), "gate report", short=("profile",))
    stored = await asyncio.to_thread(repository.save_report, report)
    return JSONResponse({"id": report.id, "object": "gate.report", "stored": stored}, status_code=201 if stored else 200)


async def get_report(request: Request) -> Response:
    repository = _repository(request)
    report_id = str(request.path_params["report_id"])
    report = await asyncio.to_thread(repository.report, report_id) if _ID.match(report_id) else None
    if report is None:
        raise NotFoundError(f"No gate report {report_id!r}", param="report_id", code="report_not_found")
    return JSONResponse(report.to_dict())


# -- drills ------------------------------------------------------------------------------------------
async def list_drills(request: Request) -> Response:
    repository = _repository(request)
    rows = await asyncio.to_thread(repository.drills, limit=_limit(request, 20, 200))
    return JSONResponse({"object": "list", "data": [d.to_dict() for d in rows]})


async def create_drill(request: Request) -> Response:
    repository = _repository(request)
    drill: DrillRecord = _validated(_DRILL, await read_json_object(request, MAX_UPLOAD_BYTES), "drill record", short=("model",))
    stored = await asyncio.to_thread(repository.save_drill, drill)
    return JSONResponse({"id": drill.id, "object": "gate.drill", "stored": stored}, status_code=201 if stored else 200)


# -- OpenAPI -----------------------------------------------------------------------------------------
_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["message", "type"]}}}


def _reply(description: str, *codes: int, ok: str = "200") -> dict[str, Any]:
    out: dict[str, Any] = {ok: {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}}
    for code in codes:
        out[str(code)] = {"description": "Error in OpenAI's shape", "content": {"application/json": {"schema": _ERROR}}}
    return out


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}}
_REPORT_SCHEMA = {
    "type": "object",
    "required": ["id", "created_at", "finished_at", "profile", "verdict", "sections", "checks"],
    "properties": {
        "id": {"type": "string"},
        "created_at": {"type": "number"},
        "finished_at": {"type": "number"},
        "target": {"type": ["string", "null"]},
        "profile": {"type": "string"},
        "verdict": {"type": "string", "enum": ["pass", "warn", "fail", "unknown"]},
        "score": {"type": ["number", "null"]},
        "sections": {"type": "array", "items": {"type": "object"}},
        "checks": {"type": "array", "items": {"type": "object"}},
    },
}
_DRILL_SCHEMA = {
    "type": "object",
    "required": ["id", "created_at", "finished_at", "model", "steps"],
    "properties": {
        "id": {"type": "string"},
        "created_at": {"type": "number"},
        "finished_at": {"type": "number"},
        "model": {"type": "string"},
        "steps": {"type": "array", "items": {"type": "object"}},
    },
}

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", "/admin/gate/facts", get_facts, "operations",
        {"operationId": "gateFacts", "tags": ["gate"], "responses": _reply("The running process's own view: tracing, metrics, auth, config (secrets masked)", 401, 403)},
    ),
    Endpoint(
        "GET", "/admin/gate/reports", list_reports, "operations",
        {
            "operationId": "listGateReports",
            "tags": ["gate"],
            "parameters": [_LIMIT, {"name": "before", "in": "query", "schema": {"type": "number"}}],
            "responses": _reply("Stored gate reports, newest first (summaries)", 400, 401, 403, 503),
        },
    ),
    Endpoint(
        "POST", "/admin/gate/reports", create_report, "operations",
        {
            "operationId": "storeGateReport",
            "tags": ["gate"],
            "requestBody": _body(_REPORT_SCHEMA),
            "responses": {**_reply("Stored", 400, 401, 403, 413, 415, 503, ok="201"), "200": {"description": "Already stored"}},
        },
    ),
    Endpoint(
        "GET", "/admin/gate/reports/{report_id}", get_report, "operations",
        {
            "operationId": "getGateReport",
            "tags": ["gate"],
            "parameters": [{"name": "report_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": _reply("One gate report with every check's evidence", 401, 403, 404, 503),
        },
    ),
    Endpoint(
        "GET", "/admin/gate/drills", list_drills, "operations",
        {
            "operationId": "listGateDrills",
            "tags": ["gate"],
            "parameters": [_LIMIT],
            "responses": _reply("Fault-drill records, newest first", 400, 401, 403, 503),
        },
    ),
    Endpoint(
        "POST", "/admin/gate/drills", create_drill, "operations",
        {
            "operationId": "storeGateDrill",
            "tags": ["gate"],
            "requestBody": _body(_DRILL_SCHEMA),
            "responses": {**_reply("Stored", 400, 401, 403, 413, 415, 503, ok="201"), "200": {"description": "Already stored"}},
        },
    ),
)
