"""A reviewer without the right role or team can neither see nor decide an item (service, API and console).

The principals are built by the auth part's ``build_principal`` exactly as its middleware
builds them from keys; console sessions are minted with the console's own signing key.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from headway.auth.principal import Principal, build_principal
from headway.console.session import COOKIE, Session, encode
from headway.errors import NotFoundError, PermissionDeniedError
from headway.review.access import Reviewer
from headway.review.items import ReviewQuery
from headway.testing import GatewayThread
from tests.auth.conftest import ADMIN, bearer, create_key, secure_auth
from tests.http import request
from tests.review.conftest import admin, hold, item, review_config, review_section

DATA_CLASSES = ("public", "internal", "confidential", "restricted")


def principal(name: str, team: str | None, *roles: str) -> Principal:
    return build_principal(name=name, kind="user", team=team, roles=roles, grants=(), data_classes=DATA_CLASSES)


RITA = principal("rita", "risk", "reviewer")  # the right team and role
SAM = principal("sam", "support", "reviewer")  # the right role, another team
DEV = principal("dev", "risk", "developer")  # the right team, no review permission
OLIVE = principal("olive", "risk", "operator")  # may read the queue, may not decide
ROOT = principal("root", None, "admin")


@pytest.fixture(scope="module")
def gateway(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    policies = {"consequential": {"match": {"metadata": {"consequential": True}}, "sla_s": 600,
                                  "reviewers": {"team": "risk", "roles": ["reviewer", "operator"]}}}
    with GatewayThread(review_config(sim.url, tmp_path_factory.mktemp("access"), review=review_section(policies=policies))) as gw:
        yield gw


def run(gw: GatewayThread, coro: Any) -> Any:
    return gw.run(coro)


def test_only_the_assigned_team_and_roles_see_and_decide(gateway: GatewayThread) -> None:
    service = gateway.runtime.review
    assert service is not None
    review_id, _ = hold(gateway, "who may see me")
    mine = ReviewQuery(request_id=item(gateway, review_id)["request_id"])

    for outsider in (SAM, DEV):
        reviewer = Reviewer.from_principal(outsider)
        assert run(gateway, service.find(mine, reviewer)) == []
        for attempt in (service.visible(review_id, reviewer), service.claim(review_id, reviewer),
                        service.decide(review_id, reviewer, "approve")):
            with pytest.raises(NotFoundError):
                run(gateway, attempt)

    olive = Reviewer.from_principal(OLIVE)
    assert [i.review_id for i in run(gateway, service.find(mine, olive))] == [review_id]
    for attempt in (service.claim(review_id, olive), service.decide(review_id, olive, "approve")):
        with pytest.raises(PermissionDeniedError):
            run(gateway, attempt)
    assert item(gateway, review_id)["status"] == "pending"  # nobody above changed it

    rita = Reviewer.from_principal(RITA)
    assert [i.review_id for i in run(gateway, service.find(mine, rita))] == [review_id]
    assert run(gateway, service.decide(review_id, rita, "reject", comment="not ok")).decided_by == "rita"
    assert [i.review_id for i in run(gateway, service.find(mine, Reviewer.from_principal(ROOT)))] == [review_id]


def cookie(gw: GatewayThread, who: Principal) -> dict[str, str]:
    session = Session(who.name, who.team, tuple(sorted(who.roles)), tuple(sorted(who.permissions)), expires=time.time() + 600)
    return {"cookie": f"{COOKIE}={encode(session, gw.runtime.observability.console_key)}"}


def test_the_console_shows_and_decides_only_assigned_items(gateway: GatewayThread) -> None:
    review_id, _ = hold(gateway, "console access")
    page, queue = f"{gateway.url}/console/reviews/{review_id}", f"{gateway.url}/console/reviews"
    form = {"content-type": "application/x-www-form-urlencoded"}

    outsider = cookie(gateway, SAM)
    assert review_id.encode() not in request("GET", queue, headers=outsider).body
    assert request("GET", page, headers=outsider).status == 404
    refused = request("POST", page + "/decide", urlencode({"decision": "approve"}).encode(), {**outsider, **form})
    assert refused.status == 404
    assert request("GET", queue, headers=cookie(gateway, DEV)).status == 403  # no reviews:read at all

    reader = cookie(gateway, OLIVE)
    shown = request("GET", page, headers=reader)
    assert shown.status == 200 and b"console access" in shown.body
    assert b'id="decide"' not in shown.body  # no decision form for someone who may not decide
    assert request("POST", page + "/decide", urlencode({"decision": "approve"}).encode(), {**reader, **form}).status == 403
    assert item(gateway, review_id)["status"] == "pending"

    rita = cookie(gateway, RITA)
    assert review_id.encode() in request("GET", queue, headers=rita).body
    done = request("POST", page + "/decide", urlencode({"decision": "approve", "comment": "fine"}).encode(), {**rita, **form})
    assert done.status == 303 and done.headers["location"] == f"/console/reviews/{review_id}"
    decided = item(gateway, review_id)
    assert decided["status"] == "approved" and decided["decided_by"] == "rita" and decided["comment"] == "fine"


def test_with_access_control_on_keys_get_exactly_their_reviews(sim: Any, tmp_path: Path) -> None:
    config = review_config(sim.url, tmp_path, auth=secure_auth(teams={"risk": {}, "support": {}, "shop": {}}))
    with GatewayThread(config) as gw:
        app_key = create_key(gw, principal="shop-app", roles=["app"], team="shop")[1]
        other_app = create_key(gw, principal="other-app", roles=["app"], team="shop")[1]
        rita = bearer(create_key(gw, principal="rita", roles=["reviewer"], team="risk")[1])
        sam = bearer(create_key(gw, principal="sam", roles=["reviewer"], team="support")[1])
        review_id, held = hold(gw, "held with auth on", headers=bearer(app_key))
        status_path = f"/v1/reviews/{review_id}"

        assert admin(gw, "GET", status_path, headers=bearer(app_key)).status == 202  # the caller polls its own
        assert admin(gw, "GET", status_path, headers=bearer(other_app)).status == 404  # nobody else's
        for method, path in (("GET", "/admin/reviews"), ("GET", f"/admin/reviews/{review_id}"),
                             ("POST", f"/admin/reviews/{review_id}/decide")):
            body = {"decision": "approve"} if method == "POST" else None
            assert admin(gw, method, path, body, bearer(app_key)).status == 403  # apps hold no review permission
            assert admin(gw, method, path, body).status == 401

        assert admin(gw, "GET", "/admin/reviews", headers=sam).json()["data"] == []
        assert admin(gw, "GET", f"/admin/reviews/{review_id}", headers=sam).status == 404
        assert admin(gw, "POST", f"/admin/reviews/{review_id}/claim", headers=sam).status == 404
        assert admin(gw, "POST", f"/admin/reviews/{review_id}/decide", {"decision": "approve"}, sam).status == 404

        assert [r["id"] for r in admin(gw, "GET", "/admin/reviews", headers=rita).json()["data"]] == [review_id]
        assert admin(gw, "POST", f"/admin/reviews/{review_id}/claim", headers=rita).status == 200
        decided = admin(gw, "POST", f"/admin/reviews/{review_id}/decide", {"decision": "approve"}, rita)
        assert decided.status == 200 and decided.json()["decided_by"] == "rita"
        released = admin(gw, "GET", status_path, headers=bearer(app_key))
        assert released.status == 200 and released.json() == item_as(gw, review_id, ADMIN)["original"]
        assert held.json()["status_url"].endswith(status_path)


def item_as(gw: GatewayThread, review_id: str, headers: dict[str, str]) -> dict[str, Any]:
    reply = admin(gw, "GET", f"/admin/reviews/{review_id}", headers=headers)
    assert reply.status == 200, reply.body
    result: dict[str, Any] = reply.json()
    return result
