"""The review pages of the web console: the queue, and one item to claim, edit, approve or reject.

Registered through the console's page registry (``console_pages()`` →
``console_routes(pages=...)``). Each page runs with the console session of the person
looking, turned into a ``Reviewer``: the queue lists only their items, an item they may
not see is "not found", and the decision forms are POSTs (the session cookie is
SameSite=Strict, the console's CSRF defence) that go through the same
``ReviewService`` calls as the API, so the rules are the same everywhere.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from headway.console import ConsolePage
from headway.errors import APIError, NotFoundError
from headway.guards import message_texts
from headway.review.access import DECIDE, READ, Reviewer
from headway.review.items import STATUS_GROUPS, STATUSES, ReviewItem, ReviewQuery
from headway.review.release import answer_text

TEMPLATES = Path(__file__).with_name("templates")
SHORTCUTS = TEMPLATES / "review_shortcuts.js"
MAX_FORM_BYTES = 1024 * 1024
_FILTERS = STATUS_GROUPS  # the same meaning as the API's and the CLI's status filter


def _reviewer(request: Request) -> Reviewer:
    return Reviewer.from_session(request.state.console_session)


def _service(request: Request) -> Any:
    service = request.app.state.runtime.review
    if service is None:
        raise NotFoundError("Human review needs a SQL store; this gateway has none.")
    return service


def _conversation(item: ReviewItem) -> list[tuple[str, str]]:
    messages = item.request.get("messages") or []
    return [(str(m.get("role", "?")), "\n".join(message_texts(m))) for m in messages if isinstance(m, dict)]


async def queue_page(request: Request) -> Response:
    site, session = request.state.console, request.state.console_session
    show = request.query_params.get("show", "open")
    if show in STATUSES:
        statuses: tuple[str, ...] = (show,)
    else:
        show = show if show in _FILTERS else "open"
        statuses = _FILTERS[show]
    items = await _service(request).find(ReviewQuery(status=statuses, limit=200), _reviewer(request))
    rows = [(item, _preview(item)) for item in sorted(items, key=_queue_order)]
    return site.render(
        request,
        "review_queue.html",
        {"session": session, "rows": rows, "show": show, "filters": [*_FILTERS, *STATUSES]},
    )


def _queue_order(item: ReviewItem) -> tuple[int, float]:
    """Open items first, the soonest deadline first; then decided ones, the latest decision first."""
    if item.open:
        return (0, item.deadline_at)
    return (1, -(item.decided_at or item.created_at))


def _clip(text: str, limit: int = 140) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _preview(item: ReviewItem) -> dict[str, str]:
    """The last user turn and the answer, short, for the queue row."""
    asked = next((text for role, text in reversed(_conversation(item)) if role == "user"), "")
    return {"request": _clip(asked), "answer": _clip(answer_text(item.original)) if item.original else "(no usable answer)"}


def _edit_diff(item: ReviewItem) -> str | None:
    """What the reviewer changed, as a unified diff of the released answer against the model's."""
    if item.status != "edited" or item.released is None:
        return None
    before, after = answer_text(item.original).splitlines(), answer_text(item.released).splitlines()
    return "\n".join(difflib.unified_diff(before, after, "model", "released", lineterm="")) or "(no change in text)"


async def shortcuts_script(request: Request) -> Response:
    """The item page's keyboard shortcuts (a file, so the console's CSP can keep forbidding inline scripts)."""
    return Response(SHORTCUTS.read_bytes(), media_type="text/javascript", headers={"cache-control": "no-cache"})


async def item_page(request: Request, *, error: APIError | None = None) -> Response:
    site, session = request.state.console, request.state.console_session
    service = _service(request)
    reviewer = _reviewer(request)
    review_id = str(request.path_params["review_id"])
    try:
        item = await service.visible(review_id, reviewer)
    except NotFoundError:
        return site.render(request, "review_missing.html", {"session": session, "review_id": review_id}, status=404)
    context = {
        "session": session,
        "item": item,
        "events": await service.events(review_id),
        "conversation": _conversation(item),
        "original_text": answer_text(item.original),
        "released_text": answer_text(item.released) if item.released is not None else None,
        "may_decide": reviewer.may_decide(item),
        "edit_diff": _edit_diff(item),
        "mine": item.status == "claimed" and item.claimed_by == reviewer.name,
        "error": error.message if error is not None else None,
    }
    return site.render(request, "review_item.html", context, status=error.status if error is not None else 200)


async def _form(request: Request) -> dict[str, str]:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_FORM_BYTES:
            break
    fields = parse_qs(raw[:MAX_FORM_BYTES].decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


async def _act(request: Request, action: str) -> Response:
    service = _service(request)
    reviewer = _reviewer(request)
    review_id = str(request.path_params["review_id"])
    form = await _form(request)
    try:
        if action == "claim":
            await service.claim(review_id, reviewer)
        elif action == "release":
            await service.release(review_id, reviewer)
        else:
            decision = form.get("decision", "")
            output = form.get("output") if decision == "edit" else None
            await service.decide(review_id, reviewer, decision, comment=form.get("comment") or None, output=output)
    except APIError as error:
        return await item_page(request, error=error)
    target = f"{request.url_for('console_home').path.rstrip('/')}/reviews/{quote(review_id)}"
    return RedirectResponse(target, status_code=303)


async def claim_action(request: Request) -> Response:
    return await _act(request, "claim")


async def release_action(request: Request) -> Response:
    return await _act(request, "release")


async def decide_action(request: Request) -> Response:
    return await _act(request, "decide")


def console_pages() -> list[ConsolePage]:
    return [
        ConsolePage("/reviews", "Reviews", queue_page, permission=READ, order=30, templates=TEMPLATES),
        ConsolePage("/reviews/shortcuts.js", "Shortcuts", shortcuts_script, permission=READ, nav=False),
        ConsolePage("/reviews/{review_id}", "Review", item_page, permission=READ, nav=False, templates=TEMPLATES),
        ConsolePage("/reviews/{review_id}/claim", "Claim", claim_action, permission=DECIDE, nav=False, methods=("POST",)),
        ConsolePage("/reviews/{review_id}/release", "Release", release_action, permission=DECIDE, nav=False, methods=("POST",)),
        ConsolePage("/reviews/{review_id}/decide", "Decide", decide_action, permission=DECIDE, nav=False, methods=("POST",)),
    ]
