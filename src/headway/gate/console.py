"""The readiness page of the web console: the latest gate report in full, and the history of runs.

Registered through the console's page registry (``console_pages()`` →
``console_routes(pages=...)``); reads the stored reports (``GateRepository``) in a worker
thread. Opening a run from the history shows that report in the same layout.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from headway.console import ConsolePage
from headway.gate.repository import GateRepository
from headway.gate.results import VERDICT_LABELS

TEMPLATES = Path(__file__).with_name("templates")
PERMISSION = "operations"  # "run the readiness gate and load tests"
HISTORY = 50


def _repository(request: Request) -> GateRepository:
    return GateRepository(request.app.state.runtime.store.database)


async def _page(request: Request, report_id: str | None) -> Response:
    site, session = request.state.console, request.state.console_session
    repository = _repository(request)
    history = await asyncio.to_thread(repository.reports, limit=HISTORY)
    if report_id is None:
        report = await asyncio.to_thread(repository.latest_report)
    else:
        report = await asyncio.to_thread(repository.report, report_id)
    context = {
        "session": session,
        "report": report,
        "latest": report_id is None or (bool(history) and history[0].id == report_id),
        "missing": report_id if report is None and report_id is not None else None,
        "history": history,
        "labels": VERDICT_LABELS,
    }
    return site.render(request, "gate_page.html", context, status=404 if context["missing"] else 200)


async def latest_page(request: Request) -> Response:
    return await _page(request, None)


async def report_page(request: Request) -> Response:
    return await _page(request, str(request.path_params["report_id"])[:64])


def console_pages() -> list[ConsolePage]:
    return [
        ConsolePage("/gate", "Readiness", latest_page, permission=PERMISSION, order=60, templates=TEMPLATES),
        ConsolePage("/gate/{report_id}", "Readiness report", report_page, permission=PERMISSION, nav=False, templates=TEMPLATES),
    ]
