"""The console over plain HTTP: login, sessions, pages, the dashboard API, the page registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from headway.console.app import console_routes
from headway.console.pages import ConsolePage
from headway.console.session import COOKIE, Session, decode, encode
from headway.store import SqlStore
from headway.testing import GatewayThread
from tests.console.conftest import GOOD_KEY, READER_LESS_KEY, login_cookie
from tests.http import request


def _cookie(reply: Any) -> str:
    header = reply.headers["set-cookie"]
    assert "HttpOnly" in header and "SameSite=strict" in header and "Path=/console" in header
    return header.split(";", 1)[0]


def test_pages_need_a_login_and_a_good_key_gets_a_session(console_gateway: GatewayThread) -> None:
    bounced = request("GET", console_gateway.url + "/console/requests?model=chat")
    assert bounced.status == 303
    assert bounced.headers["location"] == "/console/login?next=%2Fconsole%2Frequests%3Fmodel%3Dchat"
    form = request("GET", console_gateway.url + "/console/login")
    assert form.status == 200 and b'name="api_key"' in form.body
    assert "script-src 'self'" in form.headers["content-security-policy"]

    wrong = login_cookie(console_gateway, "nope")
    assert wrong.status == 401 and b"not valid for the console" in wrong.body
    not_allowed = login_cookie(console_gateway, READER_LESS_KEY)
    assert not_allowed.status == 401  # valid key, but may not read the request log

    good = login_cookie(console_gateway, GOOD_KEY)
    assert good.status == 303 and good.headers["location"] == "/console/requests"
    cookie = _cookie(good)
    page = request("GET", console_gateway.url + "/console/requests", headers={"cookie": cookie})
    assert page.status == 200 and b"ops-1" in page.body and b"platform" in page.body


def test_login_never_redirects_off_the_console(console_gateway: GatewayThread) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/admin/keys"):
        reply = request(
            "POST", console_gateway.url + "/console/login", f"api_key={GOOD_KEY}&next={target}".encode(),
            {"content-type": "application/x-www-form-urlencoded"},
        )
        assert reply.headers["location"] == "/console/"


def test_forged_expired_and_foreign_cookies_are_refused(console_gateway: GatewayThread) -> None:
    key = console_gateway.runtime.observability.console_key
    session = Session("ops-1", permissions=("requests:read",), expires=4_000_000_000.0)
    assert decode(encode(session, key), key) == session
    assert decode(encode(session, b"another-replica-secret"), key) is None
    signature = encode(session, key).rsplit(".", 1)[1]
    promoted = encode(Session("ops-1", permissions=("*",), expires=4_000_000_000.0), key).rsplit(".", 1)[0]
    assert decode(f"{promoted}.{signature}", key) is None
    assert decode(encode(Session("x", expires=10.0), key), key) is None
    assert decode("garbage", key) is None and decode(None, key) is None
    forged = request("GET", console_gateway.url + "/console/", headers={"cookie": f"{COOKIE}={encode(session, b'wrong')}"})
    assert forged.status == 303


def test_logout_clears_the_cookie(console_gateway: GatewayThread) -> None:
    cookie = _cookie(login_cookie(console_gateway))
    out = request("POST", console_gateway.url + "/console/logout", headers={"cookie": cookie})
    assert out.status == 303 and f'{COOKIE}=""' in out.headers["set-cookie"]


def test_dashboard_api_and_request_page_show_the_traffic(console_gateway: GatewayThread) -> None:
    client = openai.OpenAI(base_url=console_gateway.url + "/v1", api_key="unused", max_retries=0)
    ids = []
    for text in ("one", "two", "three"):
        raw = client.chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": text}])
        raw.parse()
        ids.append(raw.headers["x-request-id"])
    console_gateway.flush()
    records = [console_gateway.runtime.store.get_request(i) for i in ids]
    cookie = _cookie(login_cookie(console_gateway))
    assert request("GET", console_gateway.url + "/console/api/dashboard").status == 401
    data = request("GET", console_gateway.url + "/console/api/dashboard?window=15m", headers={"cookie": cookie}).json()
    assert data["totals"]["requests"] == 3
    assert sum(data["series"]["requests"]) == 3
    assert data["totals"]["cost_usd"] == round(sum(r.cost_usd for r in records), 9)  # type: ignore[union-attr,misc]
    assert data["top_models"] == [{"model": "chat", "requests": 3, "cost_usd": data["totals"]["cost_usd"]}]
    assert len(data["series"]["time"]) == len(data["series"]["p95_ms"]) == 60
    bad = request("GET", console_gateway.url + "/console/api/dashboard?window=2y", headers={"cookie": cookie})
    assert bad.status == 400

    listing = request("GET", console_gateway.url + "/console/requests", headers={"cookie": cookie}).body.decode()
    assert all(i in listing for i in ids)
    detail = request("GET", f"{console_gateway.url}/console/requests/{ids[0]}", headers={"cookie": cookie}).body.decode()
    assert 'class="attempt ok"' in detail and "sim/gpt-4o-mini" in detail
    missing = request("GET", f"{console_gateway.url}/console/requests/req_missing", headers={"cookie": cookie})
    assert missing.status == 404


def test_open_console_when_auth_is_off(gateway: GatewayThread) -> None:
    # auth.mode none (the test config): no login form, the console is open like the API.
    assert request("GET", gateway.url + "/console/login").status == 303
    home = request("GET", gateway.url + "/console/")
    assert home.status == 200 and b"anonymous" in home.body
    assert request("GET", gateway.url + "/console/static/uPlot.iife.min.js").status == 200


async def _reviews(request: Request) -> Response:
    session = request.state.console_session
    return HTMLResponse(f"<p>queue for {session.name}</p>")


def test_other_parts_add_pages_with_their_own_permission(tmp_path: Path) -> None:
    page = ConsolePage("/reviews", "Reviews", _reviews, permission="reviews:read", order=30)
    routes = console_routes([page])
    paths = [getattr(r, "path", None) for r in routes]
    assert "/reviews" in paths
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.testclient import TestClient

    class Obs:
        console_login = None
        console_key = b"k" * 32

    store_ = SqlStore(f"sqlite:///{tmp_path}/pages.db")
    store_.migrate()

    class Runtime:
        observability = Obs()
        store = store_
        config = type("C", (), {"auth": type("A", (), {"mode": "keys"})(), "observe": type("O", (), {"console": type("CC", (), {"session_hours": 1.0})()})()})()

    app = Starlette(routes=[Mount("/console", routes=routes)])
    app.state.runtime = Runtime()
    client = TestClient(app)
    reader = encode(Session("rev", permissions=("reviews:read",), expires=4_000_000_000.0), Obs.console_key)
    viewer = encode(Session("dev", permissions=("requests:read",), expires=4_000_000_000.0), Obs.console_key)
    assert client.get("/console/reviews", cookies={COOKIE: reader}).text == "<p>queue for rev</p>"
    assert client.get("/console/reviews", cookies={COOKIE: viewer}).status_code == 403
    nav = client.get("/console/requests", cookies={COOKIE: viewer}, follow_redirects=False)
    assert nav.status_code == 200 and "Reviews" not in nav.text  # not listed for those who may not open it
    store_.close()
