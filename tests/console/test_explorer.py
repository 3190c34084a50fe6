"""The request explorer for incidents: filters, cursor pages, labelled inputs, UTC, bad input as a 400.

Records are written straight to the store (one per served path, caller, team and review
state), then the console page is read over HTTP like a browser would.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest

from headway.testing import GatewayThread
from headway.types import Attempt, RequestRecord
from tests.http import request

NOW = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC

ROWS = [
    # request id, served_by, status, error type, model, caller, team, review status, minutes before NOW
    ("req_primary", "primary", 200, None, "chat", "app-a", "red", None, 1),
    ("req_fallback", "fallback:claude", 200, None, "chat", "app-a", "red", None, 2),
    ("req_degraded", "degraded", 200, None, "chat", "app-b", "blue", None, 3),
    ("req_stale", "stale-cache", 200, None, "chat", "app-b", "blue", None, 4),
    ("req_cache", "cache", 200, None, "claude", "app-a", "red", None, 5),
    ("req_retry", "retry", 200, None, "claude", "app-a", "red", None, 6),
    ("req_502", None, 502, "server_error", "chat", "app-b", "blue", None, 7),
    ("req_429", None, 429, "rate_limit_error", "chat", "app-c", None, None, 8),
    ("req_held", "primary", 202, None, "decisions", "app-a", "red", "pending", 9),
    ("req_approved", "primary", 200, None, "decisions", "app-a", "red", "approved", 10),
]


def _record(rid: str, served: str | None, status: int, error: str | None, model: str, caller: str, team: str | None,
            review: str | None, minutes: int) -> RequestRecord:
    quality: dict[str, Any] = {}
    if review:
        quality["review"] = {"id": f"rev_{rid}", "policy": "p", "action": "hold", "status": review}
    return RequestRecord(
        request_id=rid, endpoint="chat.completions", model=model, created_at=NOW - minutes * 60, caller=caller, team=team,
        status_code=status, error_type=error, served_by=served, latency_ms=10.0, quality=quality,
        attempts=[Attempt("sim/gpt-4o-mini", "sim", "gpt-4o-mini", "ok" if status < 400 else "error", 5.0, status)],
    )


@pytest.fixture
def explorer(gateway: GatewayThread) -> Iterator[GatewayThread]:
    gateway.runtime.store.write_requests([_record(*row) for row in ROWS])
    yield gateway


def ids(gateway: GatewayThread, query: str = "", status: int = 200) -> list[str]:
    reply = request("GET", f"{gateway.url}/console/requests{query}")
    assert reply.status == status, reply.body[:500]
    return re.findall(r'href="/console/requests/(req_\w+)"', reply.body.decode())


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?path=fallback", ["req_fallback"]),
        ("?path=degraded", ["req_degraded"]),
        ("?path=stale-cache", ["req_stale"]),
        ("?path=cache", ["req_cache"]),
        ("?path=retry", ["req_retry"]),
        ("?path=error", ["req_502", "req_429"]),
        ("?path=primary", ["req_primary", "req_held", "req_approved"]),
        ("?status=5xx", ["req_502"]),
        ("?status=4xx", ["req_429"]),
        ("?error_type=rate_limit_error", ["req_429"]),
        ("?model=claude", ["req_cache", "req_retry"]),
        ("?caller=app-b", ["req_degraded", "req_stale", "req_502"]),
        ("?team=blue&path=degraded", ["req_degraded"]),
        ("?review=pending", ["req_held"]),
        ("?review=approved", ["req_approved"]),
        # A time range in UTC, as the datetime-local inputs send it (from inclusive, until exclusive).
        ("?since=2027-01-15T07:53:30&until=2027-01-15T07:55:30", ["req_cache", "req_retry"]),
        ("?since=2027-01-15T07:52&until=2027-01-15T07:53", ["req_429"]),
    ],
)
def test_filters(explorer: GatewayThread, query: str, expected: list[str]) -> None:
    assert ids(explorer, query) == expected


def test_cursor_pages_walk_every_row_once(explorer: GatewayThread) -> None:
    seen: list[str] = []
    url = f"{explorer.url}/console/requests?model=chat&limit=3"
    pages = 0
    for _ in range(10):
        pages += 1
        page = request("GET", url).body.decode()
        seen += re.findall(r'href="/console/requests/(req_\w+)"', page)
        found = re.search(r'id="next-page" rel="next" href="([^"]+)"|href="([^"]+)" id="next-page"', page)
        if not found:
            assert "No older requests." in page
            break
        url = f"{explorer.url}/console/requests" + (found.group(1) or found.group(2)).replace("&amp;", "&")
    chat = [row[0] for row in ROWS if row[4] == "chat"]
    assert len(chat) == 6 and seen == chat and pages == 2  # newest first, each once, three to a page


def test_pages_of_fifty(gateway: GatewayThread) -> None:
    gateway.runtime.store.write_requests(
        [_record(f"req_{i:03d}", "primary", 200, None, "chat", "bulk", None, None, i) for i in range(120)]
    )
    first = request("GET", f"{gateway.url}/console/requests").body.decode()
    rows = re.findall(r'href="/console/requests/(req_\d+)"', first)
    assert rows == [f"req_{i:03d}" for i in range(50)]
    cursor = re.search(r'href="\?cursor=([^"]+)" id="next-page"', first)
    assert cursor is not None
    second = request("GET", f"{gateway.url}/console/requests?cursor={cursor.group(1)}").body.decode()
    assert re.findall(r'href="/console/requests/(req_\d+)"', second) == [f"req_{i:03d}" for i in range(50, 100)]
    assert 'id="first-page"' in second


def test_inputs_are_labelled_and_times_are_utc(explorer: GatewayThread) -> None:
    page = request("GET", f"{explorer.url}/console/requests?path=fallback").body.decode()
    form = page[page.index('<form method="get" class="filters explore"'):page.index("</form>", page.index('class="filters explore"'))]
    for name in ("since", "until", "path", "status", "error_type", "model", "caller", "team", "review"):
        assert re.search(rf'<label>[^<]*<(input|select)[^>]*name="{name}"', form), f"{name} has no label"
    assert "All times are UTC." in page and "Time (UTC)" in page
    assert "01-15 07:58:00" in page  # req_fallback, two minutes before NOW, printed in UTC
    assert '<option value="fallback" selected>' in page


@pytest.mark.parametrize(
    ("query", "param"),
    [("?since=yesterday", "since"), ("?path=sideways", "path"), ("?status=teapot", "status"),
     ("?review=maybe", "review"), ("?cursor=%%%", "cursor"), ("?limit=0", "limit"), ("?limit=many", "limit")],
)
def test_bad_filters_are_a_precise_400(explorer: GatewayThread, query: str, param: str) -> None:
    reply = request("GET", f"{explorer.url}/console/requests{query}")
    assert reply.status == 400
    body = html.unescape(reply.body.decode())
    assert 'role="alert"' in body and f"'{param}'" in body


def test_request_page_links_the_review_and_greys_skipped_attempts(explorer: GatewayThread) -> None:
    record = RequestRecord(
        request_id="req_skips", endpoint="chat.completions", model="chat", created_at=NOW, status_code=200,
        served_by="fallback:claude", latency_ms=20.0,
        quality={"review": {"id": "rev_x1", "policy": "credit", "action": "hold", "status": "approved", "outcome": "approved",
                            "reviewer": "rita", "decided_at": NOW + 90, "time_to_decision_s": 90.0, "escalated": False}},
        attempts=[
            Attempt("chat/sim/gpt-4o-mini", "sim", "gpt-4o-mini", "skipped", 0.0, None, "circuit_open"),
            Attempt("claude/sim/claude", "sim", "claude", "ok", 9.0, 200),
        ],
    )
    explorer.runtime.store.write_requests([record])
    page = request("GET", f"{explorer.url}/console/requests/req_skips").body.decode()
    assert '<li class="attempt skipped">' in page and '<li class="attempt ok">' in page
    assert 'href="/console/reviews/rev_x1" id="review-link"' in page
    assert "2027-01-15 08:01:30 UTC" in page and "90 s" in page and "rita" in page
    assert '"decided_at"' not in page  # formatted, not raw JSON
    assert "answered, but not by chat" in page


def test_root_leads_to_the_console_and_the_favicon_is_served(gateway: GatewayThread) -> None:
    root = request("GET", gateway.url + "/")
    assert root.status == 200 and '<meta http-equiv="refresh" content="0; url=/console/">' in root.body.decode()
    assert 'href="/console/"' in root.body.decode()
    icon = request("GET", gateway.url + "/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"].startswith("image/svg+xml") and b"<svg" in icon.body
    page = request("GET", gateway.url + "/console/").body.decode()
    assert 'rel="icon" href="/console/static/favicon.svg"' in page
    assert request("GET", gateway.url + "/console/static/favicon.svg").status == 200


def test_admin_api_filters_and_pages_like_the_explorer(explorer: GatewayThread) -> None:
    base = f"{explorer.url}/admin/requests"
    fallback = request("GET", base + "?path=fallback").json()
    assert [r["request_id"] for r in fallback["data"]] == ["req_fallback"] and fallback["has_more"] is False
    first = request("GET", base + "?model=chat&limit=4").json()
    assert first["has_more"] is True and len(first["data"]) == 4
    second = request("GET", base + f"?model=chat&limit=4&cursor={first['next_cursor']}").json()
    walked = [r["request_id"] for r in first["data"] + second["data"]]
    assert walked == [row[0] for row in ROWS if row[4] == "chat"] and second["next_cursor"] is None
    bad = request("GET", base + "?path=sideways")
    assert bad.status == 400 and bad.json()["error"]["param"] == "path"
    bad = request("GET", base + "?since=tomorrow")
    assert bad.status == 400 and bad.json()["error"]["param"] == "since"
