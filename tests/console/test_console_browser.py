"""Headless Chromium: log in, see the dashboard charts with this test's traffic, open a request's attempts.

Drives the Debian ``/usr/bin/chromium`` through Playwright (no browser download).
Screenshots are kept in ``test-artifacts/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from headway.store.base import RequestQuery
from headway.testing import GatewayThread
from tests.browser import CHROMIUM, FLAGS
from tests.console.conftest import GOOD_KEY

playwright_api = pytest.importorskip("playwright.sync_api")

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed"),
]


def test_login_dashboard_and_request_attempts(console_gateway: GatewayThread) -> None:
    client = openai.OpenAI(base_url=console_gateway.url + "/v1", api_key="unused", max_retries=0)
    for index in range(4):
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": f"browser traffic {index}"}])
    with pytest.raises(openai.APIStatusError) as failed:
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "fail [sim:fault=500]"}])
    error_id = failed.value.response.headers["x-request-id"]
    console_gateway.flush()
    failed_record = console_gateway.record(error_id)
    expected_cost = sum(
        r.cost_usd or 0.0
        for r in console_gateway.runtime.store.list_requests(RequestQuery(limit=10))
    )
    ARTIFACTS.mkdir(exist_ok=True)

    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(console_gateway.url + "/console/")
            assert page.url.startswith(console_gateway.url + "/console/login")
            page.fill("#api_key", GOOD_KEY)
            page.click("button[type=submit]")
            page.wait_for_url(console_gateway.url + "/console/")
            page.wait_for_selector("body[data-ready='1']", timeout=15_000)

            assert page.inner_text("#total-requests") == "5"
            assert page.inner_text("#total-errors") == "1"
            assert page.inner_text("#total-cost") == f"{expected_cost:.6f}"
            data: Any = page.evaluate("window.headwayDashboard")
            assert sum(data["series"]["requests"]) == 5 and sum(data["series"]["errors"]) == 1
            for chart in ("chart-requests", "chart-latency", "chart-cost", "chart-cache"):
                size = page.evaluate(
                    "(id) => { const c = document.querySelector('#' + id + ' canvas'); return c ? [c.width, c.height] : null; }", chart
                )
                assert size is not None and size[0] > 300 and size[1] > 100, chart
            assert page.inner_text("#top-models tbody td:first-child") == "chat"
            assert page.inner_text("#top-callers tbody td:first-child") == "anonymous"
            page.screenshot(path=str(ARTIFACTS / "console-dashboard.png"), full_page=True)

            page.click("nav >> text=Requests")
            page.click(f"a:has-text('{error_id}')")
            page.wait_for_url(f"{console_gateway.url}/console/requests/{error_id}")
            attempts = page.query_selector_all("#attempts li.attempt")
            assert len(attempts) == len(failed_record.attempts) >= 1
            assert all("error" in (a.get_attribute("class") or "") for a in attempts)
            assert "server_error" in page.inner_text("#attempts")
            assert page.inner_text("#status").startswith("502")
            page.screenshot(path=str(ARTIFACTS / "console-request.png"), full_page=True)
        finally:
            browser.close()
