"""Every console page in headless Chromium at 390 px (a phone) and 1366 px (a laptop).

The pages are those of a running ``headway demo`` (auth on, traffic through the fallback
and the degraded mode, a held review, a gate report). For each page and width: the
expected status, no console error or failed load (the favicon included), nothing wider
than the window, every navigation entry and "Log out" inside the window, the keyboard
reaching the skip link first and "Log out" by Tab, and a screenshot in ``test-artifacts/``
(``console-<page>-<width>.png``), which a person looks at.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.browser import CHROMIUM, FLAGS
from tests.cli.test_demo_tour import Demo, start_demo
from tests.http import request

playwright_api = pytest.importorskip("playwright.sync_api")

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WIDTHS = (390, 1366)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed"),
]


def _pages(demo: Demo, operator: str) -> list[tuple[str, str, int]]:
    """(name, path, expected status) of every page an operator opens."""
    url = demo.url
    held = re.search(r"request (req_\w+) is held: \S+/console/reviews/(rev_\w+)", demo.text)
    assert held, demo.text
    request_id = held.group(1)
    reports = request("GET", url + "/admin/gate/reports", headers={"authorization": f"Bearer {operator}"}).json()["data"]
    client = openai.OpenAI(base_url=url + "/v1", api_key=demo.key("app"), max_retries=0)
    # The banner's one-line command: the primary fails, the fallback answers.
    [command] = [line.strip() for line in demo.lines if line.strip().startswith("curl -s -o /dev/null")]
    subprocess.run(["bash", "-c", command], capture_output=True, check=True, timeout=60)
    fallback = client.chat.completions.with_raw_response.create(
        model="chat-default", messages=[{"role": "user", "content": "everything down [sim:fault=500]"}]
    )
    return [
        ("dashboard", "/console/", 200),
        ("requests", "/console/requests", 200),
        ("requests-filtered", "/console/requests?path=degraded&status=ok", 200),
        ("request-held", f"/console/requests/{request_id}", 200),
        ("request-degraded", f"/console/requests/{fallback.headers['x-request-id']}", 200),
        ("reviews", "/console/reviews", 200),
        ("gate", "/console/gate", 200),
        ("gate-report", f"/console/gate/{reports[0]['id']}", 200),
        ("missing", "/console/requests/req_does_not_exist", 404),
    ]


class Watch:
    """Console errors, page errors and failed loads of one page."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        # Chrome logs every HTTP error status as a console error, the page's own 404 or 403 included;
        # those are checked by status below (the document's expected, every other load's < 400).
        page.on(
            "console",
            lambda m: m.type == "error" and not m.text.startswith("Failed to load resource: the server responded")
            and self.problems.append(f"console: {m.text}"),
        )
        page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))
        # A load the next navigation cancels (ERR_ABORTED) is not a failure; anything else is.
        page.on("requestfailed", lambda r: "ERR_ABORTED" not in (r.failure or "") and self.problems.append(f"failed: {r.url} {r.failure}"))
        page.on(
            "response",
            lambda r: r.request.resource_type != "document" and r.status >= 400 and self.problems.append(f"{r.status}: {r.url}"),
        )


OPERATOR_NAV = ("Dashboard", "Requests", "Reviews", "Readiness", "Log out")
REVIEWER_NAV = ("Reviews", "Log out")


def _check_layout(page: Any, name: str, width: int, logged_in: bool, nav: tuple[str, ...] = OPERATOR_NAV) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} at {width}px is {overflow}px wider than the window"
    if not logged_in:
        return
    boxes = page.evaluate(
        """() => Array.from(document.querySelectorAll('header nav a, header .who button')).map(e => {
              const r = e.getBoundingClientRect(); const s = getComputedStyle(e);
              return {text: e.textContent.trim(), left: r.left, right: r.right, top: r.top, bottom: r.bottom,
                      shown: s.visibility !== 'hidden' && s.display !== 'none' && r.width > 0 && r.height > 0};
           })"""
    )
    texts = [b["text"] for b in boxes]
    for wanted in nav:
        assert wanted in texts, f"{name} at {width}px: no {wanted!r} in {texts}"
    for box in boxes:
        assert box["shown"] and box["left"] >= 0 and box["right"] <= width, f"{name} at {width}px: {box} is cut off"


def _check_keyboard(page: Any, name: str, width: int) -> None:
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press("Tab")
    first = page.evaluate("() => document.activeElement.className")
    assert first == "skip", f"{name} at {width}px: Tab first reaches {first!r}, not the skip link"
    seen = []
    for _ in range(12):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const e = document.activeElement; const r = e.getBoundingClientRect();
                      return {text: e.textContent.trim(), visible: r.width > 0 && r.height > 0}; }"""
        )
        assert focused["visible"], f"{name} at {width}px: focus on an invisible element {focused}"
        seen.append(focused["text"])
        if focused["text"] == "Log out":
            break
    assert "Log out" in seen, f"{name} at {width}px: Tab never reached Log out: {seen}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    running = start_demo(tmp_path_factory.mktemp("screens"))
    try:
        yield running
    finally:
        running.stop()


def test_every_page_at_390_and_1366(demo: Demo) -> None:
    operator = demo.key("operator")
    pages = _pages(demo, operator)
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            for width in WIDTHS:
                context = browser.new_context(viewport={"width": width, "height": 900})
                page = context.new_page()
                watch = Watch(page)
                page.goto(demo.url + "/")  # the gateway's root sends the browser to the console's login
                page.wait_for_url(re.compile(r".*/console/login.*"))
                _check_layout(page, "login", width, logged_in=False)
                page.screenshot(path=str(ARTIFACTS / f"console-login-{width}.png"), full_page=True)
                page.fill("#api_key", operator)
                page.keyboard.press("Enter")  # the form works from the keyboard
                page.wait_for_url(demo.url + "/console/")
                assert watch.problems == [], watch.problems
                for name, path, status in pages:
                    watch.problems.clear()
                    response = page.goto(demo.url + path)
                    assert response is not None and response.status == status, (name, response and response.status)
                    if name == "dashboard":
                        page.wait_for_selector("body[data-ready='1']", timeout=15_000)
                        assert int(page.inner_text("#total-not-asked")) >= 2  # the fallback and the degraded answer
                        assert "alarm" in (page.get_attribute("#tile-not-asked", "class") or "")
                    page.wait_for_load_state("networkidle")
                    _check_layout(page, name, width, logged_in=True)
                    if name == "requests" and width == 1366:
                        fits = page.evaluate(
                            "() => { const t = document.querySelector('#records'); return t.scrollWidth <= t.parentElement.clientWidth; }"
                        )
                        assert fits, "the request table needs a horizontal scroll at 1366 px"
                    page.screenshot(path=str(ARTIFACTS / f"console-{name}-{width}.png"), full_page=True)
                    page.screenshot(path=str(ARTIFACTS / f"console-{name}-{width}-top.png"))  # what the window shows
                    _check_keyboard(page, name, width)
                    assert watch.problems == [], (name, width, watch.problems)
                context.close()
            # The reviewer: the queue, the held item, and the "not allowed" page of the request log.
            held = re.search(r"is held: \S+/console/reviews/(rev_\w+)", demo.text)
            assert held
            for width in WIDTHS:
                context = browser.new_context(viewport={"width": width, "height": 900})
                page = context.new_page()
                watch = Watch(page)
                page.goto(demo.url + "/console/login")
                page.fill("#api_key", demo.key("reviewer"))
                page.click("button[type=submit]")
                page.wait_for_load_state("networkidle")
                for name, path, status in (
                    ("reviews-reviewer", "/console/reviews", 200),
                    ("review", f"/console/reviews/{held.group(1)}", 200),
                    ("denied", "/console/requests", 403),
                ):
                    watch.problems.clear()
                    response = page.goto(demo.url + path)
                    assert response is not None and response.status == status, (name, response and response.status)
                    page.wait_for_load_state("networkidle")
                    _check_layout(page, name, width, logged_in=True, nav=REVIEWER_NAV)
                    page.screenshot(path=str(ARTIFACTS / f"console-{name}-{width}.png"), full_page=True)
                    page.screenshot(path=str(ARTIFACTS / f"console-{name}-{width}-top.png"))
                    _check_keyboard(page, name, width)
                    assert watch.problems == [], (name, width, watch.problems)
                context.close()
        finally:
            browser.close()
