"""Headless Chromium: a reviewer logs in, claims a held answer, edits and approves it; the waiting client gets the edit.

Drives the Debian ``/usr/bin/chromium`` through Playwright (no browser download).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion

from headway.console.session import Session
from headway.testing import GatewayThread
from tests.browser import CHROMIUM, FLAGS
from tests.http import post_json
from tests.review.conftest import CONSEQUENTIAL, admin, eventually, item, review_config, review_section

playwright_api = pytest.importorskip("playwright.sync_api")

REVIEWER_KEY = "hw_test_review_console_key"
EDITED = "Your refund of 42.00 EUR was approved; expect it within 3 business days."

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed"),
]


class ReviewerLogin:
    """Stands in for the auth part's key check: one key, a reviewer of team risk."""

    required = True

    async def login(self, api_key: str, *, hours: float) -> Session | None:
        if api_key != REVIEWER_KEY:
            return None
        return Session("rita", "risk", ("reviewer",), ("reviews:decide", "reviews:read"), expires=time.time() + hours * 3600)

    def anonymous(self, *, hours: float) -> Session | None:
        return None


def test_reviewer_claims_edits_and_approves_and_the_waiting_client_gets_the_edit(sim: Any, tmp_path: Path) -> None:
    with GatewayThread(review_config(sim.url, tmp_path)) as gw, ThreadPoolExecutor(1) as pool:
        gw.runtime.observability.console_login = ReviewerLogin()
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0, timeout=90)

        def ask() -> ChatCompletion:
            return client.chat.completions.create(
                model="chat", messages=[{"role": "user", "content": "May I get a refund for order 1182?"}],
                metadata=CONSEQUENTIAL, extra_headers={"Prefer": "wait=60"},
            )

        waiting = pool.submit(ask)
        review_id = eventually(lambda: admin(gw, "GET", "/admin/reviews?status=pending").json()["data"], what="the held item")[0]["id"]

        with playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(gw.url + "/console/reviews")
                assert page.url.startswith(gw.url + "/console/login")
                page.fill("#api_key", REVIEWER_KEY)
                page.click("button[type=submit]")
                page.wait_for_url(gw.url + "/console/reviews")
                assert page.inner_text(f"tr[data-review-id='{review_id}'] td.status") == "pending"

                page.click(f"a:has-text('{review_id}')")
                page.wait_for_url(f"{gw.url}/console/reviews/{review_id}")
                assert "May I get a refund for order 1182?" in page.inner_text("#conversation")
                stored = item(gw, review_id)["original"]
                original = stored["choices"][0]["message"]["content"]
                assert page.inner_text("#original") == original
                assert page.input_value("#output") == original

                page.click("#claim")
                page.wait_for_selector("#release")
                assert page.inner_text("#status") == "claimed" and page.inner_text("#claimed-by").startswith("rita")

                page.fill("#output", EDITED)
                page.fill("#comment", "currency and timing made explicit")
                page.click("#edit")
                page.wait_for_selector("#decided")
                assert page.inner_text("#status") == "edited"
                assert page.inner_text("#released") == EDITED
                assert "rita" in page.inner_text("#decided")
            finally:
                browser.close()

        completion = waiting.result(timeout=60)
    assert completion.choices[0].message.content == EDITED
    assert completion.id == stored["id"] and completion.usage is not None  # the model's answer, with the reviewer's text


SHOTS = Path(__file__).resolve().parents[2] / ".headway" / "screenshots" / "review"


@pytest.mark.parametrize("width", [390, 1366])
def test_reviewer_flow_at_phone_and_laptop_widths(sim: Any, tmp_path: Path, width: int) -> None:
    """The queue sorts by deadline with a preview; Enter in the comment does not decide; reject asks first;
    the decided view names who decided, when, and the diff of the edit; nothing overflows; no console errors."""
    with GatewayThread(review_config(sim.url, tmp_path)) as gw:
        gw.runtime.observability.console_login = ReviewerLogin()
        ids = []
        for text in ("Refund order 1 please", "Refund order 2 please"):
            reply = post_json(gw.url + "/v1/chat/completions",
                              {"model": "chat", "messages": [{"role": "user", "content": text}], "metadata": CONSEQUENTIAL})
            assert reply.status == 409, reply.body
            ids.append(reply.json()["error"]["review_id"])
        gw.run(_shorten_deadline(gw, ids[1]))  # the second item is due first: it must lead the queue
        SHOTS.mkdir(parents=True, exist_ok=True)
        errors: list[str] = []
        with playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
            try:
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(gw.url + "/console/login")  # straight to the login page: a reviewer lands on the queue
                page.fill("#api_key", REVIEWER_KEY)
                page.click("button[type=submit]")
                page.wait_for_url(gw.url + "/console/reviews")
                assert "Not allowed" not in page.inner_text("body")
                rows = page.locator("#reviews tbody tr")
                assert [rows.nth(i).get_attribute("data-review-id") for i in range(2)] == [ids[1], ids[0]]
                assert "Refund order 2 please" in rows.nth(0).inner_text()
                assert page.inner_text(f"tr[data-review-id='{ids[0]}'] td.id") == ids[0]  # whole, copyable
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                page.screenshot(path=str(SHOTS / f"queue-{width}.png"), full_page=True)

                page.click(f"a:has-text('{ids[0]}')")
                page.wait_for_url(f"{gw.url}/console/reviews/{ids[0]}")
                page.click("#claim")
                page.wait_for_selector("#release")
                page.fill("#comment", "checking the amount")
                page.press("#comment", "Enter")  # must not submit a decision
                page.wait_for_timeout(500)
                assert page.inner_text("#status") == "claimed"
                page.keyboard.press("Escape")
                page.click("h1")  # focus out of the text fields
                page.once("dialog", lambda d: d.dismiss())
                page.keyboard.press("r")  # the shortcut asks; dismissed, nothing happens
                page.wait_for_timeout(300)
                assert page.inner_text("#status") == "claimed"
                page.once("dialog", lambda d: d.dismiss())
                page.click("#reject")
                page.wait_for_timeout(300)
                assert page.inner_text("#status") == "claimed"
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                page.screenshot(path=str(SHOTS / f"item-{width}.png"), full_page=True)

                page.fill("#output", "Refund approved: 10.00 EUR for order 1.")
                page.click("#edit")
                page.wait_for_selector("#decided")
                assert page.inner_text("#decided-by") == "rita" and page.inner_text("#status") == "edited"
                diff = page.inner_text("#diff")
                assert "+Refund approved: 10.00 EUR for order 1." in diff and diff.count("\n-") >= 1
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                page.screenshot(path=str(SHOTS / f"decided-{width}.png"), full_page=True)
            finally:
                browser.close()
        assert errors == []
        assert item(gw, ids[0])["decided_by"] == "rita"


async def _shorten_deadline(gw: GatewayThread, review_id: str, by: float = 300) -> None:
    from sqlalchemy import update

    from headway.review.tables import review_items

    with gw.runtime.store.database.transaction("test: an earlier deadline") as connection:
        connection.execute(update(review_items).where(review_items.c.review_id == review_id)
                           .values(deadline_at=review_items.c.deadline_at - by))


@pytest.mark.parametrize("width", [390, 1366])
def test_an_escalated_item_wears_a_visible_badge_in_the_queue(sim: Any, tmp_path: Path, width: int) -> None:
    """The SLA passed on one of two items: its row is marked and carries a styled badge naming the team it went to."""
    section = review_section()
    section["policies"]["consequential"]["escalation"] = {"team": "risk", "roles": ["reviewer"], "sla_s": 600}
    with GatewayThread(review_config(sim.url, tmp_path, review=section)) as gw:
        gw.runtime.observability.console_login = ReviewerLogin()
        ids = []
        for text in ("Refund order 7 please", "Refund order 8 please"):
            reply = post_json(gw.url + "/v1/chat/completions",
                              {"model": "chat", "messages": [{"role": "user", "content": text}], "metadata": CONSEQUENTIAL})
            assert reply.status == 409, reply.body
            ids.append(reply.json()["error"]["review_id"])
        gw.run(_shorten_deadline(gw, ids[0], by=700))  # its SLA has passed
        service = gw.runtime.review
        assert service is not None
        assert gw.run(service.sweep_once()).escalated == 1
        assert item(gw, ids[0])["status"] == "escalated" and item(gw, ids[1])["status"] == "pending"
        SHOTS.mkdir(parents=True, exist_ok=True)
        errors: list[str] = []
        with playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
            try:
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(gw.url + "/console/login")
                page.fill("#api_key", REVIEWER_KEY)
                page.click("button[type=submit]")
                page.wait_for_url(gw.url + "/console/reviews")
                escalated_row = page.locator(f"tr[data-review-id='{ids[0]}']")
                badge = escalated_row.locator(".badge.escalated")
                assert badge.is_visible() and badge.inner_text() == "escalated · risk"
                assert escalated_row.locator("td.status").inner_text() == "escalated · risk"  # the badge says the status
                assert "is-escalated" in (escalated_row.get_attribute("class") or "")
                style = badge.evaluate("b => { const s = getComputedStyle(b); return [s.backgroundColor, s.color, s.borderRadius]; }")
                assert style[0] == "rgb(255, 241, 220)" and style[1] == "rgb(122, 63, 0)" and style[2] != "0px"
                box = badge.bounding_box()
                assert box is not None and box["width"] > 40 and box["x"] + box["width"] <= width
                assert page.locator(f"tr[data-review-id='{ids[1]}'] .badge").count() == 0  # only the escalated one
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                page.screenshot(path=str(SHOTS / f"queue-escalated-{width}.png"), full_page=True)

                page.click(f"a:has-text('{ids[0]}')")
                page.wait_for_url(f"{gw.url}/console/reviews/{ids[0]}")
                assert page.inner_text("#status") == "escalated" and page.locator("#escalated").is_visible()
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                page.screenshot(path=str(SHOTS / f"item-escalated-{width}.png"), full_page=True)
            finally:
                browser.close()
        assert errors == []
