"""Headless Chromium: an operator logs in and sees the latest gate report and the history of runs.

Drives the Debian ``/usr/bin/chromium`` through Playwright (no browser download), as the
console's own browser tests do. Screenshots are kept in ``test-artifacts/``.
"""

from __future__ import annotations

import pytest

from headway.gate.registry import check_ids
from headway.gate.results import VERDICT_LABELS
from tests.console.test_console_browser import ARTIFACTS, CHROMIUM, FLAGS
from tests.gate.conftest import ADMIN_KEY, Production, admin
from tests.gate.test_examples import BEFORE_DRILL

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed"),
]


def test_the_console_shows_the_latest_report_and_its_history(production: Production) -> None:
    url = production.gateway.url
    history = admin("GET", url + "/admin/gate/reports")["data"]
    assert len(history) >= 2
    latest = history[0]
    ARTIFACTS.mkdir(exist_ok=True)

    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url + "/console/gate")
            assert page.url.startswith(url + "/console/login")
            page.fill("#api_key", ADMIN_KEY)
            page.click("button[type=submit]")
            page.wait_for_url(url + "/console/gate")

            assert page.get_attribute("#gate-report", "data-report-id") == latest["id"]
            assert page.inner_text("#gate-verdict") == VERDICT_LABELS[latest["verdict"]]
            assert page.get_attribute("nav a[aria-current=page]", "href") == "/console/gate"
            checks = page.locator("#gate-report tr.gate-check")
            assert checks.count() == len(check_ids())
            rows = page.locator("#gate-history tbody tr")
            assert [rows.nth(i).get_attribute("data-report-id") for i in range(rows.count())] == [h["id"] for h in history]
            assert [rows.nth(i).get_attribute("data-verdict") for i in range(rows.count())] == [h["verdict"] for h in history]
            page.screenshot(path=str(ARTIFACTS / "gate-latest.png"), full_page=True)

            # The run before the drill, opened from the history: its failures with evidence and fixes.
            page.click(f"#gate-history a:has-text('{production.before.id}')")
            page.wait_for_url(url + f"/console/gate/{production.before.id}")
            assert page.inner_text("#gate-verdict") == "fail"
            failing = page.locator("tr.gate-check[data-status=fail]")
            assert sorted(failing.nth(i).get_attribute("data-check") or "" for i in range(failing.count())) == sorted(
                k for k, v in BEFORE_DRILL.items() if v == "fail"
            )
            drill = page.locator("tr.gate-check[data-check='reliability.drill']")
            assert "Run `headway gate --drill`" in drill.inner_text()
            assert drill.locator("details").get_attribute("open") is not None  # evidence shown for failures
            assert page.locator("#gate-history tr[aria-current=true]").get_attribute("data-report-id") == production.before.id
            page.screenshot(path=str(ARTIFACTS / "gate-before-drill.png"), full_page=True)
        finally:
            browser.close()
